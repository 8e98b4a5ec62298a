import path from "node:path"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  boardAncestors,
  boardParent,
  boardRelative,
  isTemporaryName,
  joinBoardPath,
  normalizeBoardPath,
  resolveBoardPath,
  toNativePath,
} from "../src/BoardPath.js"
import { resolveDownloadPath } from "../src/TreeDownload.js"

const segment = fc.oneof(
  fc.constantFrom(".", "..", "", "a", "lib", "main.py", " ", "\\", "é", "x y", ".hidden"),
  fc.string({ minLength: 1, maxLength: 6 }).filter((s) => !s.includes("/") && !s.includes("\u0000")),
)
const rawPath = fc.array(segment, { maxLength: 8 }).map((parts) => parts.join("/"))

describe("board paths", () => {
  it("resolve a relative path against the working directory, an absolute one as it is", () => {
    expect(resolveBoardPath("/lib", "util.py")).toEqual(Result.succeed("/lib/util.py"))
    expect(resolveBoardPath("/lib", "./a/../b.py")).toEqual(Result.succeed("/lib/b.py"))
    expect(resolveBoardPath("/lib", "../main.py")).toEqual(Result.succeed("/main.py"))
    expect(resolveBoardPath("/lib", "/main.py")).toEqual(Result.succeed("/main.py"))
    expect(resolveBoardPath("/", "main.py")).toEqual(Result.succeed("/main.py"))
    expect(resolveBoardPath("/lib", ".")).toEqual(Result.succeed("/lib"))
    expect(Result.isFailure(resolveBoardPath("/lib", "../.."))).toBe(true)
    expect(Result.isFailure(resolveBoardPath("/lib", ""))).toBe(true)
    fc.assert(
      fc.property(rawPath, (p) => {
        const rest = p.replace(/^\/+/, "")
        if (rest === "") return
        // From the root, a relative path is the absolute one: the same path, or refused alike.
        const relative = resolveBoardPath("/", rest)
        const fromRoot = normalizeBoardPath(`/${p}`)
        expect(Result.isSuccess(relative)).toBe(Result.isSuccess(fromRoot))
        if (Result.isSuccess(relative) && Result.isSuccess(fromRoot))
          expect(relative.success).toBe(fromRoot.success)
      }),
    )
  })

  it("normalizes to an absolute path without empty, '.' or '..' components", () => {
    fc.assert(
      fc.property(fc.boolean(), rawPath, (absolute, p) => {
        const input = (absolute ? "/" : "") + p
        const result = normalizeBoardPath(input)
        if (input === "" || Result.isFailure(result)) {
          expect(Result.isFailure(result) && result.failure._tag).toBe("InvalidPathError")
          return
        }
        const out = result.success
        expect(out.startsWith("/")).toBe(true)
        if (out !== "/") {
          expect(out.endsWith("/")).toBe(false)
          for (const part of out.slice(1).split("/")) expect(["", ".", ".."]).not.toContain(part)
        }
        // idempotent
        expect(normalizeBoardPath(out)).toEqual(Result.succeed(out))
      }),
      { numRuns: 500 },
    )
  })

  it("refuses '..' above the root, NUL and the empty path", () => {
    expect(Result.isFailure(normalizeBoardPath("/../x"))).toBe(true)
    expect(Result.isFailure(normalizeBoardPath("a/../../x"))).toBe(true)
    expect(Result.isFailure(normalizeBoardPath("a\u0000b"))).toBe(true)
    expect(Result.isFailure(normalizeBoardPath(""))).toBe(true)
    expect(normalizeBoardPath("lib//./x/../util.py")).toEqual(Result.succeed("/lib/util.py"))
    expect(normalizeBoardPath("main.py")).toEqual(Result.succeed("/main.py"))
  })

  it("joins, splits and relates paths", () => {
    expect(joinBoardPath("/", "a")).toBe("/a")
    expect(joinBoardPath("/a", "b")).toBe("/a/b")
    expect(boardParent("/a/b")).toBe("/a")
    expect(boardParent("/a")).toBe("/")
    expect(boardAncestors("/a/b/c")).toEqual(["/a", "/a/b"])
    expect(boardRelative("/app", "/app/lib/x.py")).toBe("lib/x.py")
    expect(boardRelative("/app", "/application")).toBeUndefined()
    expect(boardRelative("/", "/x")).toBe("x")
    expect(isTemporaryName(".belay-k3x9-4.tmp")).toBe(true)
    expect(isTemporaryName(".belay-k3x9-4r.tmp")).toBe(true)
    expect(isTemporaryName("belay.tmp")).toBe(false)
  })

  it("maps paths to a flat filesystem's names, refusing deeper ones before anything is sent", () => {
    expect(toNativePath("/main.py", true, "write")).toEqual(Result.succeed("main.py"))
    expect(toNativePath("/", true, "list")).toEqual(Result.succeed(""))
    const deep = toNativePath("/lib/x.py", true, "write")
    expect(Result.isFailure(deep) && deep.failure._tag).toBe("CapabilityMissingError")
    expect(toNativePath("/lib/x.py", false, "write")).toEqual(Result.succeed("/lib/x.py"))
  })
})

describe("download destinations", () => {
  const destination = "/tmp/belay-destination"
  it("never land outside the destination, whatever the board says", () => {
    fc.assert(
      fc.property(fc.constantFrom("/", "/app", "/a/b"), rawPath, fc.boolean(), (root, p, absolute) => {
        const boardPath = absolute ? `/${p}` : `${root === "/" ? "" : root}/${p}`
        const result = resolveDownloadPath(destination, root, boardPath)
        if (Result.isSuccess(result)) {
          const rel = path.relative(destination, result.success)
          expect(rel.startsWith("..")).toBe(false)
          expect(path.isAbsolute(rel)).toBe(false)
          expect(rel).not.toBe("")
        } else {
          expect(result.failure._tag).toBe("PathTraversalError")
        }
      }),
      { numRuns: 1000 },
    )
  })

  it("refuses '..', absolute and foreign paths with a reason", () => {
    const refused = (root: string, p: string) => {
      const r = resolveDownloadPath(destination, root, p)
      return Result.isFailure(r) ? r.failure.reason : undefined
    }
    expect(refused("/", "/../etc/passwd")).toContain("'..'")
    expect(refused("/app", "/app/../../x")).toContain("'..'")
    expect(refused("/app", "/etc/passwd")).toContain("not under")
    expect(refused("/", "//etc/passwd")).toContain("empty component")
    expect(refused("/", "/a/./b")).toContain("'.'")
    expect(resolveDownloadPath(destination, "/", "/lib/x.py")).toEqual(
      Result.succeed(path.join(destination, "lib", "x.py")),
    )
  })
})

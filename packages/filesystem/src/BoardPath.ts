import { CapabilityMissingError } from "@belay/core"
import { Result } from "effect"
import { BoardLimitError, InvalidPathError } from "./errors.js"

/**
 * Board paths as this package speaks them: absolute, `/`-separated, without `.`, `..`, empty or
 * trailing components, e.g. `/lib/util.py`; the root is `/`. A relative path is taken from the
 * root (`main.py` is `/main.py`). On a board whose filesystem is flat (the micro:bit), `/main.py`
 * is the file `main.py` and deeper paths are refused.
 *
 * @example
 * normalizeBoardPath("lib//./x/../util.py") // Result.succeed("/lib/util.py")
 *
 * @since 0.1.0
 */
export const normalizeBoardPath = (input: string): Result.Result<string, InvalidPathError> => {
  if (input.length === 0)
    return Result.fail(new InvalidPathError({ path: input, reason: "the path is empty" }))
  if (input.includes("\u0000")) {
    return Result.fail(new InvalidPathError({ path: input, reason: "the path contains a NUL character" }))
  }
  const parts: string[] = []
  for (const part of input.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") {
      if (parts.length === 0) {
        return Result.fail(new InvalidPathError({ path: input, reason: "'..' goes above the root" }))
      }
      parts.pop()
      continue
    }
    parts.push(part)
  }
  return Result.succeed(`/${parts.join("/")}`)
}

/**
 * A path as a person types it, relative to the board's working directory `cwd` (a normalized
 * path, e.g. from `BoardFileSystem.workingDirectory`) unless it starts with `/`, normalized.
 *
 * @example
 * resolveBoardPath("/lib", "util.py") // Result.succeed("/lib/util.py")
 * resolveBoardPath("/lib", "../main.py") // Result.succeed("/main.py")
 * @since 0.1.0
 */
export const resolveBoardPath = (cwd: string, input: string): Result.Result<string, InvalidPathError> =>
  input.startsWith("/") || input.length === 0
    ? normalizeBoardPath(input)
    : normalizeBoardPath(cwd === "/" ? `/${input}` : `${cwd}/${input}`)

/**
 * Join a directory and a name (or relative path) into a normalized board path.
 *
 * @example
 * joinBoardPath("/lib", "util.py") // "/lib/util.py"
 *
 * @since 0.1.0
 */
export const joinBoardPath = (dir: string, name: string): string =>
  dir === "/" ? `/${name}` : `${dir}/${name}`

/**
 * The directory holding a normalized path (`/` for top-level entries and for the root).
 *
 * @example
 * boardParent("/lib/util.py") // "/lib"
 *
 * @since 0.1.0
 */
export const boardParent = (path: string): string => {
  const at = path.lastIndexOf("/")
  return at <= 0 ? "/" : path.slice(0, at)
}

/**
 * The last component of a normalized path (empty for the root).
 *
 * @example
 * boardBaseName("/lib/util.py") // "util.py"
 *
 * @since 0.1.0
 */
export const boardBaseName = (path: string): string => path.slice(path.lastIndexOf("/") + 1)

/**
 * `path` relative to `root` (both normalized), or `undefined` when `path` is not inside `root`.
 * The root itself is `""`.
 *
 * @example
 * boardRelative("/app", "/app/lib/x.py") // "lib/x.py"
 */
export const boardRelative = (root: string, path: string): string | undefined => {
  if (root === "/") return path === "/" ? "" : path.slice(1)
  if (path === root) return ""
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : undefined
}

/** The parent directories of a normalized path, outermost first, root excluded. */
export const boardAncestors = (path: string): string[] => {
  const out: string[] = []
  let at = path.indexOf("/", 1)
  while (at > 0) {
    out.push(path.slice(0, at))
    at = path.indexOf("/", at + 1)
  }
  return out
}

/** Prefix of the temporary files this package creates; sync and listings recognise them. */
export const TEMP_PREFIX = ".belay-"
const TEMP_NAME = /^\.belay-[0-9a-z]+-[0-9]+(?:r)?\.tmp$/

/**
 * True for the name of a temporary file made by an upload (`.belay-<id>-<n>.tmp`).
 *
 * @example
 * isTemporaryName(".belay-k3x9-4.tmp") // true
 *
 * @since 0.1.0
 */
export const isTemporaryName = (name: string): boolean => TEMP_NAME.test(name)

/**
 * The path a board's own `os` functions take for a normalized path: the same on boards with
 * directories, the bare name on a flat filesystem (`/main.py` becomes `main.py`, the root `""`).
 * Deeper paths on a flat board fail with `CapabilityMissingError`: nothing is sent.
 *
 * @example
 * toNativePath("/main.py", true, "write") // Result.succeed("main.py")
 */
export const toNativePath = (
  path: string,
  flat: boolean,
  operation: string,
): Result.Result<string, CapabilityMissingError> => {
  if (!flat) return Result.succeed(path)
  if (path === "/") return Result.succeed("")
  if (path.indexOf("/", 1) > 0) {
    return Result.fail(
      new CapabilityMissingError({
        operation: `${operation} ${path}`,
        missing: "directories (its filesystem is flat: os has no mkdir)",
      }),
    )
  }
  return Result.succeed(path.slice(1))
}

/**
 * The longest name (UTF-8 bytes, one path component) the board's filesystem takes: 120 on the
 * micro:bit (its firmware's `MAX_FILENAME_LENGTH`: a longer name is "file not found", found on
 * MicroPython 1.9.2 in QEMU), 255 elsewhere (littlefs, FAT and POSIX all stop there).
 *
 * @example
 * maxNameBytes("microbit") // 120
 */
export const maxNameBytes = (platform: string): number => (platform === "microbit" ? 120 : 255)

const utf8 = new TextEncoder()

/**
 * Refuse a normalized path with a component longer than the board's filesystem takes, before
 * anything is sent.
 *
 * @example
 * checkNameLength(`/${"x".repeat(121)}`, "microbit", "write") // Result.fail(BoardLimitError)
 */
export const checkNameLength = (
  path: string,
  platform: string,
  operation: string,
): Result.Result<void, BoardLimitError> => {
  const limit = maxNameBytes(platform)
  for (const part of path.split("/")) {
    const bytes = utf8.encode(part).length
    if (bytes > limit) {
      const board = platform === "microbit" ? "the micro:bit's filesystem" : "the board's filesystem"
      return Result.fail(
        new BoardLimitError({
          operation,
          path,
          limit: "name-length",
          reason: `the name ${JSON.stringify(part.length > 24 ? `${part.slice(0, 20)}...` : part)} is ${bytes} bytes long; ${board} takes names of at most ${limit} bytes`,
        }),
      )
    }
  }
  return Result.succeed(undefined)
}

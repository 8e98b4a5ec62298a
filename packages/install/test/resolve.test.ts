import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { Effect } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  formatSource,
  makeFetcher,
  packageCache,
  parseManifest,
  parsePackageSpec,
  readLockFile,
  resolvePackages,
  rewriteUrl,
  writeLockFile,
} from "../src/index.js"
import { publish, sha256, startServer, type TestServer } from "./server.js"
import { tempDirs } from "./tempDirs.js"

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const failure = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.flip(effect))
const tempDir = tempDirs("belay-install-")
const index = (name: string, version?: string) => ({ source: { kind: "index" as const, name, version } })

let server: TestServer
beforeAll(async () => {
  server = await startServer()
  // sensors 1.1 needs logging; the index has compiled files for .mpy version 6 for sensors only.
  publish(server, {
    name: "sensors",
    version: "1.1.0",
    files: {
      py: {
        "sensors/__init__.py": "from .bme import read\n",
        "sensors/bme.py": "def read():\n    return 21.5\n",
      },
      "6": { "sensors/__init__.mpy": "M\x06compiled-init", "sensors/bme.mpy": "M\x06compiled-bme" },
    },
    deps: [["logging", "latest"]],
  })
  publish(server, {
    name: "logging",
    version: "0.6.1",
    files: { py: { "logging.py": "def info(*a):\n    print(*a)\n" } },
  })
})
afterAll(() => server.close())

describe("package specs", () => {
  it("parses index names, versions, repositories, URLs and local paths", async () => {
    expect(await run(parsePackageSpec("aioble"))).toEqual({
      kind: "index",
      name: "aioble",
      version: undefined,
    })
    expect(await run(parsePackageSpec("aioble@0.5.2"))).toEqual({
      kind: "index",
      name: "aioble",
      version: "0.5.2",
    })
    expect(await run(parsePackageSpec("github:org/repo/pkg@v1.2"))).toEqual({
      kind: "url",
      url: "github:org/repo/pkg",
      ref: "v1.2",
    })
    expect(await run(parsePackageSpec("./vendor/x", "/project"))).toEqual({
      kind: "local",
      path: "/project/vendor/x",
    })
    for (const bad of ["", "github:org", "a b", "name@", "github:org/repo/../x", "https://"])
      expect((await failure(parsePackageSpec(bad)))._tag).toBe("InvalidSpecError")
  })

  it("rewrites github: and gitlab: as mip does", () => {
    expect(rewriteUrl("github:org/repo/pkg/package.json", undefined)).toBe(
      "https://raw.githubusercontent.com/org/repo/HEAD/pkg/package.json",
    )
    expect(rewriteUrl("gitlab:org/repo/a.py", "v2")).toBe("https://gitlab.com/org/repo/-/raw/v2/a.py")
    expect(rewriteUrl("https://host/x.py", "v2")).toBe("https://host/x.py")
  })

  it("reads back every index and repository spec it writes (property)", async () => {
    const word = fc.stringMatching(/^[a-z0-9_][a-z0-9_.-]{0,12}$/)
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({
            kind: fc.constant("index" as const),
            name: word,
            version: fc.option(word, { nil: undefined }),
          }),
          fc.record({
            kind: fc.constant("url" as const),
            url: fc
              .tuple(fc.constantFrom("github:", "gitlab:"), fc.array(word, { minLength: 2, maxLength: 4 }))
              .map(([scheme, parts]) => `${scheme}${parts.join("/")}`),
            ref: fc.option(word, { nil: undefined }),
          }),
        ),
        async (source) => {
          expect(await run(parsePackageSpec(formatSource(source)))).toEqual(source)
        },
      ),
    )
  })
})

describe("manifests", () => {
  it("refuses file paths that would leave the target (property)", async () => {
    const part = fc.stringMatching(/^[a-z]{1,5}$/)
    const unsafe = fc
      .tuple(
        fc.array(part, { maxLength: 3 }),
        fc.constantFrom("..", ".", ""),
        fc.array(part, { maxLength: 3 }),
      )
      .map(([a, bad, b]) => [...a, bad, ...b].join("/"))
    const absolute = part.map((p) => `/${p}`)
    await fc.assert(
      fc.asyncProperty(fc.oneof(unsafe, absolute), async (file) => {
        const error = await failure(parseManifest(JSON.stringify({ urls: [[file, "x.py"]] }), "m.json"))
        expect(error._tag).toBe("ManifestError")
      }),
    )
  })

  it("refuses fields of the wrong shape", async () => {
    for (const text of ["[]", "nope", '{"hashes": [["a.py", "zz"]]}', '{"deps": "x"}', '{"version": 3}'])
      expect((await failure(parseManifest(text, "m.json")))._tag).toBe("ManifestError")
  })
})

describe("resolving from an index on a test HTTP server", () => {
  it("follows deps and picks the board's .mpy files where the index has them", async () => {
    const fetcher = makeFetcher(packageCache(tempDir()))
    const resolution = await run(
      resolvePackages([index("sensors")], { index: server.url, mpy: "6", fetcher }),
    )
    expect(resolution.packages.map((p) => [p.name, p.version])).toEqual([
      ["logging", "0.6.1"],
      ["sensors", "1.1.0"],
    ])
    const sensors = resolution.packages[1]!
    expect(sensors.files.map((f) => f.path)).toEqual(["sensors/__init__.mpy", "sensors/bme.mpy"])
    expect(sensors.files[1]!.sha256).toBe(sha256("M\x06compiled-bme"))
    expect(sensors.deps).toEqual(["logging"])
    // logging has no .mpy 6 build: its .py form.
    expect(resolution.packages[0]!.files.map((f) => f.path)).toEqual(["logging.py"])
  })

  it("takes .py files when the board has no .mpy version", async () => {
    const fetcher = makeFetcher(packageCache(tempDir()))
    const resolution = await run(
      resolvePackages([index("sensors")], { index: server.url, mpy: "py", fetcher }),
    )
    expect(resolution.packages[1]!.files.map((f) => f.path)).toEqual([
      "sensors/__init__.py",
      "sensors/bme.py",
    ])
  })

  it("says where it looked for a package that is not there", async () => {
    const fetcher = makeFetcher(packageCache(tempDir()))
    const error = await failure(resolvePackages([index("nothing")], { index: server.url, mpy: "6", fetcher }))
    expect(error._tag).toBe("PackageNotFoundError")
    expect(error.message).toContain("/package/6/nothing/latest.json")
    expect(error.message).toContain("/package/py/nothing/latest.json")
  })

  it("refuses a downloaded file whose hash is not the manifest's, and caches nothing of it", async () => {
    const cacheDir = tempDir()
    const content = "print('good')\n"
    const short = sha256(content).slice(0, 8)
    server.set(`/bad/file/${short.slice(0, 2)}/${short}`, "print('tampered')\n")
    server.set(
      "/bad/package/py/evil/latest.json",
      JSON.stringify({ hashes: [["evil.py", short]], version: "1" }),
    )
    const fetcher = makeFetcher(packageCache(cacheDir))
    const error = await failure(
      resolvePackages([index("evil")], { index: `${server.url}/bad`, mpy: "py", fetcher }),
    )
    expect(error._tag).toBe("HashMismatchError")
    const cachedShas = readdirSync(path.join(cacheDir, "content"), { recursive: true }).map(String)
    expect(cachedShas.some((p) => p.endsWith(sha256("print('tampered')\n")))).toBe(false)
  })

  it("refuses two explicit versions of one package, and two packages writing one path differently", async () => {
    const fetcher = makeFetcher(packageCache(tempDir()))
    const versions = await failure(
      resolvePackages([index("logging", "0.6.1"), index("logging", "0.5")], {
        index: server.url,
        mpy: "py",
        fetcher,
      }),
    )
    expect(versions._tag).toBe("InstallConflictError")
    publish(server, { name: "clash", version: "1", files: { py: { "logging.py": "other = 1\n" } } })
    const paths = await failure(
      resolvePackages([index("logging"), index("clash")], { index: server.url, mpy: "py", fetcher }),
    )
    expect(paths._tag).toBe("InstallConflictError")
    expect(paths.message).toContain("logging.py")
  })

  it("resolves an http manifest with relative urls and a URL dependency", async () => {
    server.set(
      "/repo/tool/package.json",
      JSON.stringify({
        urls: [["tool.py", "tool.py"]],
        deps: [[`${server.url}/repo/extra.py`, ""]],
        version: "2.0",
      }),
    )
    server.set("/repo/tool/tool.py", "import extra\n")
    server.set("/repo/extra.py", "X = 1\n")
    const fetcher = makeFetcher(packageCache(tempDir()))
    const resolution = await run(
      resolvePackages([{ source: { kind: "url", url: `${server.url}/repo/tool`, ref: undefined } }], {
        index: server.url,
        mpy: "6",
        fetcher,
      }),
    )
    expect(resolution.packages.map((p) => `${p.name}@${p.version}:${p.files.map((f) => f.path)}`)).toEqual([
      "extra@HEAD:extra.py",
      "tool@2.0:tool.py",
    ])
  })

  it("resolves a local folder with its manifest", async () => {
    const dir = tempDir()
    mkdirSync(path.join(dir, "pkg"))
    writeFileSync(
      path.join(dir, "pkg", "package.json"),
      JSON.stringify({ urls: [["blink.py", "blink.py"]], deps: [["logging", "latest"]] }),
    )
    writeFileSync(path.join(dir, "pkg", "blink.py"), "import logging\n")
    const fetcher = makeFetcher(packageCache(tempDir()))
    const resolution = await run(
      resolvePackages([{ source: { kind: "local", path: path.join(dir, "pkg") } }], {
        index: server.url,
        mpy: "py",
        fetcher,
      }),
    )
    expect(resolution.packages.map((p) => p.name)).toEqual(["logging", "pkg"])
  })

  it("works offline from the cache once resolved", async () => {
    const cacheDir = tempDir()
    const second = await startServer()
    publish(second, { name: "solo", version: "3", files: { py: { "solo.py": "S = 3\n" } } })
    const online = await run(
      resolvePackages([index("solo")], {
        index: second.url,
        mpy: "py",
        fetcher: makeFetcher(packageCache(cacheDir)),
      }),
    )
    await second.close()
    const offline = await run(
      resolvePackages([index("solo")], {
        index: second.url,
        mpy: "py",
        fetcher: makeFetcher(packageCache(cacheDir), { offline: true }),
      }),
    )
    expect(offline).toEqual(online)
    // The server is gone: the network path falls back to the cache too.
    const fallback = await run(
      resolvePackages([index("solo")], {
        index: second.url,
        mpy: "py",
        fetcher: makeFetcher(packageCache(cacheDir), { retries: 0 }),
      }),
    )
    expect(fallback).toEqual(online)
    const empty = await failure(
      resolvePackages([index("solo")], {
        index: second.url,
        mpy: "py",
        fetcher: makeFetcher(packageCache(tempDir()), { offline: true }),
      }),
    )
    expect(empty._tag).toBe("DownloadError")
  })

  it("gives up on a server that does not answer", async () => {
    server.stall("/package/py/stalled/latest.json")
    const fetcher = makeFetcher(packageCache(tempDir()), { timeoutMs: 300, retries: 1 })
    const error = await failure(
      resolvePackages([index("stalled")], { index: server.url, mpy: "py", fetcher }),
    )
    expect(error._tag).toBe("DownloadError")
    expect(error.message).toContain("no answer within 300 ms")
    expect(server.requests.filter((r) => r === "/package/py/stalled/latest.json")).toHaveLength(2)
  })
})

describe("lock file", () => {
  it("writes and reads back the exact files, with local paths relative to the project", async () => {
    const dir = tempDir()
    mkdirSync(path.join(dir, "vendor"))
    writeFileSync(path.join(dir, "vendor", "v.py"), "V = 1\n")
    const fetcher = makeFetcher(packageCache(tempDir()))
    const resolution = await run(
      resolvePackages(
        [index("sensors"), { source: { kind: "local", path: path.join(dir, "vendor", "v.py") } }],
        {
          index: server.url,
          mpy: "6",
          fetcher,
        },
      ),
    )
    const project = {
      dir,
      dependencies: { sensors: "latest", v: "./vendor/v.py" },
      index: server.url,
      target: undefined,
    }
    await run(writeLockFile(project, resolution))
    const lock = await run(readLockFile(dir))
    expect(lock?.packages).toEqual(resolution.packages)
    const text = readFileSync(path.join(dir, "belay-lock.json"), "utf8")
    expect(text).not.toContain(dir)
    expect(text).toContain('"location": "./vendor/v.py"')
  })

  it("refuses a lock file that is not valid", async () => {
    const dir = tempDir()
    writeFileSync(
      path.join(dir, "belay-lock.json"),
      JSON.stringify({
        lockfileVersion: 1,
        index: "x",
        mpy: "py",
        dependencies: {},
        packages: [{ name: "a" }],
      }),
    )
    expect((await failure(readLockFile(dir)))._tag).toBe("ProjectError")
  })
})

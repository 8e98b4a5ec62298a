#!/usr/bin/env node
/**
 * The libraries' browser entries stay free of Node: each is bundled with esbuild for
 * `platform: "browser"` (so `@belay/<pkg>` resolves to its `default` export condition, the
 * browser entry, as a web bundler would), and the check fails if the bundle imports a Node
 * built-in (`node:fs`, `path`, ...) or a Node-only package (`ws`, `serialport`, `@serialport/bindings-cpp`), or if its code
 * uses Node's globals (`Buffer`, `process.x`, `require`, `__dirname`) other than through
 * `globalThis` (Effect probes `globalThis.process?.…`, which a browser answers with `undefined`).
 * It also checks that each browser entry exports what its Node entry does, less the names listed
 * here as Node's own. Prints each bundle's size, minified and gzipped.
 *
 * Run after a build: `node scripts/check-browser-bundle.mjs` (part of `pnpm lint`).
 */
import { builtinModules } from "node:module"
import path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { gzipSync } from "node:zlib"
import * as esbuild from "esbuild"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
// A package that depends on every library, so that `@belay/<pkg>` resolves as it does for a user.
const resolveDir = path.join(root, "packages", "extensions")

/**
 * Browser entries; `node`: the package has a Node entry (`dist/index.js`) beside its browser one
 * (`dist/browser.js`), which exports the same less `nodeOnly`.
 */
const ENTRIES = [
  { specifier: "@belay/core", node: false, nodeOnly: [] },
  {
    specifier: "@belay/transport",
    node: true,
    nodeOnly: ["openProcessLink", "openRfc2217Link", "openTcpLink", "PtyUnavailableError"],
  },
  { specifier: "@belay/executors", node: true, nodeOnly: ["pythonFile"] },
  {
    specifier: "@belay/filesystem",
    node: true,
    nodeOnly: ["downloadDirectory", "MountError", "mountHostFolder", "syncDirectory"],
  },
  { specifier: "@belay/transport/web-serial", node: false, nodeOnly: [] },
  { specifier: "@belay/transport/webrepl-browser", node: false, nodeOnly: [] },
  { specifier: "@belay/virtual-device/browser", node: false, nodeOnly: [] },
  { specifier: "@belay/virtual-device/worker", node: false, nodeOnly: [] },
]

// `@serialport` stands for its scope (`@serialport/bindings-cpp`, the serial link's binding).
const NODE_ONLY_PACKAGES = new Set(["ws", "serialport", "@serialport"])
const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]))
const isNodeImport = (specifier) =>
  specifier.startsWith("node:") || builtins.has(specifier) || NODE_ONLY_PACKAGES.has(specifier.split("/")[0])

/**
 * Node globals used as such: a bare `Buffer`, `process.`/`process[`, `require(`, `__dirname`,
 * `__filename`, not preceded by a `.` (so `globalThis.process` is fine) nor part of a longer name.
 */
const NODE_GLOBAL = /(?<![\w$.])(Buffer\b|process\s*[.[]|require\s*\(|__dirname\b|__filename\b)/g

/** Lines of the unminified bundle around a use of a Node global, for the message. */
const excerpt = (text, index) => text.slice(Math.max(0, index - 80), index + 60).replace(/\s+/g, " ")

const problems = []
const rows = []
for (const entry of ENTRIES) {
  const nodeImports = new Map()
  const findNodeImports = {
    name: "find-node-imports",
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        if (!isNodeImport(args.path)) return undefined
        const importers = nodeImports.get(args.path) ?? new Set()
        importers.add(path.relative(root, args.importer))
        nodeImports.set(args.path, importers)
        return { path: args.path, external: true }
      })
    },
  }
  const build = (minify) =>
    esbuild.build({
      stdin: { contents: `export * from "${entry.specifier}"`, resolveDir, loader: "js" },
      bundle: true,
      platform: "browser",
      format: "esm",
      target: "es2022",
      write: false,
      logLevel: "silent",
      plugins: [findNodeImports],
      ...(minify ? { minify: true } : { minifyWhitespace: true }),
    })
  let minified
  let readable
  try {
    minified = await build(true)
    readable = await build(false)
  } catch (error) {
    problems.push(
      `${entry.specifier}: does not bundle for the browser: ${error.errors?.map((e) => e.text).join("; ") ?? error}`,
    )
    continue
  }
  for (const [specifier, importers] of nodeImports)
    problems.push(`${entry.specifier}: imports ${specifier} (from ${[...importers].join(", ")})`)
  const text = readable.outputFiles[0].text
  for (const match of text.matchAll(NODE_GLOBAL))
    problems.push(
      `${entry.specifier}: uses Node's ${match[1].replace(/\s*[.[(]$/, "")}: …${excerpt(text, match.index)}…`,
    )
  const bytes = minified.outputFiles[0].contents
  rows.push([entry.specifier, bytes.length, gzipSync(bytes).length])

  if (entry.node) {
    const dist = path.join(root, "packages", entry.specifier.split("/")[1], "dist")
    const load = async (file) => Object.keys(await import(pathToFileURL(path.join(dist, file)).href))
    const browserNames = new Set(await load("browser.js"))
    const nodeNames = new Set(await load("index.js"))
    for (const name of browserNames)
      if (!nodeNames.has(name))
        problems.push(`${entry.specifier}: browser entry exports ${name}, its Node entry does not`)
    for (const name of nodeNames) {
      const ownToNode = entry.nodeOnly.includes(name)
      if (!browserNames.has(name) && !ownToNode)
        problems.push(
          `${entry.specifier}: ${name} is missing from the browser entry (or list it here as Node's own)`,
        )
      if (browserNames.has(name) && ownToNode)
        problems.push(`${entry.specifier}: ${name} is listed as Node's own but the browser entry has it`)
    }
  }
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`
console.log("Browser bundles (esbuild, platform browser, minified / gzipped):")
for (const [name, size, gzipped] of rows)
  console.log(`  ${name.padEnd(34)} ${kb(size).padStart(9)} ${kb(gzipped).padStart(9)}`)
if (problems.length > 0) {
  console.error(`Browser bundles: ${problems.length} problem(s)`)
  for (const p of problems) console.error(`  ${p}`)
  process.exit(1)
}
console.log("Browser bundles: no Node built-in, no Node-only package, no Node global")

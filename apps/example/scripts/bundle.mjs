#!/usr/bin/env node
/**
 * Bundles the `belay` command with esbuild into `dist/bundle/`: one CommonJS script,
 * `belay-cli.cjs`, holding Effect, the Belay libraries and every command (tree-shaken, minified).
 * One script rather than ES module chunks, because Node 20 keeps no compiled code between runs of
 * an ES module, while `bin/belay.cjs` can hand V8 the code it compiled for a script in an earlier
 * run (see its opening comment): with that cache, loading the whole script costs less than
 * compiling the chunks one command needed. Modules a command imports dynamically (the parser, the
 * file system, the demo, the bench, the REPL, the virtual board) are still evaluated only when it
 * imports them. The virtual board's worker script is bundled beside it, and so is the script of
 * the kept virtual board's process; the package's dependencies stay `require`s from node_modules:
 * serialport's native binding, and MicroPython's WebAssembly build (the virtual board finds its
 * `.wasm` file through it).
 *
 * The script's first line names its content (`// belay-bundle <sha256>`): the compile cache is
 * kept per content, so a cache is never handed to another build of the script.
 *
 * Then it stores what the parser prints for `--version` and each command's `--help` (plain and
 * colored) in `dist/bundle/output.json`, which `bin/belay.cjs` prints without loading the bundle.
 *
 * Usage: `node scripts/bundle.mjs` (from the package directory or anywhere).
 */
import { createHash } from "node:crypto"
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import path from "node:path"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const bundleDir = path.join(packageDir, "dist", "bundle")
// Written beside it, then moved into place: a command running meanwhile sees the old bundle or the new.
const outdir = `${bundleDir}.next`
const { version, dependencies } = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8"))

/**
 * The serial link reads and writes through `@serialport/bindings-cpp`, which the command depends
 * on; only where that package cannot be found does the link fall back to the binding inside
 * `serialport` (its stream around the binding would load Node's stream modules). So `serialport`
 * stays out of the bundle: a `require` that never runs here.
 */
const serialPortNotBundled = {
  name: "serialport-not-bundled",
  setup(build) {
    build.onResolve({ filter: /^serialport$/ }, () => ({ path: "serialport", external: true }))
  },
}

/**
 * `@belay/transport` in Node is its Node entry, which adds the links that need Node (a process's
 * streams, TCP, RFC 2217) to the platform-neutral one, and an ES module's imports all run when it
 * loads: every module that names the package (the CLI's `exec` among them) would load
 * `node:child_process` and `node:net` on every command. In the bundle the bare name is the
 * platform-neutral entry; what needs those links names `@belay/transport/node` and imports it
 * when a connection asks for one (`Connection.ts` in `@belay/extensions`). Measured: about 6 ms of
 * a `belay exec` on a serial board.
 */
const transportLinksWhenAsked = {
  name: "transport-links-when-asked",
  setup(build) {
    build.onResolve({ filter: /^@belay\/transport$/ }, (args) =>
      build.resolve("@belay/transport/browser", { kind: args.kind, resolveDir: args.resolveDir }),
    )
  },
}

/**
 * The Belay libraries import Effect's modules through its barrel (`import { Effect } from
 * "effect"`), which keeps more of Effect in a bundle than the modules named (measured: 90 KB
 * against 26 KB for `Effect` alone). In the libraries' built files, an import of namespaces only
 * becomes one import per module (`import * as Effect from "effect/Effect"`), which is what the
 * barrel re-exports.
 */
const effectBarrel = readFileSync(createRequire(import.meta.url).resolve("effect"), "utf8")
const effectNamespaces = new Set(
  [...effectBarrel.matchAll(/^export \* as (\w+) from "\.\/(\w+)\.js"/gm)]
    .filter(([, name, file]) => name === file)
    .map(([, name]) => name),
)
const effectByModule = (statement, names) => {
  const specifiers = names
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "" && !n.startsWith("type "))
    .map((n) => /^(\w+)(?:\s+as\s+(\w+))?$/.exec(n))
  if (specifiers.some((m) => m === null || !effectNamespaces.has(m[1]))) return statement
  return specifiers.map(([, name, local]) => `import * as ${local ?? name} from "effect/${name}"`).join(";")
}

/**
 * A Belay package's entry (`@belay/transport`, `@belay/extensions`, `@belay/transport/serial`, ...)
 * only re-exports its modules. In a bundle, importing one name through it initializes every module
 * it re-exports that anything in the bundle uses (measured on `belay exec`: the executors, the file
 * system and `node:child_process` came with the connection's one import, about 10 ms). An import
 * through an entry becomes one import per module that defines the names, so a command initializes
 * what it uses. A name the entry does not re-export plainly keeps the import through the entry.
 */
const barrelExports = new Map()
const reExportsOf = (file) => {
  let table = barrelExports.get(file)
  if (table === undefined) {
    table = new Map()
    const source = readFileSync(file, "utf8")
    for (const [, names, from] of source.matchAll(/^export\s*\{([^}]*)\}\s*from\s*"([^"]+)";?/gm)) {
      const module = path.resolve(path.dirname(file), from)
      for (const name of names.split(",").map((n) => n.trim())) {
        const m = /^(?:type\s+)?(\w+)(?:\s+as\s+(\w+))?$/.exec(name)
        if (m !== null && !name.startsWith("type ")) table.set(m[2] ?? m[1], { module, name: m[1] })
      }
    }
    barrelExports.set(file, table)
  }
  return table
}
const belayByModule = (entry, statement, names, specifier) => {
  if (entry === undefined) return statement
  const table = reExportsOf(entry)
  const kept = []
  const byModule = new Map()
  for (const raw of names.split(",").map((n) => n.trim())) {
    if (raw === "" || raw.startsWith("type ")) continue
    const m = /^(\w+)(?:\s+as\s+(\w+))?$/.exec(raw)
    const found = m === null ? undefined : table.get(m[1])
    if (found === undefined) {
      kept.push(raw)
      continue
    }
    const local = m[2] ?? m[1]
    const list = byModule.get(found.module) ?? []
    list.push(found.name === local ? local : `${found.name} as ${local}`)
    byModule.set(found.module, list)
  }
  const statements = [...byModule].map(
    ([module, list]) => `import { ${list.join(", ")} } from ${JSON.stringify(module)}`,
  )
  if (kept.length > 0) statements.push(`import { ${kept.join(", ")} } from ${JSON.stringify(specifier)}`)
  // An import of types only leaves nothing to evaluate.
  return statements.length === 0 ? "" : statements.join(";")
}
const IMPORT_NAMES = /import\s*\{([^}]*)\}\s*from\s*"(@belay\/[^"]+|effect)"/g
const importsByModule = {
  name: "imports-by-module",
  setup(build) {
    // The entry a specifier names, as esbuild resolves it from the importing file.
    const entryOf = async (specifier, importer) => {
      const found = await build.resolve(specifier, {
        resolveDir: path.dirname(importer),
        kind: "import-statement",
      })
      return found.errors.length === 0 ? found.path : undefined
    }
    const rewrite = async (file) => {
      const source = readFileSync(file, "utf8")
      const entries = new Map()
      for (const [, , specifier] of source.matchAll(IMPORT_NAMES))
        if (specifier !== "effect" && !entries.has(specifier))
          entries.set(specifier, await entryOf(specifier, file))
      return source.replace(IMPORT_NAMES, (statement, names, specifier) =>
        specifier === "effect"
          ? effectByModule(statement, names)
          : belayByModule(entries.get(specifier), statement, names, specifier),
      )
    }
    build.onLoad({ filter: /[\\/]packages[\\/][^\\/]+[\\/]dist[\\/].*\.js$/ }, async (args) => ({
      contents: await rewrite(args.path),
      loader: "js",
    }))
    build.onLoad({ filter: /[\\/]apps[\\/]example[\\/]src[\\/].*\.ts$/ }, async (args) => ({
      contents: await rewrite(args.path),
      loader: "ts",
    }))
  },
}

/**
 * serialport logs through `debug`, which inspects the terminal and the environment as it loads
 * (about 2 ms of every command on a serial board). Unless `DEBUG` is set, serialport gets loggers
 * that do nothing, and `debug` itself is not loaded; with `DEBUG` set, it is, as before.
 */
const debugOnlyWhenAsked = {
  name: "debug-only-when-asked",
  setup(build) {
    build.onResolve({ filter: /^debug$/ }, async (args) => {
      if (args.pluginData === "real") return undefined
      const real = await build.resolve("debug", {
        resolveDir: args.resolveDir,
        kind: args.kind,
        pluginData: "real",
      })
      if (real.errors.length > 0) return undefined
      return { path: real.path, namespace: "debug-when-asked" }
    })
    build.onLoad({ filter: /.*/, namespace: "debug-when-asked" }, (args) => ({
      contents: `const quiet = Object.assign(() => {}, { enabled: false, namespace: "", log() {}, extend: () => quiet, destroy: () => true })
module.exports = process.env.DEBUG ? require(${JSON.stringify(args.path)}) : () => quiet`,
      resolveDir: path.dirname(args.path),
      loader: "js",
    }))
  },
}

/**
 * serialport's binding package is CommonJS spread over a dozen files (about 20 ms to load from
 * node_modules); its JavaScript goes into the bundle, and only its compiled addon is loaded from
 * the installed package, which stays a dependency. The one line that finds the addon next to its
 * own files finds the package by name instead.
 */
const BINDINGS = "@serialport/bindings-cpp"
const ADDON_LOOKUP = "(0, path_1.join)(__dirname, '../')"
const bindingsJavaScript = {
  name: "bindings-javascript",
  setup(build) {
    build.onLoad(
      { filter: /[\\/]@serialport[\\/]bindings-cpp[\\/]dist[\\/]serialport-bindings\.js$/ },
      (args) => {
        const source = readFileSync(args.path, "utf8")
        if (!source.includes(ADDON_LOOKUP))
          throw new Error(`bundle: ${args.path} no longer finds its addon with ${ADDON_LOOKUP}`)
        return {
          contents: source.replace(
            ADDON_LOOKUP,
            `(0, path_1.dirname)(require.resolve("${BINDINGS}/package.json"))`,
          ),
          loader: "js",
        }
      },
    )
  },
}

/**
 * The Linux binding lists ports by running `udevadm` (`linux-list.js` loads `node:child_process`,
 * and with it the socket modules, about 3 ms), but Belay lists ports itself: the binding's list
 * module loads the first time the binding's own `list` is called, not when a port opens.
 */
const LINUX_LIST = 'const linux_list_1 = require("./linux-list");'
const linuxListWhenCalled = {
  name: "linux-list-when-called",
  setup(build) {
    build.onLoad({ filter: /[\\/]@serialport[\\/]bindings-cpp[\\/]dist[\\/]linux\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8")
      if (!source.includes(LINUX_LIST)) throw new Error(`bundle: ${args.path} no longer has ${LINUX_LIST}`)
      return {
        contents: source.replace(
          LINUX_LIST,
          'const linux_list_1 = { get linuxList() { return require("./linux-list").linuxList } };',
        ),
        loader: "js",
      }
    })
  },
}

/**
 * The fleet's client and runner (Effect's cluster, the PostgreSQL driver) are half again the size
 * of everything else: in the main script they would make every command read and hold them. The
 * main script gets a stand-in for `cli/FleetActions.ts` instead, and a second script,
 * `belay-cli-fleet.cjs`, is the whole command with the fleet in it; `bin/belay.cjs` runs that one
 * for a command line that names the fleet (see its `namesFleet`). Should the main script be asked
 * for the fleet all the same (a device named through an alias the launcher did not see), the
 * stand-in says how to name it.
 */
const fleetInItsOwnScript = {
  name: "fleet-in-its-own-script",
  setup(build) {
    build.onResolve({ filter: /\/FleetActions\.js$/ }, () => ({
      path: "fleet-actions",
      namespace: "fleet-stand-in",
    }))
    build.onLoad({ filter: /.*/, namespace: "fleet-stand-in" }, () => ({
      contents: `
        import * as Effect from "effect/Effect"
        import { UsageError } from "./src/cli/Failure.ts"
        const elsewhere = () => Effect.fail(new UsageError(
          "this command line reaches the fleet in a way the belay launcher did not see",
          "name the fleet board on the command line (--device fleet:<runner>/<board>) or in BELAY_DEVICE",
        ))
        export const runFleetRunner = elsewhere
        export const listFleet = elsewhere
        export const fleetExec = elsewhere
        export const fleetEval = elsewhere
        export const fleetRun = elsewhere
        export const fleetInfo = elsewhere
        export const fleetWithFiles = elsewhere
        export const reserveFleet = elsewhere
        export const releaseFleet = elsewhere
      `,
      resolveDir: packageDir,
      loader: "ts",
    }))
  },
}

rmSync(outdir, { recursive: true, force: true })
const scriptName = "belay-cli.cjs"
const fleetScriptName = "belay-cli-fleet.cjs"

/** One CommonJS script of the whole command, its content named on its first line (see above). */
const buildScript = async (name, extraPlugins, entry = "src/bin.ts") => {
  const built = await esbuild.build({
    absWorkingDir: packageDir,
    entryPoints: [entry],
    outfile: path.join(outdir, name),
    bundle: true,
    format: "cjs",
    platform: "node",
    target: "node20.19",
    minify: process.env.BELAY_BUNDLE_MINIFY !== "0",
    // The package's runtime dependencies stay requires (but for the binding's JavaScript, above);
    // everything else is in the bundle.
    external: [
      ...Object.keys(dependencies ?? {}).filter((dependency) => dependency !== BINDINGS),
      `${BINDINGS}/package.json`,
    ],
    // Bundled from the workspace's node_modules, so that a package installed for the bundle alone
    // (a devDependency) resolves wherever it is hoisted.
    nodePaths: [path.join(packageDir, "node_modules")],
    define: { __BELAY_CLI_VERSION__: JSON.stringify(version), "import.meta.url": "__belayScriptUrl" },
    // The libraries find files beside their modules through import.meta.url: in the script, that is
    // the script's own URL (the virtual board's worker is put beside it).
    banner: { js: '"use strict";var __belayScriptUrl=require("node:url").pathToFileURL(__filename).href;' },
    legalComments: "none",
    plugins: [
      ...extraPlugins,
      serialPortNotBundled,
      transportLinksWhenAsked,
      importsByModule,
      debugOnlyWhenAsked,
      bindingsJavaScript,
      linuxListWhenCalled,
    ],
    metafile: true,
    logLevel: "warning",
  })
  const scriptPath = path.join(outdir, name)
  const script = readFileSync(scriptPath, "utf8")
  const contentId = createHash("sha256").update(script).digest("hex")
  writeFileSync(scriptPath, `// belay-bundle ${contentId}\n${script}`)
  return { built, scriptPath }
}

const { built, scriptPath } = await buildScript(scriptName, [fleetInItsOwnScript])
await buildScript(fleetScriptName, [])
// `exec` and `eval` in their plain forms, the commands people run most, load a script that holds
// their fast path alone (src/execBin.ts): half the code, a smaller compile cache. `bin/belay.cjs`
// runs the main script after it when it answers that the command line is not its own.
await buildScript("belay-cli-exec.cjs", [fleetInItsOwnScript], "src/execBin.ts")

if (process.env.BELAY_BUNDLE_META === "1")
  writeFileSync(path.join(packageDir, "dist", "bundle-meta.json"), JSON.stringify(built.metafile))

// The virtual board's interpreter runs in a worker thread, started from the script `worker.js`
// beside the module that starts it: bundled on its own (it shares nothing with the rest).
const virtualDeviceDir = path.dirname(fileURLToPath(import.meta.resolve("@belay/virtual-device")))
await esbuild.build({
  absWorkingDir: packageDir,
  entryPoints: [path.join(virtualDeviceDir, "worker.js")],
  outfile: path.join(outdir, "worker.js"),
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  minify: process.env.BELAY_BUNDLE_MINIFY !== "0",
  external: Object.keys(dependencies ?? {}),
  legalComments: "none",
  logLevel: "warning",
})

// The kept virtual board's process (`--device virtual` starts it detached, from the script beside
// the module that starts it): bundled on its own, beside the worker it starts.
await esbuild.build({
  absWorkingDir: packageDir,
  entryPoints: [path.join(virtualDeviceDir, "virtualBoardServer.js")],
  outfile: path.join(outdir, "virtualBoardServer.js"),
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  minify: process.env.BELAY_BUNDLE_MINIFY !== "0",
  external: Object.keys(dependencies ?? {}),
  // The WebREPL server's `ws` (in the script, unused by the kept board) is CommonJS that requires
  // Node's modules: an ES module has no `require` of its own to give it.
  banner: {
    js: 'import { createRequire as __belayCreateRequire } from "node:module";const require=__belayCreateRequire(import.meta.url);',
  },
  legalComments: "none",
  logLevel: "warning",
})

// Every command path the parser knows, from its help output.
const { renderOutput } = createRequire(import.meta.url)(scriptPath)
const subcommands = (help) => {
  const at = help.indexOf("SUBCOMMANDS\n")
  if (at < 0) return []
  const lines = help.slice(at).split("\n").slice(1)
  // The section ends at the first line that is not an indented entry (EXAMPLES may follow).
  const end = lines.findIndex((line) => !/^ {2}\S/.test(line))
  return (end < 0 ? lines : lines.slice(0, end))
    .map((line) => /^ {2}(\S+)/.exec(line)?.[1])
    .filter((name) => name !== undefined)
}
const stored = { plain: {}, colors: {} }
const visit = async (commandPath) => {
  const key = commandPath.join(" ")
  for (const [table, colors] of [
    ["plain", false],
    ["colors", true],
  ]) {
    stored[table][key] = await renderOutput([...commandPath, "--help"], colors)
  }
  for (const name of subcommands(stored.plain[key])) await visit([...commandPath, name])
}
await visit([])
stored.plain["--version"] = await renderOutput(["--version"], false)
stored.colors["--version"] = await renderOutput(["--version"], true)
writeFileSync(path.join(outdir, "output.json"), `${JSON.stringify(stored)}\n`)
rmSync(bundleDir, { recursive: true, force: true })
renameSync(outdir, bundleDir)

#!/usr/bin/env node
/**
 * Bundles the `belay` command with esbuild into `dist/bundle/`: one small entry module, and chunks
 * loaded by dynamic `import()` when a command needs them (the argument parser, the file system, the
 * demo, the bench, the REPL, the virtual board). Effect and the Belay libraries are bundled
 * (tree-shaken, minified), the virtual board's worker script beside them; the package's
 * dependencies stay imports from node_modules: serialport's native binding, and MicroPython's
 * WebAssembly build (the virtual board finds its `.wasm` file through it).
 *
 * Then it stores what the parser prints for `--version` and each command's `--help` (plain and
 * colored) in `dist/bundle/output.json`, which `bin/belay.cjs` prints without loading the parser.
 *
 * Usage: `node scripts/bundle.mjs` (from the package directory or anywhere).
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as esbuild from "esbuild"

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const bundleDir = path.join(packageDir, "dist", "bundle")
// Written beside it, then moved into place: a command running meanwhile sees the old bundle or the new.
const outdir = `${bundleDir}.next`
const { version, dependencies } = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8"))

/**
 * `serialport` is a CommonJS module that re-exports its stream parsers and a mock beside the
 * `SerialPort` class, the one thing Belay uses: the bundle takes the class's own module, so that
 * starting a serial link compiles less, and names it as an ES module (esbuild cannot see through
 * the re-exports).
 */
const serialPortClassOnly = {
  name: "serialport-class-only",
  setup(build) {
    build.onResolve({ filter: /^serialport$/ }, () => ({ path: "serialport", namespace: "serialport-class" }))
    build.onLoad({ filter: /.*/, namespace: "serialport-class" }, () => ({
      contents: 'export { SerialPort } from "serialport/dist/serialport.js"',
      resolveDir: packageDir,
      loader: "js",
    }))
  },
}

/**
 * The Belay libraries import Effect's modules through its barrel (`import { Effect } from
 * "effect"`), which keeps more of Effect in a bundle than the modules named (measured: 90 KB
 * against 26 KB for `Effect` alone). In the libraries' built files, an import of namespaces only
 * becomes one import per module (`import * as Effect from "effect/Effect"`), which is what the
 * barrel re-exports.
 */
const effectByModule = {
  name: "effect-by-module",
  setup(build) {
    const barrel = readFileSync(createRequire(import.meta.url).resolve("effect"), "utf8")
    const namespaces = new Set(
      [...barrel.matchAll(/^export \* as (\w+) from "\.\/(\w+)\.js"/gm)]
        .filter(([, name, file]) => name === file)
        .map(([, name]) => name),
    )
    const byModule = (statement, names) => {
      const specifiers = names
        .split(",")
        .map((n) => n.trim())
        .filter((n) => n !== "" && !n.startsWith("type "))
        .map((n) => /^(\w+)(?:\s+as\s+(\w+))?$/.exec(n))
      if (specifiers.some((m) => m === null || !namespaces.has(m[1]))) return statement
      return specifiers
        .map(([, name, local]) => `import * as ${local ?? name} from "effect/${name}"`)
        .join(";")
    }
    build.onLoad({ filter: /[\\/]packages[\\/][^\\/]+[\\/]dist[\\/].*\.js$/ }, (args) => ({
      contents: readFileSync(args.path, "utf8").replace(/import\s*\{([^}]*)\}\s*from\s*"effect"/g, byModule),
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

rmSync(outdir, { recursive: true, force: true })
const built = await esbuild.build({
  absWorkingDir: packageDir,
  entryPoints: { belay: "src/bin.ts", main: "src/main.ts" },
  outdir,
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  minify: process.env.BELAY_BUNDLE_MINIFY !== "0",
  // The package's runtime dependencies stay imports (but for the binding's JavaScript, above);
  // everything else is in the bundle.
  external: Object.keys(dependencies ?? {}).filter((name) => name !== BINDINGS),
  // Bundled from the workspace's node_modules, so that a package installed for the bundle alone
  // (a devDependency) resolves wherever it is hoisted.
  nodePaths: [path.join(packageDir, "node_modules")],
  define: { __BELAY_CLI_VERSION__: JSON.stringify(version) },
  legalComments: "none",
  // The CommonJS parts of the bundle (serialport's stream classes) call require() for Node's own
  // modules; an ES module has none unless it makes one.
  banner: {
    js: 'import{createRequire as __belayRequire}from"node:module";const require=__belayRequire(import.meta.url);',
  },
  plugins: [serialPortClassOnly, effectByModule, bindingsJavaScript],
  metafile: true,
  logLevel: "warning",
})

if (process.env.BELAY_BUNDLE_META === "1")
  writeFileSync(path.join(packageDir, "dist", "bundle-meta.json"), JSON.stringify(built.metafile))

// The virtual board's interpreter runs in a worker thread, started from the script `worker.js`
// beside the module that starts it: bundled on its own (it shares nothing with the rest), into the
// folder of the chunk that holds that module.
const virtualDeviceDir = path.dirname(fileURLToPath(import.meta.resolve("@belay/virtual-device")))
const starter = Object.entries(built.metafile.outputs).find(([, output]) =>
  Object.keys(output.inputs).some(
    (input) => path.resolve(packageDir, input) === path.join(virtualDeviceDir, "interpreter.js"),
  ),
)
if (starter === undefined) throw new Error("bundle: no chunk holds the virtual board's interpreter.js")
await esbuild.build({
  absWorkingDir: packageDir,
  entryPoints: [path.join(virtualDeviceDir, "worker.js")],
  outfile: path.join(packageDir, path.dirname(starter[0]), "worker.js"),
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  minify: process.env.BELAY_BUNDLE_MINIFY !== "0",
  external: Object.keys(dependencies ?? {}),
  legalComments: "none",
  logLevel: "warning",
})

// Every command path the parser knows, from its help output.
const { renderOutput } = await import(pathToFileURL(path.join(outdir, "main.mjs")).href)
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

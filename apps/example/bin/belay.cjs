#!/usr/bin/env node
/**
 * The `belay` command. CommonJS and small, so that it starts as fast as Node does:
 *
 * - `--version` and help print text stored when the bundle was built (scripts/bundle.mjs writes
 *   it to dist/bundle/output.json), without loading the bundle.
 * - Every other command line runs the bundle, dist/bundle/belay-cli.cjs, compiled with V8's code
 *   cache: the first run of a command compiles the script and, as the process exits, saves the
 *   code V8 compiled while running it (a `.v8` file in the user's cache folder); later runs of
 *   that command hand it back to V8, which then skips compiling what the command uses (measured:
 *   about 60 ms of CPU of a 130 ms `belay exec`). Node 20 keeps no compiled code between runs by
 *   itself (`module.enableCompileCache` came in Node 22.1, and serves ES modules that the bundle
 *   is not).
 *
 * The cache is one file per command word (`exec`, `ls`, `fs`, ...) and script (the fleet's has a
 * script of its own, see `namesFleet`), named after the bundle's
 * content (its first line), Node's version and the architecture, so a cache only ever meets the
 * script it was made from; V8 checks its own version and flags and refuses a cache that does not
 * match, and a refused or unreadable cache is only slower: the script compiles from its source
 * and the cache is made again. Caches of other builds of the bundle are removed when a new one is
 * saved. `BELAY_COMPILE_CACHE=0` (or Node's `NODE_DISABLE_COMPILE_CACHE`) turns it off;
 * `BELAY_COMPILE_CACHE=<folder>` puts it elsewhere than `$XDG_CACHE_HOME/belay/compile` (or
 * `~/.cache/belay/compile`).
 */
"use strict"
const fs = require("node:fs")
const nodeModule = require("node:module")
const os = require("node:os")
const path = require("node:path")
const vm = require("node:vm")

const bundle = path.join(__dirname, "..", "dist", "bundle")
const args = process.argv.slice(2)

/** The config file, as the command finds it (`configPath` in src/cli/Flags.ts). */
const configFile = () => {
  if (process.env.BELAY_CONFIG) return process.env.BELAY_CONFIG
  const base =
    process.env.XDG_CONFIG_HOME ||
    (process.platform === "win32" && process.env.APPDATA
      ? process.env.APPDATA
      : path.join(os.homedir(), ".config"))
  return path.join(base, "belay", "config.json")
}

/**
 * Whether this command line may reach the fleet (`belay fleet ...`, a `fleet:` device on the
 * command line, in BELAY_DEVICE or in the config file, where an alias may name one): then the
 * command runs from the script that holds the fleet's client and runner, which every other
 * command is spared loading (see scripts/bundle.mjs).
 */
const namesFleet = () => {
  if (args.some((a) => a === "fleet" || a.includes("fleet:"))) return true
  if (process.env.BELAY_DEVICE?.includes("fleet:")) return true
  try {
    return fs.readFileSync(configFile(), "utf8").includes("fleet:")
  } catch {
    return false
  }
}

/** The first argument that is not a flag: the command word (`belay -d a0 ls` and `belay ls` alike). */
const commandWord = args.find((a) => !a.startsWith("-")) ?? ""

/**
 * The scripts to run this command line, in turn while each answers that it is not its own (see
 * scripts/bundle.mjs), each with the start of its caches' names: the fleet's script for the
 * fleet; for `exec` and `eval`, the script of their fast path alone, then the main script; else
 * the main script.
 */
const scripts = namesFleet()
  ? [{ name: "belay-cli-fleet.cjs", prefix: "fleet." }]
  : commandWord === "exec" || commandWord === "eval"
    ? [
        { name: "belay-cli-exec.cjs", prefix: "fast." },
        { name: "belay-cli.cjs", prefix: "" },
      ]
    : [{ name: "belay-cli.cjs", prefix: "" }]
/** The starts of the other scripts' cache names (the main script's have none). */
const PREFIXES = ["fleet.", "fast."]

/** The key of a command line whose output is stored: `--version`, or a command path asking for help. */
const storedKey = () => {
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-v")) return "--version"
  if (args.length === 0) return ""
  const last = args[args.length - 1]
  const commandPath = args.slice(0, -1)
  if ((last === "--help" || last === "-h") && commandPath.every((a) => !a.startsWith("-")))
    return commandPath.join(" ")
  return undefined
}

const storedOutput = () => {
  const key = storedKey()
  if (key === undefined) return undefined
  try {
    const stored = JSON.parse(fs.readFileSync(path.join(bundle, "output.json"), "utf8"))
    // As the parser decides: colors on a terminal, unless NO_COLOR is set.
    const table = process.stdout.isTTY === true && !process.env.NO_COLOR ? stored.colors : stored.plain
    return Object.hasOwn(table, key) ? table[key] : undefined
  } catch {
    // No stored output: the parser prints it.
    return undefined
  }
}

/** The folder of the compile cache, or undefined when it is turned off. */
const cacheFolder = () => {
  const setting = process.env.BELAY_COMPILE_CACHE
  if (setting === "0" || process.env.NODE_DISABLE_COMPILE_CACHE) return undefined
  if (setting !== undefined && setting !== "" && setting !== "1") return path.resolve(setting)
  const base =
    process.env.XDG_CACHE_HOME ||
    (process.platform === "win32" ? process.env.LOCALAPPDATA : undefined) ||
    path.join(os.homedir(), ".cache")
  return path.join(base, "belay", "compile")
}

/** The bundle's content name, from its first line (`// belay-bundle <sha256>`). */
const CONTENT_LINE = /^\/\/ belay-bundle ([0-9a-f]{64})\n/

/**
 * The cache file for this command line: the command word (the first argument that is not a
 * flag, so `belay -d a0 ls` and `belay ls` share one), the bundle's content, Node and the CPU.
 */
const cacheFile = (folder, prefix, contentId) => {
  const command = /^[a-z][a-z0-9-]{0,31}$/.test(commandWord) ? commandWord : "other"
  return path.join(
    folder,
    `${prefix}${command}-${contentId.slice(0, 16)}-${process.version}-${process.arch}.v8`,
  )
}

/** Save what V8 compiled, in place of a missing or refused cache; drop other builds' caches. */
const saveCache = (script, folder, prefix, file, contentId) => {
  try {
    const data = script.createCachedData()
    fs.mkdirSync(folder, { recursive: true, mode: 0o700 })
    // Written aside, then renamed: a command running at the same time reads a whole cache or none.
    const partial = `${file}.${process.pid}.partial`
    fs.writeFileSync(partial, data, { mode: 0o600 })
    fs.renameSync(partial, file)
    const current = contentId.slice(0, 16)
    for (const name of fs.readdirSync(folder)) {
      const sameScript = prefix === "" ? !PREFIXES.some((p) => name.startsWith(p)) : name.startsWith(prefix)
      if (name.endsWith(".v8") && sameScript && !name.includes(`-${current}-`))
        fs.rmSync(path.join(folder, name), { force: true })
    }
  } catch {
    // A cache is only a speed-up: a folder that cannot be written leaves the command as it was.
  }
}

/** Load a script of the bundle (with the compile cache when there is one) and return its exports. */
const loadBundle = ({ name, prefix }) => {
  const scriptPath = path.join(bundle, name)
  const source = fs.readFileSync(scriptPath, "utf8")
  const contentId = CONTENT_LINE.exec(source)?.[1]
  const folder = contentId === undefined ? undefined : cacheFolder()
  const file = folder === undefined ? undefined : cacheFile(folder, prefix, contentId)
  let cachedData
  if (file !== undefined) {
    try {
      cachedData = fs.readFileSync(file)
    } catch {
      // No cache yet.
    }
  }
  const script = new vm.Script(nodeModule.wrap(source), {
    filename: scriptPath,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  })
  if (file !== undefined && (cachedData === undefined || script.cachedDataRejected === true)) {
    // At exit, so the cache holds the code of everything the command ran, not only the top level.
    process.once("exit", () => saveCache(script, folder, prefix, file, contentId))
  }
  const bundleModule = { exports: {} }
  script
    .runInThisContext()
    .call(
      bundleModule.exports,
      bundleModule.exports,
      nodeModule.createRequire(scriptPath),
      bundleModule,
      scriptPath,
      bundle,
    )
  return bundleModule.exports
}

const failed = (error) => {
  process.stderr.write(
    error?.code === "ENOENT" && error?.path?.startsWith(bundle)
      ? `belay: the command's bundle is missing (${error.path}); build it with \`pnpm build\`\n`
      : `belay: ${error?.stack ?? error}\n`,
  )
  process.exitCode = 1
}

/**
 * Run the command line with the scripts from `index` on, until one takes it: its exit code, and
 * whether the fast path of `exec` and `eval` took it.
 */
const runFrom = (index) => {
  const script = scripts[index]
  return Promise.resolve(loadBundle(script).run(args)).then((code) =>
    code === undefined && index + 1 < scripts.length
      ? runFrom(index + 1)
      : { code, fast: script.prefix === "fast." },
  )
}

/**
 * Whether the command has used `process.stdout` or `process.stderr`. Node builds each stream the
 * first time it is read (a pipe's loads Node's socket and stream modules, about 3 ms), so a
 * command that printed nothing, such as `belay exec pass`, is not made to build them only to be
 * asked whether they hold unwritten output.
 */
const streamsUsed = new Set()
for (const name of ["stdout", "stderr"]) {
  const descriptor = Object.getOwnPropertyDescriptor(process, name)
  if (descriptor?.get !== undefined && descriptor.configurable === true)
    Object.defineProperty(process, name, {
      ...descriptor,
      get() {
        streamsUsed.add(name)
        return descriptor.get.call(this)
      },
    })
  else streamsUsed.add(name)
}
/** Whether `name` holds output not yet handed to the system (never when it was not used). */
const holdsOutput = (name) => streamsUsed.has(name) && process[name].writableLength > 0

const text = storedOutput()
if (text !== undefined) process.stdout.write(text)
else {
  try {
    runFrom(0).then(({ code, fast }) => {
      process.exitCode = code
      // The fast path has closed its board and written its output when it returns: exiting now
      // spares the few milliseconds Node spends tearing down its heap and threads on the way out
      // (`exit` handlers, such as the compile cache's, still run). Only when nothing waits to be
      // written to stdout or stderr (a pipe is asynchronous on some systems).
      if (fast && !holdsOutput("stdout") && !holdsOutput("stderr")) process.exit()
    }, failed)
  } catch (error) {
    failed(error)
  }
}

#!/usr/bin/env node
/**
 * The `belay` command. CommonJS, so that `--version` and help print without starting Node's ES
 * module loader: their text is what the argument parser printed when the bundle was built
 * (scripts/bundle.mjs stores it in dist/bundle/output.json). Every other command line goes to the
 * bundle's entry, dist/bundle/belay.mjs, which loads only what the command uses.
 */
"use strict"
const { readFileSync } = require("node:fs")
const nodeModule = require("node:module")
const path = require("node:path")
const { pathToFileURL } = require("node:url")

const bundle = path.join(__dirname, "..", "dist", "bundle")
const args = process.argv.slice(2)

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
    const stored = JSON.parse(readFileSync(path.join(bundle, "output.json"), "utf8"))
    // As the parser decides: colors on a terminal, unless NO_COLOR is set.
    const table = process.stdout.isTTY === true && !process.env.NO_COLOR ? stored.colors : stored.plain
    return Object.hasOwn(table, key) ? table[key] : undefined
  } catch {
    // No stored output: the parser prints it.
    return undefined
  }
}

const text = storedOutput()
if (text !== undefined) process.stdout.write(text)
else {
  // Node 22.1 and later keep the compiled bundle on disk between runs (absent before).
  nodeModule.enableCompileCache?.()
  import(pathToFileURL(path.join(bundle, "belay.mjs")).href).catch((error) => {
    process.stderr.write(
      error?.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes(bundle)
        ? `belay: the command's bundle is missing (${bundle}); build it with \`pnpm build\`\n`
        : `belay: ${error?.stack ?? error}\n`,
    )
    process.exitCode = 1
  })
}

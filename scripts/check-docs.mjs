#!/usr/bin/env node
/**
 * Every public export of a library package is documented: a JSDoc block with `@since`, and with
 * an `@example` for values (functions, constants, classes). The public exports are those named in
 * the package's `src/index.ts` (and the subpath entries its `package.json` exports, `/internal`
 * excepted); each is found at its declaration in the module it comes from.
 *
 * Run: `node scripts/check-docs.mjs` (part of `pnpm lint`). Prints what is missing and exits 1.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const packagesDir = join(root, "packages")

/** `export { a, type B, c as d } from "./X.js"` and `export type { ... } from`: [name, module] pairs. */
const namedReExports = (source) => {
  const out = []
  const re = /export\s+(type\s+)?\{([^}]*)\}\s+from\s+"(\.[^"]+)"/g
  for (const match of source.matchAll(re)) {
    for (const raw of match[2].split(",")) {
      const item = raw.replace(/\/\/.*$/gm, "").trim()
      if (item === "") continue
      const name = item
        .replace(/^type\s+/, "")
        .split(/\s+as\s+/)[0]
        .trim()
      out.push([name, match[3]])
    }
  }
  return out
}

/** The module file behind a relative `./X.js` specifier. */
const moduleFile = (fromFile, specifier) => {
  const base = resolve(dirname(fromFile), specifier)
  for (const candidate of [base.replace(/\.js$/, ".ts"), base.replace(/\.js$/, ".tsx"), `${base}.ts`]) {
    if (existsSync(candidate)) return candidate
  }
  return undefined
}

const DECLARATION = (name) =>
  new RegExp(
    `^export\\s+(declare\\s+)?(abstract\\s+)?(const|let|function\\*?|class|interface|type|enum|namespace)\\s+${name}\\b`,
    "m",
  )

/** The JSDoc block right above `index` in `source`, if any. */
const docAbove = (source, index) => {
  const before = source.slice(0, index).trimEnd()
  if (!before.endsWith("*/")) return undefined
  const start = before.lastIndexOf("/**")
  return start < 0 ? undefined : before.slice(start)
}

/** Names a module imports from relative modules: [name, specifier] pairs. */
const namedImports = (source) => {
  const out = []
  for (const match of source.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s+from\s+"(\.[^"]+)"/g)) {
    for (const raw of match[2].split(",")) {
      const name = raw
        .trim()
        .replace(/^type\s+/, "")
        .split(/\s+as\s+/)
        .pop()
        ?.trim()
      if (name) out.push([name, match[3]])
    }
  }
  return out
}

/**
 * Where `name` is declared, starting in `file`: followed through `export { name } from` and
 * through `import { name } from` ... `export { name }`.
 */
const findDeclaration = (file, name, depth = 0) => {
  if (file === undefined || depth > 8) return undefined
  const source = readFileSync(file, "utf8")
  const match = DECLARATION(name).exec(source)
  if (match !== null) return { file, source, match }
  const next =
    namedReExports(source).find(([n]) => n === name) ?? namedImports(source).find(([n]) => n === name)
  return next === undefined ? undefined : findDeclaration(moduleFile(file, next[1]), name, depth + 1)
}

const problems = []
for (const pkg of readdirSync(packagesDir)) {
  const manifestPath = join(packagesDir, pkg, "package.json")
  if (!existsSync(manifestPath)) continue
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8"))
  const entries = []
  for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
    if (subpath.includes("internal") || subpath.includes("testing")) continue
    const types = typeof target === "string" ? target : (target.types ?? target.import)
    if (typeof types !== "string") continue
    const src = join(packagesDir, pkg, types.replace(/^\.\/dist\//, "src/").replace(/\.d\.ts$|\.js$/, ".ts"))
    if (existsSync(src)) entries.push(src)
  }
  for (const entry of entries) {
    const index = readFileSync(entry, "utf8")
    // `export *` only of another entry of the package (the Node entry is the browser entry and
    // more): that entry's exports are checked in their turn.
    for (const star of index.matchAll(/export\s+\*\s+from\s+"([^"]+)"/g)) {
      if (!entries.includes(moduleFile(entry, star[1])))
        problems.push(
          `${pkg}: ${entry.slice(root.length + 1)} uses export * of a module that is not an entry`,
        )
    }
    for (const [name, specifier] of namedReExports(index)) {
      const found = findDeclaration(moduleFile(entry, specifier), name)
      if (found === undefined) {
        problems.push(`${pkg}: ${name} (${specifier}): declaration not found`)
        continue
      }
      const { file, source, match } = found
      const where = `${pkg}: ${name} (${file.slice(root.length + 1)})`
      const doc = docAbove(source, match.index)
      const kind = match[3]
      if (doc === undefined) problems.push(`${where}: no JSDoc`)
      else {
        if (!doc.includes("@since")) problems.push(`${where}: no @since`)
        const isValue = kind === "const" || kind.startsWith("function") || kind === "class"
        if (isValue && !doc.includes("@example")) problems.push(`${where}: no @example`)
      }
    }
  }
}

if (problems.length > 0) {
  console.error(`Public API documentation: ${problems.length} problem(s)`)
  for (const p of problems) console.error(`  ${p}`)
  process.exit(1)
}
console.log("Public API documentation: every public export has JSDoc, @since and (for values) an @example")

/**
 * The `package.json` manifest format that MicroPython's `mip` reads: `hashes` (files stored in
 * the index by their SHA-256 short hash), `urls` (files fetched from a URL), `deps` (other
 * packages) and `version`. Checked field by field; file paths must stay inside the target.
 */
import { Effect } from "effect"
import { ManifestError } from "./errors.js"

/**
 * A package manifest in mip's format, checked.
 *
 * @example
 * const manifest: PackageManifest = {
 *   version: "0.1.0",
 *   hashes: [["sensors/__init__.py", "a1b2c3d4"]],
 *   urls: [["sensors/util.py", "github:org/repo/sensors/util.py"]],
 *   deps: [["logging", "latest"]],
 * }
 *
 * @since 0.1.0
 */
export interface PackageManifest {
  readonly version: string | undefined
  /** `[path in the target, SHA-256 hex prefix]`: the file is at `{index}/file/{hash[:2]}/{hash}`. */
  readonly hashes: ReadonlyArray<readonly [string, string]>
  /** `[path in the target, URL]`: a full URL, `github:`/`gitlab:`, or relative to the manifest. */
  readonly urls: ReadonlyArray<readonly [string, string]>
  /** `[package name or URL, version or ref]`. */
  readonly deps: ReadonlyArray<readonly [string, string | undefined]>
}

const HEX = /^[0-9a-f]{8,64}$/

/**
 * A manifest's file path, checked to stay inside the install target: relative, `/`-separated,
 * without empty, `.` or `..` components, NUL or backslashes.
 */
export const checkTargetPath = (file: string): string | undefined => {
  if (file === "" || file.startsWith("/") || file.includes("\\") || file.includes("\0"))
    return `unsafe file path ${JSON.stringify(file)}`
  if (file.split("/").some((p) => p === "" || p === "." || p === ".."))
    return `unsafe file path ${JSON.stringify(file)}`
  return undefined
}

const pairs = (
  value: unknown,
  field: string,
  optionalSecond: boolean,
): Array<readonly [string, string | undefined]> | string => {
  if (value === undefined) return []
  if (!Array.isArray(value)) return `${field} must be a list of pairs`
  const out: Array<readonly [string, string | undefined]> = []
  for (const item of value) {
    if (
      !Array.isArray(item) ||
      typeof item[0] !== "string" ||
      !(typeof item[1] === "string" || (optionalSecond && (item[1] === undefined || item[1] === null)))
    )
      return `${field}: each entry must be [string, string], got ${JSON.stringify(item)}`
    out.push([item[0], typeof item[1] === "string" ? item[1] : undefined])
  }
  return out
}

/**
 * Parse and check a manifest's text; `url` names it in errors.
 *
 * @example
 * const manifest = yield* parseManifest('{"urls": [["util.py", "util.py"]], "version": "1.0"}', "./pkg/package.json")
 *
 * @since 0.1.0
 */
export const parseManifest = (text: string, url: string): Effect.Effect<PackageManifest, ManifestError> =>
  Effect.suspend(() => {
    const fail = (reason: string) => Effect.fail(new ManifestError({ url, reason }))
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (error) {
      return fail(`not JSON (${(error as Error).message})`)
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) return fail("not a JSON object")
    const object = json as Record<string, unknown>
    const version = object.version
    if (version !== undefined && typeof version !== "string") return fail("version must be a string")
    const hashes = pairs(object.hashes, "hashes", false)
    if (typeof hashes === "string") return fail(hashes)
    const urls = pairs(object.urls, "urls", false)
    if (typeof urls === "string") return fail(urls)
    const deps = pairs(object.deps, "deps", true)
    if (typeof deps === "string") return fail(deps)
    for (const [file, hash] of hashes) {
      const problem = checkTargetPath(file)
      if (problem !== undefined) return fail(problem)
      if (!HEX.test(hash ?? "")) return fail(`hashes: ${JSON.stringify(hash)} is not a SHA-256 hex prefix`)
    }
    for (const [file] of urls) {
      const problem = checkTargetPath(file)
      if (problem !== undefined) return fail(problem)
    }
    for (const [dep] of deps) if (dep.trim() === "") return fail("deps: an empty package name")
    return Effect.succeed({
      version,
      hashes: hashes as ReadonlyArray<readonly [string, string]>,
      urls: urls as ReadonlyArray<readonly [string, string]>,
      deps,
    })
  })

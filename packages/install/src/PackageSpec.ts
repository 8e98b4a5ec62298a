/**
 * What a person names when installing: a package of an index, a `github:`/`gitlab:` repository
 * path, an `http(s)` URL (of a `package.json` manifest or of one `.py`/`.mpy` file), or a local
 * folder, manifest or file. Parsed up front, before anything is fetched.
 */
import path from "node:path"
import { Effect } from "effect"
import { InvalidSpecError } from "./errors.js"

/**
 * A parsed package source.
 *
 * - `index`: a name looked up in the index (`{index}/package/{mpy}/{name}/{version}.json`);
 *   `version` `undefined` means `latest`.
 * - `url`: `github:org/repo[/path]`, `gitlab:org/repo[/path]` or `http(s)://...`; `ref` is the
 *   branch, tag or commit for `github:`/`gitlab:` (`HEAD` when not given).
 * - `local`: a folder (its `package.json`), a manifest file, or one `.py`/`.mpy` file, absolute.
 *
 * @example
 * const source: PackageSource = { kind: "index", name: "aioble", version: undefined }
 *
 * @since 0.1.0
 */
export type PackageSource =
  | { readonly kind: "index"; readonly name: string; readonly version: string | undefined }
  | { readonly kind: "url"; readonly url: string; readonly ref: string | undefined }
  | { readonly kind: "local"; readonly path: string }

const URL_PREFIXES = ["http://", "https://", "github:", "gitlab:"] as const
const INDEX_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/
const VERSION = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/

/** True for the URL forms mip accepts for a package or a file: `http(s)://`, `github:`, `gitlab:`. */
export const isUrl = (spec: string): boolean => URL_PREFIXES.some((p) => spec.startsWith(p))

const isLocal = (spec: string) =>
  spec.startsWith("./") ||
  spec.startsWith("../") ||
  spec.startsWith("/") ||
  spec.startsWith("file:") ||
  spec === "." ||
  spec === ".." ||
  /^[A-Za-z]:[\\/]/.test(spec)

const invalid = (spec: string, reason: string) => Effect.fail(new InvalidSpecError({ spec, reason }))

/**
 * Parse what a person typed: `aioble`, `aioble@0.5.2`, `github:org/repo/pkg@v1.0`,
 * `https://host/pkg/package.json`, `./vendor/pkg`. Local paths are made absolute against `cwd`.
 *
 * @example
 * const source = yield* parsePackageSpec("github:org/repo/sensors@v1.2")
 * // { kind: "url", url: "github:org/repo/sensors", ref: "v1.2" }
 *
 * @since 0.1.0
 */
export const parsePackageSpec = (
  spec: string,
  cwd: string = process.cwd(),
): Effect.Effect<PackageSource, InvalidSpecError> => {
  const text = spec.trim()
  if (text === "") return invalid(spec, "empty")
  if (text.startsWith("github:") || text.startsWith("gitlab:")) {
    const at = text.lastIndexOf("@")
    const [url, ref] = at > 0 ? [text.slice(0, at), text.slice(at + 1)] : [text, undefined]
    const parts = url.slice(7).split("/")
    if (parts.length < 2 || parts[0] === "" || parts[1] === "")
      return invalid(spec, `${url.slice(0, 7)} needs org/repo[/path][@ref]`)
    if (parts.some((p, i) => i > 1 && (p === ".." || p === ".")))
      return invalid(spec, "a repository path cannot contain . or ..")
    if (ref !== undefined && (ref === "" || !VERSION.test(ref)))
      return invalid(spec, `not a branch, tag or commit: ${JSON.stringify(ref)}`)
    return Effect.succeed({ kind: "url", url: url.replace(/\/+$/, ""), ref })
  }
  if (text.startsWith("http://") || text.startsWith("https://")) {
    try {
      new URL(text)
    } catch {
      return invalid(spec, "not a valid URL")
    }
    return Effect.succeed({ kind: "url", url: text, ref: undefined })
  }
  if (isLocal(text)) {
    const local = text.startsWith("file:") ? text.slice(text.startsWith("file://") ? 7 : 5) : text
    return Effect.succeed({ kind: "local", path: path.resolve(cwd, local) })
  }
  const at = text.indexOf("@")
  const [name, version] = at >= 0 ? [text.slice(0, at), text.slice(at + 1)] : [text, undefined]
  if (!INDEX_NAME.test(name))
    return invalid(
      spec,
      "not a package name (letters, digits, _ . -), URL (http(s)://, github:, gitlab:) or local path (./, ../, /)",
    )
  if (version !== undefined && !VERSION.test(version))
    return invalid(spec, `not a version: ${JSON.stringify(version)}`)
  return Effect.succeed({ kind: "index", name, version })
}

/**
 * A declared dependency (`"name": "value"` in the project's `micropython.dependencies`): a value
 * that is a version (`latest`, `0.5.2`) names the package `name` in the index; any other value
 * is a source (`github:...`, a URL, `./path`), installed under `name`.
 *
 * @example
 * const source = yield* dependencySource("aioble", "latest", "/project")
 *
 * @since 0.1.0
 */
export const dependencySource = (
  name: string,
  value: string,
  projectDir: string,
): Effect.Effect<PackageSource, InvalidSpecError> =>
  VERSION.test(value) && !isLocal(value)
    ? parsePackageSpec(`${name}@${value}`, projectDir)
    : parsePackageSpec(value, projectDir)

/**
 * mip's URL rewriting: `github:org/repo/path` to raw.githubusercontent.com at `ref`,
 * `gitlab:org/repo/path` to gitlab.com's raw files; `http(s)` URLs as they are.
 *
 * @example
 * rewriteUrl("github:org/repo/pkg/package.json", "v1") // "https://raw.githubusercontent.com/org/repo/v1/pkg/package.json"
 *
 * @since 0.1.0
 */
export const rewriteUrl = (url: string, ref: string | undefined): string => {
  const branch = ref === undefined || ref === "" ? "HEAD" : ref
  if (url.startsWith("github:") || url.startsWith("gitlab:")) {
    const [org, repo, ...rest] = url.slice(7).split("/")
    const host = url.startsWith("github:")
      ? `https://raw.githubusercontent.com/${org}/${repo}/${branch}`
      : `https://gitlab.com/${org}/${repo}/-/raw/${branch}`
    return rest.length === 0 ? host : `${host}/${rest.join("/")}`
  }
  return url
}

/** True when a URL or path names one module file rather than a package. */
export const isSingleFile = (location: string): boolean => /\.m?py$/.test(location)

/** Where a URL source's manifest is: the URL itself when it ends in `.json`, else its `package.json`. */
export const manifestLocation = (url: string): string =>
  url.endsWith(".json") ? url : `${url.replace(/\/+$/, "")}/package.json`

/**
 * The name a source installs under when none is given: the index name, else the last
 * meaningful component of the URL or path (`github:org/repo/sensors` is `sensors`,
 * `.../pkg/package.json` is `pkg`, `.../util.py` is `util`).
 *
 * @example
 * sourceName({ kind: "url", url: "github:org/repo/sensors", ref: undefined }) // "sensors"
 *
 * @since 0.1.0
 */
export const sourceName = (source: PackageSource): string => {
  if (source.kind === "index") return source.name
  const location = source.kind === "url" ? source.url.replace(/^(github|gitlab):/, "") : source.path
  const parts = location.split(/[\\/]/).filter((p) => p !== "" && !p.includes(":"))
  let last = parts.at(-1) ?? "package"
  if (last.endsWith(".json") && parts.length > 1) last = parts.at(-2) ?? last
  return last.replace(/\.(m?py|json)$/, "")
}

/**
 * A source written back as a spec (for reports, the lock file and the board's record).
 *
 * @example
 * formatSource({ kind: "index", name: "aioble", version: "0.5.2" }) // "aioble@0.5.2"
 *
 * @since 0.1.0
 */
export const formatSource = (source: PackageSource): string =>
  source.kind === "index"
    ? `${source.name}${source.version === undefined ? "" : `@${source.version}`}`
    : source.kind === "url"
      ? `${source.url}${source.ref === undefined ? "" : `@${source.ref}`}`
      : source.path

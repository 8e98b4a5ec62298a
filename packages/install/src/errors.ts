import { Data } from "effect"

/**
 * A package source that cannot be understood: an empty name, a `github:` spec without a
 * repository, a version where none can go.
 *
 * @example
 * parsePackageSpec("github:") // fails with InvalidSpecError
 *
 * @since 0.1.0
 */
export class InvalidSpecError extends Data.TaggedError("InvalidSpecError")<{
  readonly spec: string
  readonly reason: string
}> {
  override get message() {
    return `package ${JSON.stringify(this.spec)}: ${this.reason}`
  }
}

/**
 * A download failed: the server answered with an HTTP status other than 200 (`status`), or
 * could not be reached, timed out, or sent more than the size limit (`reason`). A local file that
 * cannot be read is reported the same way, with its path as `url`.
 *
 * @example
 * Effect.catchTag("DownloadError", (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export class DownloadError extends Data.TaggedError("DownloadError")<{
  readonly url: string
  readonly status?: number
  readonly reason: string
}> {
  override get message() {
    return `${this.url}: ${this.status === undefined ? "" : `HTTP ${this.status}, `}${this.reason}`
  }
}

/**
 * A package was not found: its manifest is missing from the index (for its name, version and
 * `.mpy` version), or at the URL or folder given.
 *
 * @example
 * Effect.catchTag("PackageNotFoundError", (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export class PackageNotFoundError extends Data.TaggedError("PackageNotFoundError")<{
  readonly spec: string
  readonly tried: ReadonlyArray<string>
}> {
  override get message() {
    return `package ${this.spec} not found (tried ${this.tried.join(", ")})`
  }
}

/**
 * A `package.json` manifest (mip's format) that is not valid: not JSON, a field of the wrong
 * shape, or a file path that would land outside the install target (absolute, `..`, empty).
 *
 * @example
 * Effect.catchTag("ManifestError", (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export class ManifestError extends Data.TaggedError("ManifestError")<{
  readonly url: string
  readonly reason: string
}> {
  override get message() {
    return `manifest ${this.url}: ${this.reason}`
  }
}

/**
 * Downloaded bytes whose SHA-256 is not the one the manifest (its short hash) or the lock file
 * (the full hash) names: the file is refused, nothing of it is cached or uploaded.
 *
 * @example
 * Effect.catchTag("HashMismatchError", (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export class HashMismatchError extends Data.TaggedError("HashMismatchError")<{
  readonly url: string
  readonly path: string
  readonly expected: string
  readonly actual: string
}> {
  override get message() {
    return `${this.path} from ${this.url}: SHA-256 ${this.actual} does not match the expected ${this.expected}; refused`
  }
}

/**
 * Two packages of one install that cannot both be satisfied: two versions of one package asked
 * for explicitly, or two different files for the same path on the board.
 *
 * @example
 * Effect.catchTag("InstallConflictError", (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export class InstallConflictError extends Data.TaggedError("InstallConflictError")<{
  readonly what: string
  readonly first: string
  readonly second: string
}> {
  override get message() {
    return `${this.what}: ${this.first} and ${this.second} conflict`
  }
}

/**
 * The project file (`package.json` with a `micropython` key) or the lock file cannot be read,
 * or is not valid; or, with `frozen`, the lock file does not match the declared dependencies.
 *
 * @example
 * Effect.catchTag("ProjectError", (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export class ProjectError extends Data.TaggedError("ProjectError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `${this.path}: ${this.reason}`
  }
}

/**
 * `uninstall` of a package the board's record does not list.
 *
 * @example
 * Effect.catchTag("NotInstalledError", (e) => Console.error(e.message))
 *
 * @since 0.1.0
 */
export class NotInstalledError extends Data.TaggedError("NotInstalledError")<{
  readonly packageName: string
  readonly target: string
}> {
  override get message() {
    return `${this.packageName} is not installed in ${this.target} (see the board's package record: belay list)`
  }
}

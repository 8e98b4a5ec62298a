/**
 * The host's cache of downloaded package files, so that a repeat install works offline. Content
 * is stored by its SHA-256 (`content/ab/abcdef...`), checked again when read; each URL points at
 * the content last seen there (`urls/<sha256 of the URL>`). Writes go to a temporary file and are
 * renamed into place, so a killed process never leaves a half-written entry.
 */
import { createHash, randomBytes } from "node:crypto"
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { Effect } from "effect"

/**
 * The cache directory (a variable set empty counts as unset): `BELAY_CACHE_DIR`, else `$XDG_CACHE_HOME/belay/packages`, else
 * `~/.cache/belay/packages`.
 *
 * @example
 * defaultCacheDir() // "/home/me/.cache/belay/packages"
 *
 * @since 0.1.0
 */
export const defaultCacheDir = (): string =>
  process.env.BELAY_CACHE_DIR ||
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "belay", "packages")

/** SHA-256 of bytes, lowercase hex. */
export const sha256Hex = (bytes: Uint8Array | string): string =>
  createHash("sha256").update(bytes).digest("hex")

/**
 * A cache of package files on the host. Reads never fail (a missing or damaged entry is a
 * miss); a write that fails is ignored (the install goes on, it is only not cached).
 *
 * @example
 * const cache = packageCache("/tmp/belay-cache")
 * const bytes = yield* cache.content("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
 *
 * @since 0.1.0
 */
export interface PackageCache {
  readonly dir: string
  /** The bytes whose SHA-256 is `sha256`, if cached (and still intact). */
  readonly content: (sha256: string) => Effect.Effect<Uint8Array | undefined>
  /** The bytes last downloaded from `url`, if cached. */
  readonly atUrl: (url: string) => Effect.Effect<Uint8Array | undefined>
  /** Keep `bytes`, seen at `url` (when given); returns their SHA-256. */
  readonly put: (bytes: Uint8Array, url?: string) => Effect.Effect<string>
}

/**
 * The cache kept in `dir` (default {@link defaultCacheDir}).
 *
 * @example
 * const cache = packageCache()
 *
 * @since 0.1.0
 */
export const packageCache = (dir: string = defaultCacheDir()): PackageCache => {
  const contentPath = (sha: string) => path.join(dir, "content", sha.slice(0, 2), sha)
  const urlPath = (url: string) => path.join(dir, "urls", sha256Hex(url))
  const readOrUndefined = (file: string) =>
    Effect.promise(() =>
      readFile(file).then(
        (b) => new Uint8Array(b),
        () => undefined,
      ),
    )
  const writeAtomic = (file: string, data: Uint8Array | string) =>
    Effect.promise(async () => {
      const temporary = `${file}.${randomBytes(6).toString("hex")}.tmp`
      try {
        await mkdir(path.dirname(file), { recursive: true })
        await writeFile(temporary, data)
        await rename(temporary, file)
      } catch {
        await rm(temporary, { force: true }).catch(() => undefined)
      }
    })
  const content = (sha: string) =>
    /^[0-9a-f]{64}$/.test(sha)
      ? Effect.map(readOrUndefined(contentPath(sha)), (bytes) =>
          bytes !== undefined && sha256Hex(bytes) === sha ? bytes : undefined,
        )
      : Effect.succeed(undefined)
  return {
    dir,
    content,
    atUrl: (url) =>
      Effect.flatMap(readOrUndefined(urlPath(url)), (pointer) =>
        pointer === undefined ? Effect.succeed(undefined) : content(new TextDecoder().decode(pointer).trim()),
      ),
    put: (bytes, url) =>
      Effect.gen(function* () {
        const sha = sha256Hex(bytes)
        yield* writeAtomic(contentPath(sha), bytes)
        if (url !== undefined) yield* writeAtomic(urlPath(url), sha)
        return sha
      }),
  }
}

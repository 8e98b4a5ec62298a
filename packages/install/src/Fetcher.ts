/**
 * Getting a manifest or a file: over HTTP(S) with Node's `fetch` (a bounded timeout, a size
 * limit, transient failures tried again on a `Schedule`), or from a local path; through the
 * cache, and checked against the hash it must have before anyone sees the bytes.
 */
import { readFile } from "node:fs/promises"
import { Effect, Schedule } from "effect"
import { DownloadError, HashMismatchError } from "./errors.js"
import type { PackageCache } from "./PackageCache.js"
import { sha256Hex } from "./PackageCache.js"

/**
 * How downloads behave.
 *
 * @example
 * const options: FetchOptions = { timeoutMs: 10_000, maxBytes: 4 * 1024 * 1024, retries: 2, offline: false }
 *
 * @since 0.1.0
 */
export interface FetchOptions {
  /** Bound on one request, headers and body (default 30 000). */
  readonly timeoutMs?: number
  /** Largest file accepted (default 16 MiB). */
  readonly maxBytes?: number
  /** Further tries after a network error, a timeout or an HTTP 5xx/429 (default 2). */
  readonly retries?: number
  /** Never use the network: everything comes from the cache (or local paths). */
  readonly offline?: boolean
}

/** What the bytes must hash to: the full SHA-256, or a prefix of it (mip's short hash). */
export interface Expected {
  readonly sha256?: string
  readonly prefix?: string
  /** Names the file in a mismatch error (its path in the package). */
  readonly label: string
}

/** How to get one location. */
export interface GetOptions {
  /** The content can change at this URL (`latest.json`, a branch): ask the network first, fall back to the cache. */
  readonly mutable: boolean
  readonly expect?: Expected
}

/**
 * Gets manifests and files; bound to a cache and options (see {@link makeFetcher}).
 *
 * @since 0.1.0
 */
export interface Fetcher {
  readonly get: (
    location: string,
    options: GetOptions,
  ) => Effect.Effect<Uint8Array, DownloadError | HashMismatchError>
}

/** True for a 404 from a server, or a local path that does not exist. */
export const isNotFound = (error: DownloadError): boolean => error.status === 404 || error.reason === "ENOENT"

const isHttp = (location: string) => location.startsWith("http://") || location.startsWith("https://")

const transient = (error: DownloadError) =>
  error.status === undefined ? error.reason !== "too large" : error.status >= 500 || error.status === 429

const httpGet = (url: string, timeoutMs: number, maxBytes: number) =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(url, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
        redirect: "follow",
      })
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => undefined)
        return { status: response.status }
      }
      const length = Number(response.headers.get("content-length") ?? "0")
      if (length > maxBytes) {
        await response.body?.cancel().catch(() => undefined)
        return { tooLarge: true as const }
      }
      const body = new Uint8Array(await response.arrayBuffer())
      return body.length > maxBytes ? { tooLarge: true as const } : { body }
    },
    catch: (cause) =>
      new DownloadError({
        url,
        reason:
          cause instanceof Error && (cause.name === "TimeoutError" || cause.name === "AbortError")
            ? `no answer within ${timeoutMs} ms`
            : cause instanceof Error
              ? `${cause.message}${cause.cause instanceof Error ? ` (${cause.cause.message})` : ""}`
              : String(cause),
      }),
  }).pipe(
    Effect.flatMap((result) =>
      "body" in result
        ? Effect.succeed(result.body)
        : "tooLarge" in result
          ? Effect.fail(new DownloadError({ url, reason: "too large" }))
          : Effect.fail(
              new DownloadError({
                url,
                status: result.status,
                reason: result.status === 404 ? "not found" : "request failed",
              }),
            ),
    ),
  )

const localGet = (file: string) =>
  Effect.tryPromise({
    try: () => readFile(file),
    catch: (cause) =>
      new DownloadError({ url: file, reason: (cause as NodeJS.ErrnoException).code ?? String(cause) }),
  }).pipe(Effect.map((b) => new Uint8Array(b)))

/**
 * A fetcher over `cache` with `options`.
 *
 * @example
 * const fetcher = makeFetcher(packageCache(), { timeoutMs: 10_000 })
 * const bytes = yield* fetcher.get("https://micropython.org/pi/v2/index.json", { mutable: true })
 *
 * @since 0.1.0
 */
export const makeFetcher = (cache: PackageCache, options: FetchOptions = {}): Fetcher => {
  const timeoutMs = options.timeoutMs ?? 30_000
  const maxBytes = options.maxBytes ?? 16 * 1024 * 1024
  const retries = options.retries ?? 2
  const check = (location: string, bytes: Uint8Array, expect: Expected | undefined) => {
    if (expect === undefined) return Effect.succeed(bytes)
    const actual = sha256Hex(bytes)
    const wanted = expect.sha256 ?? expect.prefix ?? ""
    return actual.startsWith(wanted)
      ? Effect.succeed(bytes)
      : Effect.fail(new HashMismatchError({ url: location, path: expect.label, expected: wanted, actual }))
  }
  const matches = (bytes: Uint8Array | undefined, expect: Expected | undefined) =>
    bytes !== undefined && (expect?.prefix === undefined || sha256Hex(bytes).startsWith(expect.prefix))
  const get = (location: string, { mutable, expect }: GetOptions) =>
    Effect.gen(function* () {
      if (expect?.sha256 !== undefined) {
        const cached = yield* cache.content(expect.sha256)
        if (cached !== undefined) return cached
      }
      if (!isHttp(location)) {
        const bytes = yield* check(location, yield* localGet(location), expect)
        yield* cache.put(bytes)
        return bytes
      }
      const cached = yield* cache.atUrl(location)
      if (!mutable && expect?.sha256 === undefined && matches(cached, expect)) return cached as Uint8Array
      if (options.offline === true) {
        if (cached !== undefined && mutable) return cached
        return yield* new DownloadError({ url: location, reason: "offline, and not in the cache" })
      }
      const downloaded = yield* httpGet(location, timeoutMs, maxBytes).pipe(
        Effect.retry({ schedule: Schedule.exponential("200 millis"), times: retries, while: transient }),
        Effect.catchTag("DownloadError", (error) =>
          mutable && cached !== undefined && error.status === undefined
            ? Effect.succeed(cached)
            : Effect.fail(error),
        ),
      )
      const bytes = yield* check(location, downloaded, expect)
      yield* cache.put(bytes, location)
      return bytes
    })
  return { get }
}

/**
 * What the Chromium benchmark measures, written once for both sides: bundled for the browser (its
 * `@belay/*` imports resolve to the browser entries) and imported in Node as it is. Open a board,
 * time `exec` round trips and verified 256 KB uploads in one session, and report the samples.
 */
import { makeDeviceSessionManager } from "@belay/core"
import { boardFileSystem } from "@belay/filesystem"
import { type ByteLink, makeDeviceCommunication } from "@belay/transport"
import { Effect, References, type Scope } from "effect"

/** The samples of one run, in milliseconds. */
export interface Samples {
  readonly link: string
  readonly openMs: number
  readonly execMs: ReadonlyArray<number>
  readonly uploadMs: ReadonlyArray<number>
  readonly uploadBytes: number
  /** The upload encoding and whether the link had its own file transfer, for the log. */
  readonly how: string
}

/** Incompressible bytes, every byte value (the same on both sides). */
const randomBytes = (n: number): Uint8Array => {
  const out = new Uint8Array(n)
  let x = 7
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

/** Open the board, then `rounds` exec round trips (after a warm-up) and `uploads` verified writes of `uploadBytes`. */
export const measure = (
  open: Effect.Effect<ByteLink, unknown, Scope.Scope>,
  rounds: number,
  uploads: number,
  uploadBytes: number,
): Promise<Samples> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const opening = performance.now()
        const link = yield* open
        const device = yield* makeDeviceCommunication(link)
        const manager = yield* makeDeviceSessionManager(device)
        const openMs = performance.now() - opening
        return yield* manager.executeInSession((session) =>
          Effect.gen(function* () {
            for (let i = 0; i < 10; i++) yield* session.device.exec("print(1+1)")
            const execMs: number[] = []
            for (let i = 0; i < rounds; i++) {
              const started = performance.now()
              yield* session.device.exec("print(1+1)")
              execMs.push(performance.now() - started)
            }
            const fs = boardFileSystem(session)
            const info = yield* fs.info
            const how = `encoding ${info.encoding}, raw output ${info.probe.rawOutput}, raw-paste ${info.rawPaste}`
            const data = randomBytes(uploadBytes)
            yield* fs.write("/bench.bin", data.subarray(0, 1024))
            const uploadMs: number[] = []
            for (let i = 0; i < uploads; i++) {
              const started = performance.now()
              yield* fs.write("/bench.bin", data)
              uploadMs.push(performance.now() - started)
            }
            yield* fs.remove("/bench.bin")
            return { link: link.description, openMs, execMs, uploadMs, uploadBytes, how }
          }),
        )
      }),
    ).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")),
  )

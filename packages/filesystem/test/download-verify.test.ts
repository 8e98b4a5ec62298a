/**
 * A download is verified by its digest, not by its size alone: a reply whose bytes changed but
 * whose length did not (one data byte altered on the way, here by a device wrapper on the
 * virtual board) never comes back as the file's content. It is read again, and a reply that
 * stays wrong ends in TransferVerificationError.
 *
 * Mutations tried (each applied by hand, this file run, then reverted):
 * - src/Download.ts downloadRaw accepts a segment on its size alone (drop
 *   `&& boardDigest === hostDigest`): caught by both tests (the altered bytes come back).
 */
import { makeDeviceSessionManager } from "@belay/core"
import { type DeviceCommunicationShape, makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect, Exit } from "effect"
import { expect, it } from "vitest"
import { boardFileSystem } from "../src/index.js"

const CONTENT = "abcdefghij".repeat(40)

/** The board's reply to a raw read, with one byte of the file's data changed (same length). */
const alterOneDataByte = (out: Uint8Array): Uint8Array => {
  const text = Buffer.from(out).toString("latin1")
  const at = text.indexOf("fghij")
  if (at < 0) return out
  const copy = Uint8Array.from(out)
  copy[at] = "F".charCodeAt(0)
  return copy
}

const withAlteredReads = (times: number) =>
  Effect.gen(function* () {
    const link = yield* openVirtualBoard()
    const inner = yield* makeDeviceCommunication(link)
    let left = times
    const device: DeviceCommunicationShape = {
      ...inner,
      execBytes: (code, options) =>
        Effect.map(inner.execBytes(code, options), (out) => {
          const text = typeof code === "string" ? code : Buffer.from(code).toString("latin1")
          if (
            left > 0 &&
            text.includes("stdout.buffer.write") &&
            Buffer.from(out).toString("latin1").includes("fghij")
          ) {
            left--
            return alterOneDataByte(out)
          }
          return out
        }),
    }
    const manager = yield* makeDeviceSessionManager(device)
    const exit = yield* manager.executeInNewSession((session) =>
      Effect.gen(function* () {
        const fs = boardFileSystem(session)
        yield* fs.write("/v.txt", CONTENT)
        return yield* Effect.exit(fs.readText("/v.txt"))
      }),
    )
    return { exit, altered: times - left }
  })

it("a reply altered once, same length, is read again: the file's own bytes come back", async () => {
  const { exit, altered } = await Effect.runPromise(Effect.scoped(withAlteredReads(1)))
  expect(altered).toBe(1)
  expect(exit).toEqual(Exit.succeed(CONTENT))
})

it("a raw reply that stays altered is never believed: the file's bytes (read another way) or TransferVerificationError", async () => {
  const { exit, altered } = await Effect.runPromise(Effect.scoped(withAlteredReads(1000)))
  expect(altered).toBeGreaterThan(1)
  if (Exit.isSuccess(exit)) expect(exit.value).toBe(CONTENT)
  else expect(String(exit.cause)).toMatch(/TransferVerificationError/)
})

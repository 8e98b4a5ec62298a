/**
 * Sync's board-side compare uses the whole digest: a file of the same size whose digest differs
 * only in its last hex digit is uploaded again. The host's digest of one marked file is altered
 * in its last hex digit when sync computes it (Checksum.digestHex wrapped with vi.mock), on the
 * virtual board.
 *
 * Mutations tried (each applied by hand, this file run, then reverted):
 * - src/BoardCode.ts sameContent compares a prefix (`if _bh(p,0)[2][:-1]!=h[:-1]:_bo(i)`):
 *   caught by "a digest differing only in its last hex digit is uploaded again".
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { makeDeviceSessionManager } from "@belay/core"
import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "@belay/virtual-device"
import { Effect } from "effect"
import { expect, it, vi } from "vitest"

const MARK = "# last-digit\n"

vi.mock("../src/Checksum.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../src/Checksum.js")>()
  return {
    ...real,
    digestHex: (algorithm: Parameters<typeof real.digestHex>[0], bytes: Uint8Array) => {
      const hex = real.digestHex(algorithm, bytes)
      if ((globalThis as { belayAlterDigest?: boolean }).belayAlterDigest !== true) return hex
      if (Buffer.from(bytes).toString("latin1") !== MARK) return hex
      // Only sync's compare sees the altered digest (the upload verifies with the real one).
      if (!new Error().stack?.includes("Sync.ts")) return hex
      const last = hex.at(-1)!
      return hex.slice(0, -1) + (last === "0" ? "1" : "0")
    },
  }
})

const { boardFileSystem, syncDirectory } = await import("../src/index.js")

it("a digest differing only in its last hex digit is uploaded again", async () => {
  const local = await mkdtemp(path.join(tmpdir(), "belay-digest-"))
  try {
    await writeFile(path.join(local, "a.py"), MARK)
    const report = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const device = yield* makeDeviceCommunication(yield* openVirtualBoard({}))
          const manager = yield* makeDeviceSessionManager(device)
          return yield* manager.executeInNewSession((session) =>
            Effect.gen(function* () {
              const fs = boardFileSystem(session)
              const first = yield* syncDirectory(fs, local, "/d")
              const same = yield* syncDirectory(fs, local, "/d")
              ;(globalThis as { belayAlterDigest?: boolean }).belayAlterDigest = true
              const altered = yield* syncDirectory(fs, local, "/d").pipe(
                Effect.ensuring(
                  Effect.sync(() => {
                    ;(globalThis as { belayAlterDigest?: boolean }).belayAlterDigest = false
                  }),
                ),
              )
              return { first, same, altered }
            }),
          )
        }),
      ),
    )
    expect(report.first.uploaded.map((u) => u.path)).toEqual(["/d/a.py"])
    expect(report.same.uploaded).toHaveLength(0)
    expect(report.altered.hashedOnBoard).toBe(1)
    expect(report.altered.uploaded.map((u) => u.path)).toEqual(["/d/a.py"])
  } finally {
    await rm(local, { recursive: true, force: true })
  }
}, 60_000)

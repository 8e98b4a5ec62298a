/**
 * A reservation holder as a process, for the tests: `tsx test/holderMain.ts <databaseUrl>
 * <leaseMs> <holder> <target> ...`. Reserves the targets (heartbeating), prints
 * `held <token> <board> ...` on stdout, and holds until killed.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { FleetClient } from "../src/index.js"

const [databaseUrl, leaseMs, holder, ...targets] = process.argv.slice(2)

const program = Effect.gen(function* () {
  const fleet = yield* FleetClient
  const held = yield* fleet.reserve(targets, { for: "10 minutes", lease: Number(leaseMs), holder })
  process.stdout.write(`held ${held.token} ${held.boards.join(" ")}\n`)
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provide(FleetClient.layer({ databaseUrl: databaseUrl ?? "" })))

NodeRuntime.runMain(program)

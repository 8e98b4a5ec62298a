/**
 * A fleet runner as a process, for the tests and the bench: `node test/runnerMain.mjs <name>
 * <port> <databaseUrl> <board>=<connection> ...`. Prints `ready` on stdout once it serves its
 * boards; SIGTERM ends it cleanly, SIGKILL (the tests' crash) does not.
 *
 * Plain JavaScript on the built package (`dist`, as `belay fleet runner` runs it), not the sources
 * through a TypeScript loader: a loader's source maps make every stack Effect captures for a span
 * cost more, and the runner's figures should be the ones a user gets. `pnpm test` and `pnpm bench`
 * build first.
 */

import { makeFleetRunner } from "@belay/fleet"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Layer, References } from "effect"

/** BELAY_LOG_LEVEL as the CLI reads it: Debug, Info, Error, Trace, else Warn. */
const logLevel = (level) =>
  level === "Debug" || level === "Info" || level === "Error" || level === "Trace" ? level : "Warn"

const [name, port, databaseUrl, ...boardArgs] = process.argv.slice(2)
const boards = boardArgs.map((arg) => {
  const at = arg.indexOf("=")
  return { name: arg.slice(0, at), connection: arg.slice(at + 1) }
})

const program = Effect.gen(function* () {
  yield* Layer.build(
    makeFleetRunner({ name: name ?? "r", boards, databaseUrl: databaseUrl ?? "", port: Number(port) }),
  )
  process.stdout.write("ready\n")
  return yield* Effect.never
}).pipe(
  Effect.scoped,
  // As `belay fleet runner` does: quiet below BELAY_LOG_LEVEL (two Info lines per call otherwise).
  Effect.provideService(References.MinimumLogLevel, logLevel(process.env.BELAY_LOG_LEVEL)),
)

NodeRuntime.runMain(program)

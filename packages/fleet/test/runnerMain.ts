/**
 * A fleet runner as a process, for the tests: `tsx test/runnerMain.ts <name> <port> <databaseUrl>
 * <board>=<connection> ...`. Prints `ready` on stdout once it serves its boards; SIGTERM ends it
 * cleanly, SIGKILL (the tests' crash) does not.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, type LogLevel, References } from "effect"
import { makeFleetRunner } from "../src/index.js"

/** BELAY_LOG_LEVEL as the CLI reads it: Debug, Info, Error, Trace, else Warn. */
const logLevel = (level: string | undefined): LogLevel.LogLevel =>
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

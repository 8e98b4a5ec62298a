#!/usr/bin/env node
/**
 * The calls of scripts/fleet-demo.sh, through the fleet library (@belay/fleet, built). The demo's
 * shell script starts, kills and restarts the runners; this script makes the calls and counts.
 *
 *   node scripts/fleet-demo-driver.mjs calls <state.json> <phase> <rounds>   every board, <rounds> calls each
 *   node scripts/fleet-demo-driver.mjs snapshot <state.json>                 read every board's own log
 *   node scripts/fleet-demo-driver.mjs wait <runner> <alive|unreachable> <since-ms>
 *                                        until `fleet ls` says so; prints the seconds since <since-ms> (epoch)
 *   node scripts/fleet-demo-driver.mjs report <state.json>                   the counts, last line `fleet: ...`
 *
 * (BELAY_FLEET_DATABASE_URL names the database.) Every call appends its own name to `/demo.log` on
 * its board and prints it. A call its runner could not take (FleetRunnerUnreachableError saying it
 * did not start) is sent again: the journal guarantees it never ran. One that started and whose
 * outcome is unknown is never sent again; it counts as lost unless its board's log shows it ran.
 *
 * The counts come from the boards: a call is duplicated when its name is in its board's log more
 * than once, lost when it is not there at all (or the client got no answer that says it ran). A
 * restarted runner's boards start empty (virtual boards in the runner's memory), so the log of each
 * board is read before the kill too, and the two readings are joined.
 */
import { readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const fleetModule = pathToFileURL(path.join(root, "packages/fleet/dist/index.js")).href
const effectModule = pathToFileURL(path.join(root, "packages/fleet/node_modules/effect/dist/index.js")).href
const { FleetClient } = await import(fleetModule)
const { Duration, Effect, ManagedRuntime, References, Layer } = await import(effectModule)

const databaseUrl = process.env.BELAY_FLEET_DATABASE_URL ?? ""
const [command, ...args] = process.argv.slice(2)

const runtime = ManagedRuntime.make(
  FleetClient.layer({ databaseUrl }).pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))),
)
const run = (effect) => runtime.runPromise(effect)

const readState = (file) => {
  try {
    return JSON.parse(readFileSync(file, "utf8"))
  } catch {
    return { calls: [], snapshots: [] }
  }
}
const writeState = (file, state) => writeFileSync(file, JSON.stringify(state))

const boardIds = () => run(Effect.flatMap(FleetClient, (f) => f.boards))

/** One call, sent again while its runner says it never took it (bounded: 90 s). */
const oneCall = (fleet, board, name) => {
  const code = `f = open('/demo.log', 'a')\nf.write('${name}\\n')\nf.close()\nprint('${name}')`
  const deadline = Date.now() + 90_000
  const attempt = (tries) =>
    fleet
      .board(board)
      .exec(code, { timeout: "20 seconds" })
      .pipe(
        Effect.map((out) => ({
          outcome: out.trim() === name ? "ok" : `odd answer ${JSON.stringify(out)}`,
          tries,
        })),
        Effect.catchTag("FleetRunnerUnreachableError", (e) =>
          !e.callStarted && Date.now() < deadline
            ? Effect.flatMap(Effect.sleep(Duration.millis(300)), () => attempt(tries + 1))
            : Effect.succeed({ outcome: e.callStarted ? "unknown (started)" : "unreachable", tries }),
        ),
        Effect.catch((e) => Effect.succeed({ outcome: `${e._tag}: ${e.message}`, tries })),
      )
  return attempt(1)
}

if (command === "calls") {
  const [file, phase, rounds] = args
  const state = readState(file)
  const boards = (await boardIds()).map((b) => b.id)
  const started = performance.now()
  const made = await run(
    Effect.flatMap(FleetClient, (fleet) =>
      Effect.forEach(
        boards,
        (board) =>
          Effect.forEach(
            Array.from({ length: Number(rounds) }, (_, i) => `p${phase}.${board.replace("/", ".")}.${i}`),
            (name) => Effect.map(oneCall(fleet, board, name), (r) => ({ name, board, ...r })),
          ),
        { concurrency: "unbounded" },
      ),
    ),
  )
  const seconds = (performance.now() - started) / 1000
  const calls = made.flat()
  state.calls.push(...calls)
  writeState(file, state)
  const retried = calls.filter((c) => c.tries > 1).length
  const failed = calls.filter((c) => c.outcome !== "ok")
  console.log(
    `phase ${phase}: ${calls.length} calls on ${boards.length} boards in ${seconds.toFixed(1)} s (${(calls.length / seconds).toFixed(0)} calls/s), ${retried} sent again after "runner unreachable, did not run", ${failed.length} failed`,
  )
  for (const f of failed.slice(0, 5)) console.log(`  ${f.name}: ${f.outcome}`)
} else if (command === "snapshot") {
  const [file] = args
  const state = readState(file)
  const boards = (await boardIds()).map((b) => b.id)
  const logs = await run(
    Effect.flatMap(FleetClient, (fleet) =>
      Effect.forEach(
        boards,
        (board) =>
          fleet
            .board(board)
            .files.readText("/demo.log")
            .pipe(
              Effect.map((text) => [board, text.split("\n").filter((l) => l !== "")]),
              Effect.catchTag("FileNotFoundError", () => Effect.succeed([board, []])),
            ),
        { concurrency: "unbounded" },
      ),
    ),
  )
  state.snapshots.push(Object.fromEntries(logs))
  writeState(file, state)
} else if (command === "wait") {
  const [runner, want, since] = args
  const started = performance.now()
  for (;;) {
    const boards = (await boardIds()).filter((b) => b.runner === runner)
    const alive = boards.length > 0 && boards.every((b) => b.alive)
    const gone = boards.length > 0 && boards.every((b) => !b.alive)
    if ((want === "alive" && alive) || (want === "unreachable" && gone)) break
    if (performance.now() - started > 120_000) {
      console.error(`fleet-demo: runner ${runner} not ${want} within 120 s`)
      process.exitCode = 1
      break
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  console.log(((Date.now() - Number(since ?? Date.now())) / 1000).toFixed(1))
} else if (command === "report") {
  const [file] = args
  const state = readState(file)
  const boards = [...new Set(state.snapshots.flatMap((s) => Object.keys(s)))]
  // A board's whole log: its last reading, after any earlier reading that is not a prefix of it
  // (the board started empty again: its runner was restarted).
  const logOf = (board) => {
    let whole = []
    for (const snapshot of state.snapshots) {
      const log = snapshot[board] ?? []
      const prefix = whole.length <= log.length && whole.every((name, i) => log[i] === name)
      whole = prefix ? log : [...whole, ...log]
    }
    return whole
  }
  const seen = new Map()
  for (const board of boards)
    for (const name of logOf(board)) seen.set(`${board} ${name}`, (seen.get(`${board} ${name}`) ?? 0) + 1)
  let lost = 0
  let duplicated = 0
  for (const call of state.calls) {
    const times = seen.get(`${call.board} ${call.name}`) ?? 0
    if (times === 0 || (call.outcome !== "ok" && !call.outcome.startsWith("unknown"))) lost++
    if (times > 1) duplicated += times - 1
  }
  const runners = new Set(boards.map((b) => b.split("/")[0]))
  console.log(
    `fleet: ${boards.length} boards on ${runners.size} runners, ${state.calls.length} calls, ${lost} lost, ${duplicated} duplicated`,
  )
} else {
  console.error("usage: fleet-demo-driver.mjs calls|snapshot|wait|report ...")
  process.exitCode = 2
}
await runtime.dispose()

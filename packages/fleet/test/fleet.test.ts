/**
 * The fleet end to end: a real PostgreSQL (scripts/postgres.sh), three runner processes on
 * 127.0.0.1 with two to four virtual boards each, and a client in this process.
 */

import { type AddressInfo, connect, createServer } from "node:net"
import { makeDeviceCommunication } from "@belay/transport"
import { Context, Effect, Exit, Layer, type ManagedRuntime, ManagedRuntime as Runtime, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  FLEET_WIRE_PROTOCOL,
  FleetClient,
  type FleetDatabaseOptions,
  type FleetTask,
  fleetDatabaseLayer,
  openLentLink,
} from "../src/index.js"
import { freshDatabase } from "./postgres.js"
import { type RunnerProcess, startRunner, stopRunner } from "./runners.js"

const RUNNERS = { ra: 2, rb: 3, rc: 4 } as const
const boardIds = Object.entries(RUNNERS).flatMap(([runner, n]) =>
  Array.from({ length: n }, (_, i) => `${runner}/b${i}`),
)

let db: { url: string; drop: () => Promise<void> }
let runners: RunnerProcess[] = []
let client: ManagedRuntime.ManagedRuntime<FleetClient, unknown>

const run = <A, E>(effect: Effect.Effect<A, E, FleetClient>) => client.runPromiseExit(effect)
const failureOf = <A, E>(exit: Exit.Exit<A, E>) => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (error === undefined || error._tag !== "Fail") throw new Error(`expected a typed failure: ${exit.cause}`)
  return error.error as E & { _tag: string }
}
const successOf = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) throw new Error(`expected a value: ${exit.cause}`)
  return exit.value
}

/** `use` with a SQL client on the test database, connected as `fleetDatabaseLayer` connects. */
const withSql = <A, E>(
  use: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>,
  options?: FleetDatabaseOptions,
): Promise<A> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(Layer.build(fleetDatabaseLayer(db.url, options)), (context) =>
        use(Context.get(context, SqlClient.SqlClient)),
      ),
    ),
  )

beforeAll(async () => {
  db = await freshDatabase()
  runners = await Promise.all(
    Object.entries(RUNNERS).map(([name, n]) =>
      startRunner(
        name,
        db.url,
        Array.from({ length: n }, (_, i) => `b${i}=virtual?keep=false`),
      ),
    ),
  )
  client = Runtime.make(FleetClient.layer({ databaseUrl: db.url }))
})

afterAll(async () => {
  await client?.dispose()
  await Promise.all(runners.map(stopRunner))
  await db?.drop()
})

describe("fleet calls across three runners", () => {
  it("lists every board of every runner, alive, with its firmware", async () => {
    const boards = successOf(await run(Effect.flatMap(FleetClient, (f) => f.boards)))
    expect(boards.map((b) => b.id)).toEqual([...boardIds].sort())
    for (const b of boards) {
      expect(b.alive).toBe(true)
      expect(b.status).toBe("ready")
      expect(b.firmware).toMatch(/^micropython \d+\.\d+/)
    }
  })

  it("reaches each board on its own runner: a file written to each reads back from that board alone", async () => {
    // Written to every board, then read from every board: a call routed to another board (or
    // runner) would read another id, or no file at all.
    const program = Effect.gen(function* () {
      const fleet = yield* FleetClient
      yield* Effect.forEach(boardIds, (id) => fleet.board(id).writeFile("/whoami.txt", id), {
        concurrency: "unbounded",
      })
      return yield* Effect.forEach(
        boardIds,
        (id) =>
          Effect.map(fleet.board(id).readFile("/whoami.txt"), (bytes) => new TextDecoder().decode(bytes)),
        { concurrency: "unbounded" },
      )
    })
    expect(successOf(await run(program))).toEqual(boardIds)
  })

  it("runs exec, eval, tasks, listDir and info on boards of all three runners", async () => {
    const add: FleetTask = {
      name: "combine",
      source: "def combine(a, b, c):\n    return [a + b, c]\n",
    }
    // An argument that would break out of a string if it were pasted into code.
    const hostile = "'); import os; os.remove('/whoami.txt') #\\"
    const program = Effect.gen(function* () {
      const fleet = yield* FleetClient
      return yield* Effect.forEach(
        ["ra/b1", "rb/b2", "rc/b3"],
        (id) =>
          Effect.gen(function* () {
            const board = fleet.board(id)
            const out = yield* board.exec(`print('hello from', ${JSON.stringify(id)})`)
            const value = yield* board.eval("{'n': 2 ** 70, 'b': b'\\x00\\xff', 't': (1, None)}")
            const result = yield* board.call(add, [40, 2, hostile])
            const files = yield* board.listDir("/")
            const info = yield* board.info
            return { out, value, result, files, info }
          }),
        { concurrency: "unbounded" },
      )
    })
    const results = successOf(await run(program))
    for (const [i, id] of ["ra/b1", "rb/b2", "rc/b3"].entries()) {
      const r = results[i]
      expect(r?.out).toBe(`hello from ${id}\n`)
      expect(r?.value).toEqual({ n: 2n ** 70n, b: new Uint8Array([0, 255]), t: [1, null] })
      expect(r?.result).toEqual([42, hostile])
      expect(r?.files).toContain("whoami.txt")
      expect(r?.info.boardId).toBe(id)
      expect(r?.info.runner).toBe(id.split("/")[0])
      expect(r?.info.implementation).toBe("micropython")
    }
  })

  it("soft-resets a board: its globals are gone, its files stay, and the next calls run as before", async () => {
    const program = Effect.gen(function* () {
      const board = (yield* FleetClient).board("rb/b1")
      yield* board.exec("kept_before_reset = 7")
      yield* board.writeFile("/after-reset.txt", "still here")
      const before = yield* board.eval("kept_before_reset")
      yield* board.softReset
      const gone = yield* Effect.flip(board.eval("kept_before_reset"))
      const file = new TextDecoder().decode(yield* board.readFile("/after-reset.txt"))
      const task = yield* board.call({ name: "twice", source: "def twice(x):\n    return 2 * x\n" }, [21])
      return { before, gone, file, task }
    })
    const r = successOf(await run(program))
    expect(r.before).toBe(7)
    expect(r.gone).toMatchObject({ _tag: "FleetBoardCallError", errorTag: "PythonError" })
    expect(r.gone.message).toContain("NameError")
    expect(r.file).toBe("still here")
    expect(r.task).toBe(42)
  })

  it("lends a board's link: a wrong token is shut out, other calls are refused meanwhile, and the board serves calls again after", async () => {
    const board = (id: string) => Effect.map(FleetClient, (fleet) => fleet.board(id))
    const lent = successOf(await run(Effect.flatMap(board("rc/b2"), (b) => b.lend)))
    expect(lent).toMatchObject({ boardId: "rc/b2", host: "127.0.0.1", connection: "virtual?keep=false" })
    expect(lent.token).toMatch(/^[0-9a-f]{32}$/)
    // A connection with another token is closed, having reached nothing.
    const stranger = connect(lent.port, "127.0.0.1")
    stranger.write(`${"0".repeat(32)}\n\r\x03print('in')\r`)
    const heard: Array<Buffer> = []
    stranger.on("data", (d: Buffer) => heard.push(d))
    await new Promise((resolve) => stranger.once("close", resolve))
    expect(Buffer.concat(heard).length).toBe(0)
    // The lend still waits for its own connection; meanwhile the board's calls are refused at once.
    const refused = failureOf(await run(Effect.flatMap(board("rc/b2"), (b) => b.exec("print(1)"))))
    expect(refused).toMatchObject({ _tag: "FleetBoardReservedError", boardId: "rc/b2" })
    expect(refused.message).toContain("its link is lent to a command")
    // The holder's own engine over the lent link: the board as over a cable.
    const overLink = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const link = yield* openLentLink(lent)
          const device = yield* makeDeviceCommunication(link)
          yield* device.exec("lent_value = 6 * 7")
          return { out: yield* device.exec("print(lent_value)"), description: link.description }
        }),
      ),
    )
    expect(overLink).toEqual({ out: "42\n", description: "fleet:rc/b2" })
    // Once the link is closed the lend ends (the runner sees the socket close): calls go through again.
    let after = await run(Effect.flatMap(board("rc/b2"), (b) => b.eval("lent_value")))
    for (let i = 0; i < 50 && Exit.isFailure(after); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      after = await run(Effect.flatMap(board("rc/b2"), (b) => b.eval("lent_value")))
    }
    expect(successOf(after)).toBe(42)
  })

  it("addresses a board by its serial number (its machine.unique_id() here), in any case, for calls and reservations", async () => {
    const listed = successOf(await run(Effect.flatMap(FleetClient, (fleet) => fleet.boards)))
    const ids = listed.filter((b) => b.runner === "ra").map((b) => b.uniqueId)
    expect(ids).toHaveLength(2)
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/)
    expect(new Set(listed.map((b) => b.uniqueId)).size).toBe(listed.length)
    const serial = ids[0] as string
    const owner = listed.find((b) => b.uniqueId === serial)?.id as string
    const program = Effect.gen(function* () {
      const fleet = yield* FleetClient
      yield* fleet.board(owner).exec("by_serial = 'reached'")
      const lower = yield* fleet.board(serial).eval("by_serial")
      const upper = yield* fleet.board(serial.toUpperCase()).eval("by_serial")
      const unknown = yield* Effect.flip(fleet.board("0123456789abcdef").exec("1"))
      const malformed = yield* Effect.flip(fleet.board("not a serial").exec("1"))
      const reserved = yield* Effect.scoped(
        Effect.map(fleet.reserve([serial], { for: "1 minute" }), (held) => held.boards),
      )
      return { lower, upper, unknown, malformed, reserved }
    })
    const r = successOf(await run(program))
    expect(r).toMatchObject({ lower: "reached", upper: "reached", reserved: [owner] })
    expect(r.unknown).toMatchObject({ _tag: "FleetBoardGoneError", boardId: "0123456789abcdef" })
    expect(r.unknown.message).toContain("no board of the fleet has this serial number")
    expect(r.malformed).toMatchObject({ _tag: "FleetBoardIdError" })
    // Two live boards with one serial number: neither is guessed.
    const other = listed.find((b) => b.runner === "ra" && b.id !== owner)?.id as string
    const shared = "5e5e5e5e5e5e5e5e"
    await withSql(
      (sql) =>
        sql`UPDATE belay_fleet_boards SET unique_id = ${shared} WHERE board_id IN (${owner}, ${other})`,
    )
    try {
      const ambiguous = failureOf(
        await run(Effect.flatMap(FleetClient, (fleet) => fleet.board(shared).exec("1"))),
      )
      expect(ambiguous).toMatchObject({ _tag: "FleetBoardIdError", id: shared })
      expect(ambiguous.message).toContain(`boards ${[owner, other].sort().join(", ")}`)
    } finally {
      const restore = listed.filter((b) => b.id === owner || b.id === other)
      for (const b of restore)
        await withSql(
          (sql) => sql`UPDATE belay_fleet_boards SET unique_id = ${b.uniqueId} WHERE board_id = ${b.id}`,
        )
    }
  })

  it("streams a generator task's values as it yields them; stopping early stops it on the board", async () => {
    const squares = {
      name: "squares",
      source: "def squares(n):\n    for i in range(n):\n        yield i * i\n",
    }
    const endless = {
      name: "endless",
      source: [
        "def endless(tag):",
        "    global endless_stopped",
        "    endless_stopped = False",
        "    i = 0",
        "    try:",
        "        while True:",
        "            yield [tag, i]",
        "            i += 1",
        "    finally:",
        "        endless_stopped = True",
        "",
      ].join("\n"),
    }
    const failing = {
      name: "failing",
      source: "def failing():\n    yield 1\n    raise ValueError('no more')\n",
    }
    const program = Effect.gen(function* () {
      const board = (yield* FleetClient).board("rb/b2")
      const all = yield* Stream.runCollect(board.stream(squares, [5]))
      const first = yield* Stream.runCollect(Stream.take(board.stream(endless, ["t"]), 3))
      // The board takes the next call: the generator was interrupted and its finally ran.
      const stopped = yield* board.eval("endless_stopped")
      const error = yield* Effect.flip(Stream.runCollect(board.stream(failing, [])))
      return { all, first, stopped, error }
    })
    const r = successOf(await run(program))
    expect(r.all).toEqual([0, 1, 4, 9, 16])
    expect(r.first).toEqual([
      ["t", 0],
      ["t", 1],
      ["t", 2],
    ])
    expect(r.stopped).toBe(true)
    expect(r.error).toMatchObject({ _tag: "FleetBoardCallError", exceptionType: "ValueError" })
  })

  it("streams a program's output, and reaches the board's files with their own typed errors", async () => {
    const program = Effect.gen(function* () {
      const board = (yield* FleetClient).board("rc/b2")
      const pieces = yield* Stream.runCollect(
        board.execStream("import time\nfor i in range(3):\n    print('tick', i)\n    time.sleep(0.05)"),
      )
      const written = yield* board.files.write("/dir-test.bin", new Uint8Array([0, 1, 254, 255]))
      const back = yield* board.files.readBytes("/dir-test.bin")
      const entry = yield* board.files.stat("/dir-test.bin")
      const missing = yield* Effect.flip(board.files.readText("/no-such-file"))
      const failing = yield* Effect.flip(
        Stream.runDrain(board.execStream("print('a')\nraise ValueError('b')")),
      )
      return { pieces, written, back, entry, missing, failing }
    })
    const r = successOf(await run(program))
    expect(r.pieces.join("")).toBe("tick 0\ntick 1\ntick 2\n")
    expect(r.written).toMatchObject({ path: "/dir-test.bin", size: 4 })
    expect(r.back).toEqual(new Uint8Array([0, 1, 254, 255]))
    expect(r.entry).toMatchObject({ type: "file", size: 4 })
    expect(r.missing).toMatchObject({ _tag: "FileNotFoundError", path: "/no-such-file" })
    expect(r.failing).toMatchObject({ _tag: "FleetBoardCallError", exceptionType: "ValueError" })
  })

  it("brings a Python exception back typed, with its type and traceback", async () => {
    const error = failureOf(await run(Effect.flatMap(FleetClient, (f) => f.board("rb/b0").exec("1/0"))))
    expect(error._tag).toBe("FleetBoardCallError")
    expect(error).toMatchObject({
      boardId: "rb/b0",
      errorTag: "PythonError",
      exceptionType: "ZeroDivisionError",
    })
    expect((error as unknown as { traceback: string }).traceback).toContain("ZeroDivisionError")
  })

  it("says a board no runner serves is gone, and a malformed id is refused", async () => {
    const gone = failureOf(await run(Effect.flatMap(FleetClient, (f) => f.board("ra/b9").exec("print(1)"))))
    expect(gone._tag).toBe("FleetBoardGoneError")
    const bad = failureOf(await run(Effect.flatMap(FleetClient, (f) => f.board("ra/b0/x").exec("print(1)"))))
    expect(bad._tag).toBe("FleetBoardIdError")
    // Without a slash it is a serial number, which no board has.
    const serial = failureOf(
      await run(Effect.flatMap(FleetClient, (f) => f.board("no-slash").exec("print(1)"))),
    )
    expect(serial._tag).toBe("FleetBoardGoneError")
  })

  it("refuses at once, by name, a board whose runner speaks another wire protocol, and lists it as not alive", async () => {
    // A runner of another @belay/fleet version (here: its registry row says so) cannot understand
    // this client's messages: the call must fail now, not wait for its bound.
    const setProtocol = (protocol: string) =>
      withSql((sql) => sql`UPDATE belay_fleet_boards SET protocol = ${protocol} WHERE board_id = 'rc/b3'`)
    const fresh = Runtime.make(FleetClient.layer({ databaseUrl: db.url, registryCache: "0 millis" }))
    try {
      await setProtocol("binary/0")
      const exit = await fresh.runPromiseExit(
        Effect.flatMap(FleetClient, (f) => f.board("rc/b3").evalRepr("1 + 1")),
      )
      const error = failureOf(exit) as unknown as { _tag: string; reason: string; callStarted: boolean }
      expect(error._tag).toBe("FleetRunnerUnreachableError")
      expect(error.reason).toContain(`wire protocol "binary/0", this client "${FLEET_WIRE_PROTOCOL}"`)
      // Refused before it was sent (a call that waited would end "no answer within ..."), so it never ran.
      expect(error.callStarted).toBe(false)
      const listed = successOf(await fresh.runPromiseExit(Effect.flatMap(FleetClient, (f) => f.boards)))
      expect(listed.find((b) => b.id === "rc/b3")).toMatchObject({
        alive: false,
        protocol: "binary/0",
        unreachable: { kind: "protocol", reason: error.reason },
      })
      expect(listed.find((b) => b.id === "rc/b2")).toMatchObject({
        alive: true,
        protocol: FLEET_WIRE_PROTOCOL,
        unreachable: undefined,
      })
      // Two reasons at once: the list gives the one a call fails with (stopped comes first).
      await withSql((sql) => sql`UPDATE belay_fleet_boards SET status = 'stopped' WHERE board_id = 'rc/b3'`)
      try {
        const stopped = failureOf(
          await fresh.runPromiseExit(Effect.flatMap(FleetClient, (f) => f.board("rc/b3").evalRepr("1 + 1"))),
        ) as unknown as { reason: string }
        expect(stopped.reason).toBe("runner rc stopped")
        const relisted = successOf(await fresh.runPromiseExit(Effect.flatMap(FleetClient, (f) => f.boards)))
        expect(relisted.find((b) => b.id === "rc/b3")?.unreachable).toEqual({
          kind: "stopped",
          reason: stopped.reason,
        })
      } finally {
        await withSql((sql) => sql`UPDATE belay_fleet_boards SET status = 'ready' WHERE board_id = 'rc/b3'`)
      }
      await setProtocol(FLEET_WIRE_PROTOCOL)
      expect(
        successOf(
          await fresh.runPromiseExit(Effect.flatMap(FleetClient, (f) => f.board("rc/b3").evalRepr("1 + 1"))),
        ),
      ).toBe("2")
    } finally {
      await setProtocol(FLEET_WIRE_PROTOCOL)
      await fresh.dispose()
    }
  })
})

describe("a client with a wrong database", () => {
  const attempt = (databaseUrl: string) =>
    Effect.runPromiseExit(
      Effect.scoped(Layer.build(FleetClient.layer({ databaseUrl }))).pipe(Effect.timeout("30 seconds")),
    )

  it("fails with FleetDatabaseError for a wrong password, naming the URL without the password", async () => {
    const url = new URL(db.url)
    url.password = "not-the-password"
    const error = failureOf(await attempt(url.toString()))
    expect(error._tag).toBe("FleetDatabaseError")
    expect(error.message).toContain("***")
    expect(error.message).not.toContain("not-the-password")
  })

  it("fails with FleetDatabaseError for a port where no server listens, and for text that is not a URL", async () => {
    const url = new URL(db.url)
    url.port = "1"
    expect(failureOf(await attempt(url.toString()))._tag).toBe("FleetDatabaseError")
    expect(failureOf(await attempt("localhost:5432"))._tag).toBe("FleetDatabaseError")
    expect(failureOf(await attempt("mysql://x@127.0.0.1/db"))._tag).toBe("FleetDatabaseError")
  })
})

describe("the fleet's database connections", () => {
  const setting = (options?: FleetDatabaseOptions) =>
    withSql(
      (sql) =>
        Effect.map(
          sql<{ synchronous_commit: string }>`SHOW synchronous_commit`,
          (rows) => rows[0]?.synchronous_commit,
        ),
      options,
    )

  it("commit asynchronously when asked (a runner's, for the journal), synchronously by default (a client's)", async () => {
    expect(await setting({ asynchronousCommit: true })).toBe("off")
    expect(await setting()).toBe("on")
  })

  it("leave a runner's journal row visible to a client at once, asynchronous commit or not", async () => {
    // The runner admits a call (its row, committed asynchronously); a client that then settles the
    // same call finds it started. Visibility is not what asynchronous commit defers.
    const callId = `visible-${Date.now()}`
    await withSql(
      (runner) =>
        runner`INSERT INTO belay_fleet_calls (call_id, board_id, state) VALUES (${callId}, 'ra/b0', 'started')`,
      { asynchronousCommit: true },
    )
    const started = await withSql(
      (client) => client<{ call_id: string }>`
        INSERT INTO belay_fleet_calls (call_id, board_id, state) VALUES (${callId}, 'ra/b0', 'abandoned')
        ON CONFLICT (call_id) DO NOTHING RETURNING call_id`,
    )
    expect(started).toEqual([])
  })
})

describe("a runner on a port another program listens on", () => {
  it("exits before it is ready, saying the port is taken, and joins nothing", async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve))
    const { port } = holder.address() as AddressInfo
    try {
      const refused = await startRunner("rtaken", db.url, ["b0=virtual?keep=false"], { port }).then(
        (r) => stopRunner(r).then(() => "started"),
        (e: Error) => e.message,
      )
      expect(refused).toContain(
        `cannot listen on 127.0.0.1:${port}: the port is taken by another program (EADDRINUSE)`,
      )
      // It never joined: the fleet lists no board of it.
      const boards = successOf(await run(Effect.flatMap(FleetClient, (f) => f.boards)))
      expect(boards.map((b) => b.id).filter((id) => id.startsWith("rtaken/"))).toEqual([])
    } finally {
      await new Promise((resolve) => holder.close(resolve))
    }
  })
})

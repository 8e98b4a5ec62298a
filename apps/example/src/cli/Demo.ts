import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { CapabilityMissingError, DeviceSessionManager } from "@belay/core"
import { executorContext, GeneratorTask, py, Setup, Task, Teardown, ThreadTask } from "@belay/executors"
import { boardFileSystem } from "@belay/filesystem"
import { DeviceCommunication } from "@belay/transport"
import { Effect, Schema, Stream } from "effect"
import { print } from "./Output.js"

const say = (line = "") => print(`${line}\n`)
const step = (n: number, title: string) => say(`\n${n}. ${title}`)

const setup = Setup.make({
  name: "demo_setup",
  source: py`
    import gc
    demo_ticks = 0
  `,
})

const teardown = Teardown.make({
  name: "demo_teardown",
  source: py`
    demo_ticks = None
  `,
})

const add = Task.make({
  name: "add",
  source: py`
    def add(a, b):
        return a + b
  `,
  args: [Schema.Number, Schema.Number],
  result: Schema.Number,
})

const describe = Task.make({
  name: "describe",
  source: py`
    def describe(values, label):
        print('describing', len(values), 'values')
        return {'label': label, 'min': min(values), 'max': max(values), 'mean': sum(values) / len(values)}
  `,
  args: [Schema.Array(Schema.Number), Schema.String],
  result: Schema.Struct({
    label: Schema.String,
    min: Schema.Number,
    max: Schema.Number,
    mean: Schema.Number,
  }),
})

const countdown = GeneratorTask.make({
  name: "countdown",
  source: py`
    def countdown(n):
        while n > 0:
            yield n
            n -= 1
  `,
  args: [Schema.Number],
  item: Schema.Number,
})

const blinker = ThreadTask.make({
  name: "blinker",
  source: py`
    def blinker(stopping, period_ms):
        import time
        global demo_ticks
        while not stopping():
            demo_ticks += 1
            time.sleep_ms(period_ms)
  `,
  args: [Schema.Number],
})

const sampleTree = async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "belay-demo-"))
  await mkdir(path.join(dir, "lib"))
  await writeFile(path.join(dir, "main.py"), "from lib.util import greet\nprint(greet('board'))\n")
  await writeFile(path.join(dir, "lib", "util.py"), "def greet(name):\n    return 'hello, ' + name\n")
  await writeFile(path.join(dir, "config.json"), JSON.stringify({ interval: 500, name: "demo" }))
  return dir
}

/** The guided tour: every step runs on the board in one session that cleans up after itself. */
export const runDemo = Effect.gen(function* () {
  const device = yield* DeviceCommunication
  const manager = yield* DeviceSessionManager
  yield* say(`Belay demo on ${device.description}`)

  const local = yield* Effect.promise(sampleTree)
  const sessionId = yield* manager
    .executeInNewSession((session) =>
      Effect.gen(function* () {
        const caps = session.deviceContext.capabilities
        yield* step(1, "Capabilities, found in one round trip")
        yield* say(`   ${caps.machine}, MicroPython ${caps.version} on ${caps.platform}`)
        yield* say(
          `   raw-paste ${caps.rawPaste ? "yes" : "no"}, threads ${caps.threads ? "yes" : "no"}, hashlib ${caps.hashAlgorithms.join("/") || "no"}, free memory ${caps.freeMemory} B`,
        )

        yield* step(2, `Session ${session.sessionId}: setup runs once, teardown is registered`)
        yield* setup.run(session)
        yield* teardown.register(session)
        yield* session.acquire(
          session.device.exec("demo_sensor = {'pin': 26, 'enabled': True}"),
          () => session.device.exec("del demo_sensor"),
          { resourceType: "DemoSensor", estimatedCost: 64 },
        )
        yield* say("   setup ran; a board-side resource (demo_sensor) is tracked by the session")

        yield* step(3, "Sync a folder (only what changed is uploaded; hashes compared on the board)")
        const fs = boardFileSystem(session)
        const info = yield* fs.info
        const remote = info.directories ? "/demo" : "/"
        // Start from an empty folder so that the first sync shows uploads on every run.
        if (info.directories && (yield* fs.exists(remote))) yield* fs.remove(remote, { recursive: true })
        const firstSync = yield* fs.sync(local, remote, info.directories ? {} : { ignore: ["lib/"] })
        yield* say(
          `   first sync: ${firstSync.uploaded.map((u) => u.path).join(", ")} (${firstSync.bytesUploaded} B)`,
        )
        const secondSync = yield* fs.sync(local, remote, info.directories ? {} : { ignore: ["lib/"] })
        yield* say(
          `   second sync: ${secondSync.uploaded.length} uploaded, ${secondSync.unchanged.length} unchanged (${secondSync.bytesUploaded} B)`,
        )

        yield* step(4, "Typed tasks (arguments and results checked by Effect Schema)")
        const sum = yield* add.call(session, 2, 3)
        yield* say(`   add(2, 3) = ${sum}  (first call: definition and call in one exchange)`)
        const again = yield* add.call(session, 40, 2)
        yield* say(`   add(40, 2) = ${again}  (cached: only the call is sent)`)
        const summary = yield* describe.callWith(
          session,
          { onOutput: (text) => say(`   board printed: ${text.trim()}`) },
          [3.5, 1, 4, 1.5],
          'it\'s "quoted"\n',
        )
        yield* say(`   describe(...) = ${JSON.stringify(summary)}`)

        yield* step(5, "A generator as a stream; taking 3 stops it on the board")
        const first = yield* Stream.runCollect(Stream.take(countdown.stream(session, 10), 3))
        yield* say(`   countdown(10) -> ${first.join(", ")} ... (stopped early)`)

        yield* step(6, "A background thread")
        if (caps.threads) {
          const thread = yield* blinker.start(session, 50)
          yield* Effect.sleep("300 millis")
          yield* say(
            `   thread ${thread.threadId} is counting: demo_ticks = ${yield* session.device.eval("demo_ticks")}`,
          )
        } else {
          const refused = yield* Effect.flip(blinker.start(session, 50))
          yield* say(
            `   refused before anything was sent: ${refused instanceof CapabilityMissingError ? refused.message : String(refused)}`,
          )
        }

        yield* step(7, "Session and resource stats")
        const stats = yield* manager.sessionStats
        const resources = session.resources.getResourceStats()
        const executor = executorContext(session)
        yield* say(
          `   sessions: active ${stats.activeSessionCount}, total ${stats.totalSessionCount}, max ${stats.maxSessionCount}`,
        )
        yield* say(
          `   resources: ${resources.totalResources} (${Object.entries(resources.resourcesByType)
            .map(([t, n]) => `${t} ${n}`)
            .join(
              ", ",
            )}), threads ${executor.activeThreads().length}, deployed methods ${executor.deployedMethods().length}`,
        )
        return session.sessionId
      }),
    )
    .pipe(Effect.ensuring(Effect.promise(() => rm(local, { recursive: true, force: true }))))

  yield* step(8, `Session ${sessionId} ended: checking on the board that everything was cleaned up`)
  const check = yield* device.eval("[('demo_sensor' in globals()), globals().get('demo_ticks')]")
  const stats = yield* manager.sessionStats
  yield* say(
    `   demo_sensor present: ${check.startsWith("[False") ? "no" : "YES"}; teardown ran: ${check.endsWith("None]") ? "yes" : "NO"}`,
  )
  yield* say(`   live sessions: ${stats.activeSessionCount}`)
  if (check !== "[False, None]" || stats.activeSessionCount !== 0) {
    return yield* Effect.die(new Error(`cleanup check failed: ${check}`))
  }
  yield* say("\nEverything the session started was cleaned up.")
})

/**
 * One board connection of the page: the link, the protocol engine, a session manager and the
 * session the page works in, the friendly-REPL terminal (detached while the page runs an
 * exchange, attached again after), running a file with a stop, and the file operations. The DOM
 * side (main.ts) calls these as promises; everything here is Effect underneath.
 */
import type { DeviceSession, DeviceSessionManagerShape } from "@belay/core"
import { makeDeviceSessionManager } from "@belay/core"
import type { GeneratorTask, Task } from "@belay/executors"
import { type BoardFileSystem, boardFileSystem, type FileEntry, type WriteResult } from "@belay/filesystem"
import {
  type ByteLink,
  type DeviceCommunicationShape,
  makeDeviceCommunication,
  type ProtocolMetrics,
  type TerminalSession,
  toPythonLiteral,
} from "@belay/transport"
import { Effect, Exit, Fiber, Scope, Stream } from "effect"

/** How to open a link: a scoped effect (the connection's scope owns the link). */
export type OpenLink = Effect.Effect<ByteLink, unknown, Scope.Scope>

/** What the stats panel shows. */
export interface BoardStats {
  readonly link: string
  readonly sessionId: string | undefined
  readonly sessionState: string
  readonly activeSessions: number
  readonly totalSessions: number
  readonly liveResources: number
  readonly resourcesByType: Readonly<Record<string, number>>
  readonly metrics: ProtocolMetrics
}

/** The visible check after a session ends: did it leave anything behind? */
export interface CleanupCheck {
  readonly sessionId: string
  readonly ok: boolean
  readonly activeSessions: number
  readonly liveResources: number
  readonly cleanedAtEnd: number
  readonly endReason: string
  readonly cleanupFailure: string | undefined
  /** Names the page's code left in the board's globals that were not there when it connected. */
  readonly strayGlobals: ReadonlyArray<string>
}

/** A readable line for any failure (tagged errors carry their tag). */
export const errorText = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const tag = (error as { _tag?: unknown })._tag
    const message = (error as { message?: unknown }).message
    if (typeof tag === "string")
      return typeof message === "string" && message !== "" ? `${tag}: ${message}` : tag
    if (error instanceof Error) return `${error.name}: ${error.message}`
  }
  return String(error)
}

const GLOBALS = "print(' '.join(sorted(k for k in globals())))"

export class Board {
  #session: DeviceSession | undefined
  #terminal: { fiber: Fiber.Fiber<void, unknown>; session: TerminalSession } | undefined
  #wantTerminal = false
  #busy = 0
  #run: Fiber.Fiber<void, unknown> | undefined
  #closed = false

  private constructor(
    private readonly scope: Scope.Closeable,
    readonly link: ByteLink,
    readonly device: DeviceCommunicationShape,
    readonly manager: DeviceSessionManagerShape,
    private readonly baseGlobals: ReadonlySet<string>,
    private readonly terminalSink: (bytes: Uint8Array) => void,
  ) {}

  /** Open a link, the engine and a session manager in a scope of their own. */
  static async open(openLink: OpenLink, terminalSink: (bytes: Uint8Array) => void): Promise<Board> {
    const scope = Effect.runSync(Scope.make())
    try {
      const [link, device, manager, globals] = await Effect.runPromise(
        Scope.provide(scope)(
          Effect.gen(function* () {
            const link = yield* openLink
            const device = yield* makeDeviceCommunication(link)
            const manager = yield* makeDeviceSessionManager(device)
            const globals = yield* device.exec(GLOBALS)
            return [link, device, manager, globals] as const
          }),
        ),
      )
      return new Board(scope, link, device, manager, new Set(globals.trim().split(/\s+/)), terminalSink)
    } catch (error) {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      throw error
    }
  }

  get terminalAttached(): boolean {
    return this.#terminal !== undefined
  }

  get running(): boolean {
    return this.#run !== undefined
  }

  get sessionId(): string | undefined {
    return this.#session?.isActive ? this.#session.sessionId : undefined
  }

  /** Hand the board to the terminal (friendly REPL) until `detachTerminal` or an exchange. */
  attachTerminal(): Promise<void> {
    this.#wantTerminal = true
    return this.#serially(() => this.#openTerminal(true))
  }

  /** Attaching and detaching run one at a time, in order (an exchange waits for an attach to finish). */
  #serially(step: () => Promise<void>): Promise<void> {
    const next = this.#terminalSteps.then(step)
    this.#terminalSteps = next.catch(() => undefined)
    return next
  }

  #terminalSteps: Promise<void> = Promise.resolve()

  /** `prompt`: ask for a fresh prompt (a person attached); not when attaching again after an exchange. */
  async #openTerminal(prompt: boolean): Promise<void> {
    if (this.#terminal !== undefined || this.#busy > 0 || this.#run !== undefined || this.#closed) return
    const sink = this.terminalSink
    let attached!: (session: TerminalSession) => void
    let failed!: (error: unknown) => void
    const ready = new Promise<TerminalSession>((resolve, reject) => {
      attached = resolve
      failed = reject
    })
    const fiber = Effect.runFork(
      Effect.scoped(
        Effect.gen({ self: this }, function* () {
          const session = yield* this.device.terminal
          attached(session)
          yield* Stream.runForEach(session.output, (bytes) => Effect.sync(() => sink(bytes)))
        }),
      ).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            failed(Exit.isFailure(exit) ? exit.cause : new Error("the terminal closed"))
            if (this.#terminal?.fiber === fiber) this.#terminal = undefined
          }),
        ),
      ),
    )
    const session = await ready
    this.#terminal = { fiber, session }
    // A fresh prompt: the one the board printed when it left the raw REPL was read with it.
    if (prompt) this.typeInTerminal("\r")
  }

  /** Hand the board back to the raw REPL (and do not attach again after exchanges). */
  async detachTerminal(): Promise<void> {
    this.#wantTerminal = false
    await this.#closeTerminal()
  }

  #closeTerminal(): Promise<void> {
    return this.#serially(async () => {
      const terminal = this.#terminal
      this.#terminal = undefined
      if (terminal !== undefined) await Effect.runPromise(Fiber.interrupt(terminal.fiber))
    })
  }

  /** Keys typed in the terminal, as they are (Ctrl-C is `\x03`). */
  typeInTerminal(data: string): void {
    const terminal = this.#terminal
    if (terminal === undefined) return
    Effect.runFork(terminal.session.write(new TextEncoder().encode(data)))
  }

  /** Run one exchange in the page's session, with the terminal out of the way. */
  async #withSession<A>(use: (session: DeviceSession) => Effect.Effect<A, unknown>): Promise<A> {
    if (this.#closed) throw new Error("the board is disconnected")
    this.#busy++
    try {
      await this.#closeTerminal()
      return await Effect.runPromise(
        Effect.gen({ self: this }, function* () {
          if (this.#session === undefined || !this.#session.isActive)
            this.#session = yield* this.manager.getOrCreateSession()
          return yield* use(this.#session)
        }),
      )
    } finally {
      this.#busy--
      this.#reattach()
    }
  }

  #reattach(): void {
    if (this.#wantTerminal && this.#busy === 0 && this.#run === undefined && !this.#closed)
      this.#serially(() => this.#openTerminal(false)).catch(() => undefined)
  }

  #fs(session: DeviceSession): BoardFileSystem {
    return boardFileSystem(session)
  }

  list(path: string): Promise<ReadonlyArray<FileEntry>> {
    return this.#withSession((session) => this.#fs(session).list(path))
  }

  /** Atomic, verified write (the board's hash against the page's), with progress. */
  upload(
    path: string,
    data: Uint8Array,
    onProgress: (done: number, total: number) => void,
  ): Promise<WriteResult> {
    return this.#withSession((session) =>
      this.#fs(session).write(path, data, { onProgress: (p) => onProgress(p.bytesDone, p.bytesTotal) }),
    )
  }

  download(path: string): Promise<Uint8Array> {
    return this.#withSession((session) => this.#fs(session).readBytes(path))
  }

  remove(path: string, recursive: boolean): Promise<void> {
    return this.#withSession((session) => this.#fs(session).remove(path, { recursive }))
  }

  mkdir(path: string): Promise<void> {
    return this.#withSession((session) => this.#fs(session).mkdir(path, { parents: true }))
  }

  /**
   * Run a file on the board, its output streamed to `onOutput` as it comes; resolves when it
   * ends, fails with its error. `stop()` interrupts it (Ctrl-C on the board).
   */
  runFile(path: string, onOutput: (text: string) => void): Promise<"finished" | "stopped"> {
    const code = `exec(open(${toPythonLiteral(path)}).read(), {'__name__': '__main__'})`
    return this.#runStream(
      (session) => session.device.execStream(code, { timeout: Number.POSITIVE_INFINITY }),
      onOutput,
    )
  }

  /** Call a task in the page's session. */
  callTask(task: Task<ReadonlyArray<unknown>, unknown>, args: ReadonlyArray<unknown>): Promise<unknown> {
    return this.#withSession((session) => task.call(session, ...args))
  }

  /** Stream a generator task's items to `onItem`; `stop()` ends it (the generator closes on the board). */
  streamTask<A>(
    task: GeneratorTask<ReadonlyArray<unknown>, A>,
    args: ReadonlyArray<unknown>,
    onItem: (item: A) => void,
  ): Promise<"finished" | "stopped"> {
    return this.#runStream((session) => task.stream(session, ...args), onItem)
  }

  /** One long-running stream at a time, stoppable with `stop()`. */
  async #runStream<A>(
    open: (session: DeviceSession) => Stream.Stream<A, unknown>,
    onItem: (item: A) => void,
  ): Promise<"finished" | "stopped"> {
    if (this.#run !== undefined) throw new Error("something is running already: stop it first")
    let stopped = false
    this.#stop = () => {
      stopped = true
    }
    const run = this.#withSession((session) =>
      Effect.gen({ self: this }, function* () {
        const fiber = yield* Effect.forkDetach(
          Stream.runForEach(open(session), (item) => Effect.sync(() => onItem(item))),
        )
        this.#run = fiber
        const exit = yield* Fiber.await(fiber)
        this.#run = undefined
        if (Exit.isFailure(exit)) {
          if (Exit.hasInterrupts(exit) && stopped) return "stopped" as const
          return yield* Effect.failCause(exit.cause)
        }
        return "finished" as const
      }),
    )
    try {
      return await run
    } finally {
      this.#run = undefined
      this.#reattach()
    }
  }

  #stop: () => void = () => undefined

  /** Stop the running file: interrupts the code on the board and waits for its prompt. */
  async stop(): Promise<void> {
    const fiber = this.#run
    if (fiber === undefined) return
    this.#stop()
    await Effect.runPromise(Fiber.interrupt(fiber))
  }

  async stats(): Promise<BoardStats> {
    const [sessionStats, metrics] = await Effect.runPromise(
      Effect.all([this.manager.sessionStats, this.device.metrics]),
    )
    const session = this.#session
    const live = session?.isActive === true
    const resources = live ? session.resources.getResourceStats() : undefined
    return {
      link: this.link.description,
      sessionId: live ? session.sessionId : undefined,
      sessionState:
        session === undefined
          ? "none yet"
          : live
            ? "active"
            : `ended (${session.endReason ?? "?"})`.replace("ended (ended)", "ended"),
      activeSessions: sessionStats.activeSessionCount,
      totalSessions: sessionStats.totalSessionCount,
      liveResources: live ? session.resources.liveResources : 0,
      resourcesByType: resources?.resourcesByType ?? {},
      metrics,
    }
  }

  /** End the page's session and check that nothing was left: on the page's side and the board's. */
  async endSession(): Promise<CleanupCheck | undefined> {
    await this.stop()
    const session = this.#session
    if (session === undefined || !session.isActive) return undefined
    this.#busy++
    try {
      await this.#closeTerminal()
      return await Effect.runPromise(
        Effect.gen({ self: this }, function* () {
          yield* this.manager.endSession(session.sessionId)
          const stats = yield* this.manager.sessionStats
          const globals = (yield* this.device.exec(GLOBALS)).trim().split(/\s+/)
          const strayGlobals = globals.filter((name) => name !== "" && !this.baseGlobals.has(name))
          const liveResources = session.resources.liveResources
          const cleanupFailure =
            session.cleanupFailure === undefined ? undefined : errorText(session.cleanupFailure)
          return {
            sessionId: session.sessionId,
            ok: stats.activeSessionCount === 0 && liveResources === 0 && cleanupFailure === undefined,
            activeSessions: stats.activeSessionCount,
            liveResources,
            cleanedAtEnd: session.resources.cleanedAtEnd,
            endReason: String(session.endReason ?? "ended"),
            cleanupFailure,
            strayGlobals,
          }
        }),
      )
    } finally {
      this.#busy--
      this.#reattach()
    }
  }

  /** End the session, hand the board back and close the link. */
  async close(): Promise<CleanupCheck | undefined> {
    let check: CleanupCheck | undefined
    try {
      check = await this.endSession()
    } finally {
      this.#closed = true
      this.#wantTerminal = false
      await this.#closeTerminal()
      await Effect.runPromise(Scope.close(this.scope, Exit.void))
    }
    return check
  }
}

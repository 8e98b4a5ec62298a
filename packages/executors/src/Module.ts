import { type DeviceSession, SessionError } from "@belay/core"
import { type Duration, Effect } from "effect"
import { checkIdentifier } from "./Codec.js"
import { frameUnit, makeUnit } from "./Deployment.js"
import { DefinitionError, type TaskCallError } from "./errors.js"
import { asSource, PythonSource } from "./PythonSource.js"
import { Setup } from "./Setup.js"
import { type GeneratorTask, rebind, type Task } from "./Task.js"
import { Teardown } from "./Teardown.js"
import type { ThreadTask } from "./Thread.js"

// biome-ignore lint/suspicious/noExplicitAny: members of any signature
type AnyMember = Task<any, any> | GeneratorTask<any, any> | ThreadTask<any>

/**
 * What declaring a module takes.
 *
 * @example
 * BoardModule.make({ name: "leds", setup: "from machine import Pin", members: { on, off } })
 *
 * @since 0.1.0
 */
export interface BoardModuleOptions<Members extends Record<string, AnyMember>> {
  /** The module's name (a Python identifier): its registry key on the board, and the prefix in logs. */
  readonly name: string
  /** Code the members share (helpers, constants), deployed with them. */
  readonly source?: PythonSource | string
  /** Runs once per session (and after a board reset) before the first member call. */
  readonly setup?: PythonSource | string
  /** Runs when a session that used the module ends, however it ends. */
  readonly teardown?: PythonSource | string
  /** The tasks, generator tasks and thread tasks of the module. */
  readonly members: Members
  /** Bound on the setup and teardown code. */
  readonly timeout?: Duration.Input
}

/**
 * Several tasks grouped like a class with attributes: they are deployed
 * together as one unit, and share a setup (run once per session before the first call) and a
 * teardown (run when the session ends).
 *
 * @example
 * const display = BoardModule.make({
 *   name: "display",
 *   setup: py`from microbit import display, Image`,
 *   teardown: py`display.clear()`,
 *   members: {
 *     show: Task.make({ name: "show", source: py`
 *       def show(text):
 *           display.show(text)
 *     `, args: [Schema.String], result: Schema.Null }),
 *     pixel: Task.make({ name: "pixel", source: py`
 *       def pixel(x, y):
 *           return display.get_pixel(x, y)
 *     `, args: [Schema.Number, Schema.Number], result: Schema.Number }),
 *   },
 * })
 * yield* display.members.show.call(session, "Hi") // setup, then deploy + call
 *
 * @since 0.1.0
 */
export class BoardModule<Members extends Record<string, AnyMember>> {
  readonly _tag = "BoardModule" as const

  private constructor(
    readonly name: string,
    readonly source: PythonSource,
    readonly members: Members,
    readonly setup: Setup | undefined,
    readonly teardown: Teardown | undefined,
    private readonly attachFn: (session: DeviceSession) => Effect.Effect<void, TaskCallError>,
  ) {}

  /** Declare a module. Throws `DefinitionError` on an invalid name or two members with one Python name. */
  static make<const Members extends Record<string, AnyMember>>(
    options: BoardModuleOptions<Members>,
  ): BoardModule<Members> {
    checkIdentifier(options.name, "a module name")
    const sources: PythonSource[] = options.source === undefined ? [] : [asSource(options.source)]
    const names = new Set<string>()
    for (const member of Object.values(options.members)) {
      if (names.has(member.name)) {
        throw new DefinitionError({
          name: options.name,
          reason: `two members define the Python function ${member.name}`,
        })
      }
      names.add(member.name)
      if (!sources.some((s) => s.text === member.source.text)) sources.push(member.source)
    }
    const source = PythonSource.concat(sources, `module ${options.name}`)
    const setup =
      options.setup === undefined
        ? undefined
        : Setup.make({
            name: `${options.name}_setup`,
            source: options.setup,
            ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
          })
    const teardown =
      options.teardown === undefined
        ? undefined
        : Teardown.make({
            name: `${options.name}_teardown`,
            source: options.teardown,
            lostOnReset: setup !== undefined,
            ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
          })
    const unit = makeUnit(options.name, source)
    const attach = (session: DeviceSession): Effect.Effect<void, TaskCallError> =>
      Effect.gen(function* () {
        // Teardown first: a setup that fails half-way is still undone when the session ends.
        if (teardown) {
          yield* teardown.register(session).pipe(
            Effect.catchTag("ResourceCleanupError", (error) =>
              Effect.fail(
                new SessionError({
                  sessionId: session.sessionId,
                  reason: `cannot use module ${options.name}: the session has ended`,
                  recoverable: true,
                  cause: error,
                }),
              ),
            ),
          )
        }
        if (setup) yield* setup.run(session)
      })
    const members: Record<string, AnyMember> = {}
    for (const [key, member] of Object.entries(options.members)) {
      members[key] = member[rebind]({
        units: [frameUnit, unit],
        prepare: attach,
        label: `${options.name}.${member.name}`,
      })
    }
    return new BoardModule(options.name, source, members as Members, setup, teardown, attach)
  }

  /**
   * Run the module's setup and register its teardown in `session` now (member calls do it on
   * their own before the first call).
   */
  attach(session: DeviceSession): Effect.Effect<void, TaskCallError> {
    return this.attachFn(session).pipe(
      Effect.withSpan("belay.module.attach", {
        attributes: { module: this.name, sessionId: session.sessionId },
      }),
    )
  }
}

import { DeviceCommunication } from "@belay/transport"
import { monotonicMs } from "@belay/transport/internal"
import { Duration, Effect } from "effect"

/**
 * How a board is doing.
 *
 * @example
 * { ok: true, link: "virtual", latencyMs: 0.4, freeMemory: 812304 }
 * @since 0.1.0
 */
export interface HealthReport {
  readonly ok: boolean
  readonly link: string
  /** Round trip of the check's exchange, when it answered. */
  readonly latencyMs: number | undefined
  /** `gc.mem_free()` after a collection. */
  readonly freeMemory: number | undefined
  /** Why it is not ok. */
  readonly error: string | undefined
}

/**
 * Ask the board to collect garbage and report its free memory, within a bound. Never fails:
 * a board that does not answer is a report with `ok: false`.
 *
 * @example
 * const report = yield* checkHealth({ timeout: "2 seconds" })
 * @since 0.1.0
 */
export const checkHealth = (options: { readonly timeout?: Duration.Input } = {}) =>
  Effect.gen(function* () {
    const device = yield* DeviceCommunication
    const timeout = options.timeout ?? "5 seconds"
    const started = monotonicMs()
    return yield* device
      .exec("__import__('gc').collect()\nprint(__import__('gc').mem_free())", { timeout })
      .pipe(
        Effect.map((out): HealthReport => {
          const freeMemory = Number.parseInt(out.trim(), 10)
          return {
            ok: Number.isFinite(freeMemory),
            link: device.description,
            latencyMs: monotonicMs() - started,
            freeMemory: Number.isFinite(freeMemory) ? freeMemory : undefined,
            error: Number.isFinite(freeMemory)
              ? undefined
              : `unexpected answer ${JSON.stringify(out.slice(0, 80))}`,
          }
        }),
        Effect.catch((error) =>
          Effect.succeed<HealthReport>({
            ok: false,
            link: device.description,
            latencyMs: undefined,
            freeMemory: undefined,
            error: error.message,
          }),
        ),
        Effect.withSpan("belay.health", {
          attributes: {
            link: device.description,
            timeoutMs: Duration.toMillis(Duration.fromInputUnsafe(timeout)),
          },
        }),
      )
  })

/** What board code printed, logged a line per entry when the caller did not ask to receive it. */
import { Effect } from "effect"

/** Log what board code printed, a line per entry. */
export const makeOutputLogger = (label: string, sessionId: string) => {
  let pending = ""
  const log = (line: string) =>
    Effect.logInfo("Board output").pipe(Effect.annotateLogs({ task: label, sessionId, output: line }))
  return {
    feed: (text: string): Effect.Effect<void> => {
      pending += text
      const lines = pending.split(/\r?\n/)
      pending = lines.pop() ?? ""
      return lines.length === 0 ? Effect.void : Effect.forEach(lines, log, { discard: true })
    },
    flush: Effect.suspend(() => {
      const rest = pending
      pending = ""
      return rest.length > 0 ? log(rest) : Effect.void
    }),
  }
}

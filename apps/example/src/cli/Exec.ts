import { DeviceCommunication, parsePythonLiteral } from "@belay/transport"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { onBoard } from "./Board.js"
import { boardText, print, printJson, toJson } from "./Output.js"

/**
 * `belay exec CODE`: run Python code, streaming what it prints (within the usual exec timeout), so
 * output printed before an exception shows, and a closed stdout stops the code on the board.
 *
 * @example
 * yield* execCode("virtual", "print(1)")
 */
export const execCode = (device: string, code: string) =>
  Effect.gen(function* () {
    const text = boardText()
    yield* onBoard(
      device,
      Effect.flatMap(DeviceCommunication, (d) =>
        Stream.runForEach(d.execStream(code), (out) => print(text(out))),
      ),
    )
    yield* print(text(""))
  })

/**
 * `belay eval EXPRESSION`: evaluate on the board and print the value as JSON (the board's repr
 * when it is not a Python literal).
 *
 * @example
 * yield* evalExpression("virtual", "1 + 1") // prints 2
 */
export const evalExpression = (device: string, expression: string) =>
  Effect.gen(function* () {
    const repr = yield* onBoard(
      device,
      Effect.flatMap(DeviceCommunication, (d) => d.eval(expression)),
    )
    const parsed = parsePythonLiteral(repr)
    printJson(Result.isSuccess(parsed) ? toJson(parsed.success) : repr)
  })

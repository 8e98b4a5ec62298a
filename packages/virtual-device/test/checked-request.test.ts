import { CHECKED_RUNTIME, execChecked, makeDeviceCommunication, type PythonError } from "@belay/transport"
import {
  checkedRequest,
  checkedRuntimeRequest,
  checkedTopLevelRequest,
  fromCheckedRequest,
} from "@belay/transport/internal"
import { Effect, Exit } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { openVirtualBoard } from "../src/openVirtualBoard.ts"

// Checked requests on real MicroPython (the WebAssembly build): the board runs a request only
// when it arrived intact, whatever single byte was dropped, repeated or flipped on the way.

type Device = Effect.Success<ReturnType<typeof makeDeviceCommunication>>
let device: Device
let close: () => Promise<void>

beforeAll(async () => {
  const { Scope } = await import("effect")
  const scope = Effect.runSync(Scope.make())
  device = await Effect.runPromise(
    Scope.provide(
      Effect.flatMap(openVirtualBoard(), (link) => makeDeviceCommunication(link, { integrity: "unchecked" })),
      scope,
    ),
  )
  close = () => Effect.runPromise(Scope.close(scope, Exit.void))
}, 60_000)
afterAll(() => close?.(), 60_000)

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromiseExit(effect)

describe("checked requests", () => {
  it("run the code as sent: output, definitions in globals, non-ASCII text", async () => {
    const out = await run(
      Effect.andThen(
        execChecked(device, "def twice(x):\n    return 2 * x\nlabel = 'héllo \\'q\\' \\\\'"),
        execChecked(device, "print(twice(21), label, len(label))"),
      ),
    )
    expect(out).toEqual(Exit.succeed("42 héllo 'q' \\ 11\r\n"))
  })

  it("run through the deployed short form, with the same reading of errors", async () => {
    const out = await run(
      Effect.andThen(
        execChecked(device, CHECKED_RUNTIME),
        execChecked(device, "print(6 * 7)", { runtime: true }),
      ),
    )
    expect(out).toEqual(Exit.succeed("42\r\n"))
    const failed = await run(
      Effect.flip(execChecked(device, "def inner():\n    raise KeyError('k')\ninner()", { runtime: true })),
    )
    const error = Exit.isSuccess(failed) ? failed.value : undefined
    expect(error?._tag).toBe("PythonError")
    expect(error?._tag === "PythonError" && error.traceback).toMatch(
      /Traceback \(most recent call last\):\r?\n {2}File "<stdin>", line 3, in <module>\r?\n {2}File "<stdin>", line 2, in inner\r?\nKeyError: k/,
    )
    // A request whose check fails ran none of it, and is reported as damaged after the resends.
    const damaged = await run(Effect.flip(device.exec("_belay_x(b'print(1)',8,1)")))
    const read =
      Exit.isSuccess(damaged) && damaged.value._tag === "PythonError"
        ? fromCheckedRequest(damaged.value, 3)
        : undefined
    expect(read?._tag).toBe("RequestDamagedError")
  })

  it("the top-level form runs the code at the top level, assigns no global, reads errors the same", async () => {
    const out = await run(
      Effect.andThen(
        device.exec(
          checkedTopLevelRequest("def thrice(x):\n    return 3 * x\nlabel = 'é'", { collectFirst: true }),
        ),
        device.exec("print(thrice(14), label, '_belay_q' in globals())"),
      ),
    )
    expect(out).toEqual(Exit.succeed("42 é False\r\n"))
    const failed = await run(
      Effect.flip(device.exec(checkedTopLevelRequest("def boom():\n    return 1/0\nboom()"))),
    )
    const error = Exit.isSuccess(failed) && failed.value._tag === "PythonError" ? failed.value : undefined
    expect(error).toBeDefined()
    const read = fromCheckedRequest(error!, 1)
    expect(read._tag === "PythonError" && read.exceptionType).toBe("ZeroDivisionError")
    expect(read._tag === "PythonError" && read.traceback).toMatch(/File "<stdin>", line \d+, in boom/)
    // The check refuses a damaged literal (here its length) and runs none of it.
    const damaged = await run(
      Effect.flip(device.exec(checkedTopLevelRequest("print(1)").replace("==8 ", "==7 "))),
    )
    expect(
      Exit.isSuccess(damaged) && damaged.value._tag === "PythonError"
        ? fromCheckedRequest(damaged.value, 1)._tag
        : undefined,
    ).toBe("RequestDamagedError")
  })

  it("report the code's own exceptions as if it had been sent plainly", async () => {
    const exit = await run(execChecked(device, "def boom():\n    return 1/0\nboom()"))
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? (exit.cause.reasons[0] as { error: PythonError }).error : undefined
    expect(error?._tag).toBe("PythonError")
    expect(error?.exceptionType).toBe("ZeroDivisionError")
    expect(error?.traceback).not.toContain("<string>")
    expect(error?.traceback).toMatch(
      /File "<stdin>", line 3, in <module>\r?\n {2}File "<stdin>", line 2, in boom/,
    )
    const syntax = await run(Effect.flip(execChecked(device, "x = (\n")))
    expect(Exit.isSuccess(syntax) && syntax.value._tag === "PythonError" && syntax.value.exceptionType).toBe(
      "SyntaxError",
    )
  })

  it("never run a request with one damaged byte: same output or RequestDamagedError", async () => {
    const programs = [
      "print(123456 + 654321)",
      "x = [1, 2, 3]\nprint(sum(x) * 7)",
      "print('a\\'b', \"é\")",
      "def f(a, b):\n    return a - b\nprint(f(1000, 1))",
    ]
    const expected = new Map<string, string>()
    for (const p of programs) {
      const out = await run(device.exec(p))
      if (Exit.isFailure(out)) throw new Error(`reference run of ${p} failed`)
      expected.set(p, out.value)
    }
    let damaged = 0
    const deployed = await run(execChecked(device, CHECKED_RUNTIME))
    expect(Exit.isSuccess(deployed)).toBe(true)
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...programs),
        fc.constantFrom("lambda", "runtime", "top-level"),
        fc.nat(),
        fc.constantFrom("drop", "duplicate", "flip"),
        fc.integer({ min: 1, max: 255 }),
        async (program, form, at, kind, mask) => {
          const request = Buffer.from(
            form === "runtime"
              ? checkedRuntimeRequest(program)
              : form === "top-level"
                ? checkedTopLevelRequest(program, { collectFirst: true })
                : checkedRequest(program),
            "utf8",
          )
          const i = at % request.length
          const bytes =
            kind === "drop"
              ? Buffer.concat([request.subarray(0, i), request.subarray(i + 1)])
              : kind === "duplicate"
                ? Buffer.concat([request.subarray(0, i + 1), request.subarray(i)])
                : Buffer.from(request.map((b, j) => (j === i ? b ^ mask : b)))
          // Bytes that would end or cut the exchange itself (Ctrl-C, Ctrl-D, ...) are the
          // transport's business, not the check's: leave them out.
          if (bytes.some((b) => b < 0x20 && b !== 0x0a)) return
          const exit = await run(device.execBytes(bytes))
          if (Exit.isSuccess(exit)) {
            expect(new TextDecoder().decode(exit.value)).toBe(expected.get(program))
            return
          }
          const error = (exit.cause.reasons[0] as { error?: { _tag: string } }).error
          expect(error?._tag).toBe("PythonError")
          const read = fromCheckedRequest(error as PythonError, 1)
          expect(read._tag).toBe("RequestDamagedError")
          damaged++
        },
      ),
      { numRuns: 1500, seed: 11 },
    )
    expect(damaged).toBeGreaterThan(450)
  }, 120_000)
})

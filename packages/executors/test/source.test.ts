import { Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { makeArgsCodec } from "../src/Codec.js"
import { FrameSplitter, splitFrames } from "../src/Framing.js"
import { DefinitionError, isPythonIdentifier, PythonSource, py, pythonFile, Task } from "../src/index.js"

describe("py template tag", () => {
  it("removes the shared indentation and the blank first and last lines", () => {
    const source = py`
      def f(x):
          if x:
              return 1

          return 2
    `
    expect(source.text).toBe("def f(x):\n    if x:\n        return 1\n\n    return 2")
  })

  it("keeps backslashes as written", () => {
    expect(py`print('a\nb\\')`.text).toBe("print('a\\nb\\\\')")
  })

  it("inserts values as Python literals, so a value cannot change the code", () => {
    const name = "x')\nimport os\nos.remove('main.py')#"
    const source = py`
      label = ${name}
      data = ${new Uint8Array([0, 255])}
      big = ${2n ** 70n}
    `
    expect(source.text.split("\n")).toEqual([
      "label = 'x\\')\\nimport os\\nos.remove(\\'main.py\\')#'",
      "data = b'\\x00\\xff'",
      "big = 1180591620717411303424",
    ])
  })

  it("inserts sources as code, re-indented where they stand", () => {
    const body = py`
      a = 1
      b = 2
    `
    const source = py`
      def f():
          ${body}
          return a + b
    `
    expect(source.text).toBe("def f():\n    a = 1\n    b = 2\n    return a + b")
  })

  it("loads a .py file, with a stable code hash", () => {
    const source = pythonFile(new URL("./python/stats.py", import.meta.url))
    expect(source.text).toContain("def mean(values):")
    expect(source.origin).toMatch(/stats\.py$/)
    expect(source.hash).toEqual(PythonSource.of(source.text).hash)
    expect(source.hash).not.toEqual(PythonSource.of(`${source.text}\n# changed`).hash)
  })
})

describe("declarations", () => {
  it("refuses names that are not Python identifiers", () => {
    expect(isPythonIdentifier("read_temp")).toBe(true)
    expect(isPythonIdentifier("class")).toBe(false)
    expect(isPythonIdentifier("a-b")).toBe(false)
    expect(() => Task.make({ name: "not a name", source: "pass" })).toThrow(DefinitionError)
    expect(() => Task.make({ name: "lambda", source: "pass" })).toThrow(DefinitionError)
  })

  it("encodes positional and keyword arguments", () => {
    const positional = makeArgsCodec([Schema.String, Schema.Number])
    expect(positional.encode("t", ["a'b", 2])).toMatchObject({ _tag: "Success", success: "'a\\'b',2" })
    const keywords = makeArgsCodec(Schema.Struct({ pin: Schema.Number, name: Schema.String }))
    expect(keywords.encode("t", [{ pin: 5, name: "led" }])).toMatchObject({
      _tag: "Success",
      success: "pin=5,name='led'",
    })
    const badKey = makeArgsCodec(Schema.Record(Schema.String, Schema.Number))
    expect(badKey.encode("t", [{ "not-a-name": 1 }])).toMatchObject({ _tag: "Failure" })
    expect(badKey.encode("t", [{ import: 1 }])).toMatchObject({ _tag: "Failure" })
    const none = makeArgsCodec(undefined)
    expect(none.encode("t", [])).toMatchObject({ _tag: "Success", success: "" })
    expect(none.encode("t", [1])).toMatchObject({ _tag: "Failure" })
  })
})

describe("framing", () => {
  it("finds frames and output however the stdout is cut into chunks (property)", () => {
    const output = fc.string({ unit: "binary", maxLength: 30 }).map((s) => s.replace(/\n/g, "\r\n"))
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(output, fc.option(fc.string({ maxLength: 10 }).map((s) => s.replace(/[\r\n]/g, "")))),
          {
            maxLength: 5,
          },
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        (parts, cuts) => {
          const nonce = "n0nce"
          let stdout = ""
          let expectedOutput = ""
          const expectedFrames: string[] = []
          for (const [out, frame] of parts) {
            stdout += out
            expectedOutput += out
            if (frame !== null) {
              stdout += `\x1e${nonce}${frame}\r\n`
              expectedFrames.push(frame)
            }
          }
          const points = [...new Set(cuts.map((c) => c % (stdout.length + 1)))].sort((a, b) => a - b)
          const splitter = new FrameSplitter(nonce)
          let got = ""
          const frames: string[] = []
          let from = 0
          for (const at of [...points, stdout.length]) {
            const r = splitter.feed(stdout.slice(from, at))
            got += r.output
            frames.push(...r.frames.map((f) => f.text))
            from = at
          }
          got += splitter.end()
          expect(frames).toEqual(expectedFrames)
          expect(got).toBe(expectedOutput)
        },
      ),
    )
  })

  it("splits a whole stdout as the chunked splitter does, marks and nonces in odd places included (property)", () => {
    // Pieces that often form frames, broken frames, frames of another nonce and stray marks.
    const piece = fc.constantFrom(
      "\x1e",
      "\x1f",
      "n0nce",
      "n0n",
      "other",
      "\r",
      "\n",
      "\r\n",
      "'x'",
      "1",
      "{}",
      "a b",
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 24 }), (pieces) => {
        const stdout = pieces.join("")
        const splitter = new FrameSplitter("n0nce")
        const fed = splitter.feed(stdout)
        expect(splitFrames(stdout, "n0nce")).toEqual({
          output: fed.output + splitter.end(),
          frames: fed.frames,
        })
      }),
      { numRuns: 2000 },
    )
  })

  it("ignores frames with another nonce, and tells results from registry replies", () => {
    const { output, frames } = splitFrames("a\x1eother'x'\r\n\x1fn0nce{}\r\n\x1en0nce1\r\n", "n0nce")
    expect(output).toBe("a\x1eother'x'\r\n")
    expect(frames).toEqual([
      { kind: "miss", text: "{}" },
      { kind: "result", text: "1" },
    ])
  })
})

import { parsePythonLiteral, toPythonLiteral } from "@belay/transport"
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  type BoardDialect,
  compareManyCode,
  copyCommitCode,
  copyRenameCode,
  downloadCode,
  downloadRawCode,
  finalizeCopyCode,
  guardCode,
  hashFunction,
  hashManyCode,
  listCode,
  mkdirCode,
  removeCode,
  removeTemporaryFilesCode,
  renameCommitCode,
  scanTemporaryFilesCode,
  statCode,
  statvfsCode,
  uploadAbortCode,
  uploadChunkCode,
  uploadEntry,
  uploadFinishCode,
  uploadInspectCode,
  uploadOpenCode,
  uploadVerifyCode,
} from "../src/BoardCode.js"
import { createHasher, digestHex } from "../src/Checksum.js"
import { encodeChunk, escapeRawOutput, expansion, RAW_ESCAPED, unescapeRawOutput } from "../src/Encoding.js"
import { wasmInterpreter } from "./fixtures.js"

/** What MicroPython's lexer makes of the bytes literals `encodeChunk` writes. */
const decodeLiteral = (expression: Uint8Array): Uint8Array => {
  expect(expression[0]).toBe(98) // b
  expect(expression[1]).toBe(39) // '
  expect(expression.at(-1)).toBe(39)
  const out: number[] = []
  for (let i = 2; i < expression.length - 1; i++) {
    const c = expression[i]!
    if (c !== 92) {
      expect(c).not.toBe(39)
      out.push(c)
      continue
    }
    const e = expression[++i]!
    if (e === 120) {
      out.push(Number.parseInt(String.fromCharCode(expression[i + 1]!, expression[i + 2]!), 16))
      i += 2
    } else out.push({ 110: 10, 114: 13, 116: 9 }[e] ?? e)
  }
  return Uint8Array.from(out)
}

describe("upload encodings", () => {
  it("raw: every byte value comes back; control bytes, line ends, quote and backslash never appear raw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 16, max: 2000 }), (data, budget) => {
        let offset = 0
        const back: number[] = []
        while (offset < data.length) {
          const { expression, consumed } = encodeChunk("raw", data, offset, budget)
          expect(consumed).toBeGreaterThan(0)
          if (consumed > 1) expect(expression.length).toBeLessThanOrEqual(Math.max(budget, 7))
          for (let i = 2; i < expression.length - 1; i++) {
            const b = expression[i]!
            if ([0, 1, 2, 3, 4, 10, 13].includes(b)) throw new Error(`raw byte ${b} in the literal`)
          }
          back.push(...decodeLiteral(expression))
          offset += consumed
        }
        expect(Uint8Array.from(back)).toEqual(data)
      }),
      { numRuns: 300 },
    )
  })

  it("repr: pure printable ASCII that decodes back", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (data) => {
        const { expression, consumed } = encodeChunk("repr", data, 0, 1 << 20)
        expect(consumed).toBe(data.length)
        for (const b of expression) expect(b >= 0x20 && b < 0x7f).toBe(true)
        expect(decodeLiteral(expression)).toEqual(data)
      }),
    )
  })

  it("base64: whole groups of three bytes per chunk, decodable", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 400 }),
        fc.integer({ min: 40, max: 300 }),
        (data, budget) => {
          let offset = 0
          const back: number[] = []
          while (offset < data.length) {
            const { expression, consumed } = encodeChunk("base64", data, offset, budget)
            const text = new TextDecoder().decode(expression)
            expect(text.startsWith("binascii.a2b_base64(b'")).toBe(true)
            if (offset + consumed < data.length) expect(consumed % 3).toBe(0)
            back.push(...Buffer.from(text.slice(22, -2), "base64"))
            offset += consumed
          }
          expect(Uint8Array.from(back)).toEqual(data)
        },
      ),
    )
  })

  it("raw downloads: escaped output unescapes to the data, up to the end mark", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.uint8Array({ maxLength: 20 }), (data, trailer) => {
        const escaped = escapeRawOutput(data)
        for (const b of escaped) expect([4, 10]).not.toContain(b)
        const framed = Uint8Array.from([...escaped, 27, 6, ...trailer])
        const back = unescapeRawOutput(framed)
        expect(back?.data).toEqual(data)
        expect(back?.rest).toBe(escaped.length + 2)
        expect(unescapeRawOutput(escaped)).toBeUndefined()
      }),
    )
  })

  it("raw is the densest for random data", () => {
    const data = Uint8Array.from({ length: 65536 }, (_, i) => (i * 2654435761) >>> 24)
    expect(expansion("raw", data)).toBeLessThan(1.1)
    expect(expansion("base64", data)).toBeCloseTo(4 / 3)
    expect(expansion("repr", data)).toBeGreaterThan(2)
    expect(RAW_ESCAPED.size).toBe(9)
  })
})

describe("checksums", () => {
  it("adler32 matches the published value", () => {
    expect(digestHex("adler32", new TextEncoder().encode("Wikipedia"))).toBe("11e60398")
    expect(digestHex("adler32", new Uint8Array())).toBe("00000001")
    expect(digestHex("sha256", new Uint8Array())).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    )
  })

  it("incremental hashing equals one-shot hashing", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20000 }), fc.integer({ min: 1, max: 7000 }), (data, step) => {
        for (const algorithm of ["adler32", "sha256"] as const) {
          const h = createHasher(algorithm)
          for (let i = 0; i < data.length; i += step) h.update(data.subarray(i, i + step))
          expect(h.digest()).toBe(digestHex(algorithm, data))
        }
      }),
      { numRuns: 50 },
    )
  })
})

const dialects: BoardDialect[] = [
  {
    flat: true,
    os: new Set(["listdir", "remove", "size"]),
    hash: "adler32",
    notFound: "(2,'file not found',)",
    exists: "(17,)",
    enotdir: 20,
    eexist: 17,
    piece: 256,
  },
  {
    flat: false,
    os: new Set(["listdir", "ilistdir", "stat", "mkdir", "rename", "rmdir", "remove", "statvfs"]),
    hash: "sha256",
    notFound: "(2,)",
    exists: "(17,)",
    enotdir: 20,
    eexist: 17,
    piece: 4096,
  },
  {
    flat: false,
    os: new Set(["listdir", "stat", "mkdir", "remove", "rmdir"]),
    hash: "adler32",
    notFound: "(2,44,)",
    exists: "(17,20,)",
    enotdir: 54,
    eexist: 20,
    piece: 1024,
  },
]

describe("the Python sent to boards", () => {
  it("compiles on MicroPython, for every kind of board", async () => {
    const { mp } = await wasmInterpreter()
    const names = {
      entry: uploadEntry(".belay-x-1"),
      key: "'.belay-x-1'",
      owner: "123,456",
      temp: "/d/.belay-x-1.tmp",
      real: "/d/a'b\n.txt",
      reserve: "/d/.belay-x-1r.tmp",
    }
    const expected = { prefixSize: 3, prefixDigest: "'0000abcd'", size: 10, digest: "'12345678'" }
    for (const d of dialects) {
      const snippets = [
        listCode(d, "/a", true),
        listCode(d, "/", false),
        statCode(d, "/a"),
        hashManyCode(d, ["/a", "/b'c"]),
        statvfsCode("/"),
        mkdirCode(d, ["/a", "/a/b"], true),
        mkdirCode(d, ["/a"], false),
        removeCode(d, "/a", true),
        copyRenameCode(d, "/a", "/b"),
        hashFunction(d),
        downloadCode(d, "/a", true, 512),
        downloadCode(d, "/a", false, 512),
        downloadRawCode(d, "/a", 0, 100, 512),
        downloadRawCode(d, "/a", 4096, 100, 512),
        uploadOpenCode(d, names, { base64: true, append: true }),
        uploadOpenCode(d, names, { base64: false, append: false }),
        uploadOpenCode(d, names, { base64: false, append: false, report: "/d" }),
        scanTemporaryFilesCode(d, "/d"),
        removeTemporaryFilesCode(["/d/.belay-x-1.tmp"], [".belay-x-1"]),
        `${uploadChunkCode(names, 3).join("b'abc'")}`,
        uploadAbortCode(names, "copy"),
        uploadAbortCode(names, "direct"),
        uploadFinishCode(d, names, "rename", expected),
        uploadFinishCode(d, names, "direct", expected),
        uploadVerifyCode(d, names, 3),
        copyCommitCode(d, names, 13),
        finalizeCopyCode(d, names, expected),
        uploadInspectCode(d, names, expected),
        renameCommitCode(names),
        guardCode(listCode(d, "/a'é", true)),
        new TextDecoder().decode(
          compareManyCode(d, [
            ["/a", "'00000001'"],
            ["/b'", "b'\\x00'"],
          ]),
        ),
      ]
      for (const code of snippets) {
        try {
          mp.runPython(`compile(${toPythonLiteral(code)}, '<t>', 'exec')`)
        } catch (error) {
          throw new Error(`does not compile:\n${code}\n${(error as Error).message}`)
        }
      }
    }
  })

  it("hashes on the board exactly as the host does, split at any point", async () => {
    const { mp, out } = await wasmInterpreter()
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.nat(3000), async (data, splitAt) => {
        const split = Math.min(splitAt, data.length)
        for (const d of dialects.slice(1, 3)) {
          out.length = 0
          mp.runPython(
            `f=open('/hash-test.bin','wb')\nf.write(${toPythonLiteral(data)})\nf.close()\n${hashFunction(d)}r=_bh('/hash-test.bin',${split})\nprint(repr((r[0],r[1],r[2])))\ndel _bh`,
          )
          const text = out
            .map((c) => new TextDecoder().decode(c))
            .join("")
            .trim()
          const parsed = parsePythonLiteral(text)
          if (!Result.isSuccess(parsed)) throw new Error(text)
          const [size, first, rest] = parsed.success as [number, Uint8Array | string, Uint8Array | string]
          const hex = (v: Uint8Array | string) => (typeof v === "string" ? v : Buffer.from(v).toString("hex"))
          expect(size).toBe(data.length - split)
          expect(hex(first)).toBe(digestHex(d.hash, data.subarray(0, split)))
          expect(hex(rest)).toBe(digestHex(d.hash, data.subarray(split)))
        }
      }),
      { numRuns: 40 },
    )
  })
})

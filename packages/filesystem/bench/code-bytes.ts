/**
 * Bytes of board code each request builder makes, for a micro:bit's dialect and the virtual
 * board's, as sent (guarded, as the upload and file exchanges are) and, with `--board
 * microbit|virtual`, the heap the board allocates to run it (collector off: parse, compile and
 * run, files absent so that it stops early: mostly the compile) for that board's dialect.
 * Run from packages/filesystem: `npx tsx bench/code-bytes.ts [--json] [--board microbit]`; with
 * `BOARD_CODE=<path of a BoardCode module>`, the builders of another version (a former commit's
 * `src/`, say).
 */
import path from "node:path"
import { makeDeviceCommunication, toPythonLiteral } from "@belay/transport"
import { openSerialLink } from "@belay/transport/serial"
import { openVirtualBoard, startQemuMicrobit } from "@belay/virtual-device"
import { Effect } from "effect"
import type * as BoardCode from "../src/BoardCode.js"
import type { BoardDialect, ExpectedContent, UploadNames } from "../src/BoardCode.js"

const B: typeof BoardCode = await import(
  process.env.BOARD_CODE === undefined ? "../src/BoardCode.js" : path.resolve(process.env.BOARD_CODE)
)

/** The dialects `dialectOf` gives the QEMU micro:bit (MicroPython 1.9.2) and the virtual board. */
const DIALECTS: ReadonlyArray<readonly [string, BoardDialect]> = [
  [
    "microbit",
    {
      flat: true,
      os: new Set(["listdir", "remove", "size"]),
      hash: "adler32",
      notFound: "(2,'file not found',)",
      exists: "(17,)",
      enotdir: 20,
      eexist: 17,
      piece: 128,
    },
  ],
  [
    "virtual",
    {
      flat: false,
      os: new Set(["listdir", "ilistdir", "stat", "mkdir", "rename", "rmdir", "remove", "statvfs"]),
      hash: "sha256",
      notFound: "(44,)",
      exists: "(20,)",
      enotdir: 54,
      eexist: 20,
      piece: 4096,
    },
  ],
]

const stem = ".belay-k3x9ab-1"
const namesOf = (d: BoardDialect): UploadNames => {
  const dir = d.flat ? "" : "/heap/"
  return {
    entry: B.uploadEntry(stem),
    key: `'${stem}'`,
    owner: "123456789,4242",
    temp: `${dir}${stem}.tmp`,
    real: `${dir}w.bin`,
    reserve: `${dir}${stem}r.tmp`,
  }
}
const expectedOf = (d: BoardDialect, append: boolean): ExpectedContent => {
  const digest = d.hash === "adler32" ? "'1234abcd'" : `b'${"\\xff".repeat(32)}'`
  return { prefixSize: append ? 3000 : 0, prefixDigest: append ? digest : "None", size: 3100, digest }
}

/** Each builder's code for dialect `d`: name, code, and whether it is sent guarded. */
const codesOf = (d: BoardDialect): ReadonlyArray<readonly [string, string, boolean]> => {
  const names = namesOf(d)
  const p = (name: string) => (d.flat ? name : `/heap/${name}`)
  const text = (code: string | Uint8Array) =>
    typeof code === "string" ? code : Buffer.from(code).toString("latin1")
  return [
    ["probe", text(B.probeCode(new Uint8Array(600).fill(0x41), d.flat ? undefined : { flat: false })), false],
    ["list", B.listCode(d, d.flat ? "" : "/heap", false), true],
    ["stat", B.statCode(d, p("seed.bin")), true],
    ["hashMany", B.hashManyCode(d, [p("seed.bin")]), true],
    ["compareMany", text(B.compareManyCode(d, [[p("seed.bin"), "'00000001'"]])), true],
    ["statvfs", B.statvfsCode("/"), true],
    ["mkdir", B.mkdirCode(d, ["/heap/d", "/heap/d/e"], true), true],
    ["remove", B.removeCode(d, p("v.bin"), false), true],
    [
      "rename",
      d.os.has("rename") ? B.renameCode(p("w.bin"), p("v.bin")) : B.copyRenameCode(d, p("w.bin"), p("v.bin")),
      true,
    ],
    ["upload open (write)", B.uploadOpenCode(d, names, { base64: false, append: false }), true],
    ["upload open (append)", B.uploadOpenCode(d, names, { base64: false, append: true }), true],
    [
      "upload open (report)",
      B.uploadOpenCode(d, names, { base64: false, append: false, report: d.flat ? "" : "/heap" }),
      true,
    ],
    ["upload chunk (wrapper)", B.uploadChunkCode(names, 0).join("b''"), false],
    [
      "upload finish/verify",
      d.os.has("rename")
        ? B.uploadFinishCode(d, names, "rename", expectedOf(d, true))
        : B.uploadVerifyCode(d, names, 3000),
      true,
    ],
    ["upload finish (direct)", B.uploadFinishCode(d, names, "direct", expectedOf(d, true)), true],
    ["copy commit", B.copyCommitCode(d, names, 6100), true],
    ["finalize copy", B.finalizeCopyCode(d, names, expectedOf(d, true)), true],
    ["inspect", B.uploadInspectCode(d, names, expectedOf(d, true)), true],
    ["rename commit", B.renameCommitCode(names), true],
    ["abort (copy)", B.uploadAbortCode(names, "copy"), true],
    ["abort (rename)", B.uploadAbortCode(names, "rename"), true],
    ["scan temporaries", B.scanTemporaryFilesCode(d, d.flat ? "" : "/heap"), true],
    ["remove temporaries", B.removeTemporaryFilesCode([names.temp], [stem]), true],
    ["download", B.downloadCode(d, p("w.bin"), false, d.piece), true],
    ["download (raw)", B.downloadRawCode(d, p("w.bin"), 0, 3100, d.piece), true],
  ]
}

interface Row {
  readonly dialect: string
  readonly builder: string
  readonly bytes: number
  readonly sent: number
  allocated?: string
}

const rows: Row[] = []
for (const [dialect, d] of DIALECTS) {
  for (const [builder, code, guarded] of codesOf(d)) {
    rows.push({ dialect, builder, bytes: code.length, sent: (guarded ? B.guardCode(code) : code).length })
  }
}

/**
 * Run each builder's code on a fresh board (its heap as after a start, the same for every version
 * measured) with the collector off: what it allocates (parse, compile, run), as `bench/heap.ts`
 * replays an exchange: the code is held in a string first, as a guarded exchange holds it. Files
 * are absent, so that it stops at its first file access: mostly the compile. `!`: a
 * `MemoryError` (no collection could make room); `-`: the string itself did not fit.
 */
const measure = (board: "microbit" | "virtual") =>
  Effect.gen(function* () {
    const d = DIALECTS.find(([name]) => name === board)![1]
    for (const [builder, code] of codesOf(d)) {
      // The probe is sent as it is, once, and collects the heap itself: not replayed.
      if (builder === "probe") continue
      const row = rows.find((r) => r.dialect === board && r.builder === builder)!
      row.allocated = yield* Effect.scoped(
        Effect.gen(function* () {
          const link =
            board === "microbit"
              ? yield* Effect.flatMap(startQemuMicrobit(), (qemu) => openSerialLink({ path: qemu.ptyPath }))
              : yield* openVirtualBoard({})
          const device = yield* makeDeviceCommunication(link)
          yield* device.exec("import gc\ngc.collect()")
          // The string first, in an exchange of its own: the line it came in is freed before the run.
          const held = yield* device
            .exec(`_mc=${toPythonLiteral(code)}`)
            .pipe(Effect.retry({ times: 3 }), Effect.option)
          if (held._tag === "None") return "-"
          // Globals are made before the collector stops: a full heap cannot grow the globals dict.
          const out = yield* device
            .exec(
              `import gc\n_me=_m1=_m0=_mx=0\ngc.collect();gc.disable();_m0=gc.mem_free()\ntry:\n exec(_mc)\nexcept BaseException as _mx:\n _me=type(_mx) is MemoryError\n_m1=gc.mem_free();gc.enable();del _mc;gc.collect()\nprint('@',_m0-_m1,_me)`,
            )
            .pipe(Effect.retry({ times: 3 }))
          const [allocated, memoryError] = out
            .slice(out.lastIndexOf("@") + 1)
            .trim()
            .split(/\s+/)
          return `${allocated}${memoryError === "True" ? "!" : ""}`
        }),
      )
    }
  })

const board = process.argv.includes("--board") ? process.argv[process.argv.indexOf("--board") + 1] : undefined
if (board === "microbit" || board === "virtual") await Effect.runPromise(measure(board))

if (process.argv.includes("--json")) console.log(JSON.stringify(rows))
else {
  console.log("| builder | dialect | code bytes | sent bytes | allocates |")
  console.log("|---|---|---|---|---|")
  for (const r of rows)
    console.log(`| ${r.builder} | ${r.dialect} | ${r.bytes} | ${r.sent} | ${r.allocated ?? ""} |`)
}

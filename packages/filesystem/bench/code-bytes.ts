/**
 * Bytes of board code each request builder makes, for a micro:bit's dialect and the virtual
 * board's: the code itself and, for the upload exchanges, as sent (guarded). No board needed.
 * Run: `npx tsx bench/code-bytes.ts [--json]` from packages/filesystem.
 */

import {
  type BoardDialect,
  compareManyCode,
  copyCommitCode,
  copyRenameCode,
  downloadCode,
  downloadRawCode,
  type ExpectedContent,
  finalizeCopyCode,
  hashManyCode,
  listCode,
  mkdirCode,
  probeCode,
  removeCode,
  removeTemporaryFilesCode,
  renameCode,
  renameCommitCode,
  scanTemporaryFilesCode,
  statCode,
  statvfsCode,
  type UploadNames,
  uploadAbortCode,
  uploadChunkCode,
  uploadEntry,
  uploadFinishCode,
  uploadInspectCode,
  uploadOpenCode,
  uploadVerifyCode,
} from "../src/BoardCode.js"
import { guardCode } from "../src/UploadCode.js"

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
    entry: uploadEntry(stem),
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

const rows: Array<{ dialect: string; builder: string; bytes: number; guarded: number }> = []
for (const [dialectName, d] of DIALECTS) {
  const names = namesOf(d)
  const p = (name: string) => (d.flat ? name : `/heap/${name}`)
  const codes: ReadonlyArray<readonly [string, string | Uint8Array]> = [
    ["probe", probeCode(new Uint8Array(600), d.flat ? undefined : { flat: false })],
    ["list", listCode(d, d.flat ? "" : "/heap", false)],
    ["stat", statCode(d, p("seed.bin"))],
    ["hashMany", hashManyCode(d, [p("seed.bin")])],
    ["compareMany", compareManyCode(d, [[p("seed.bin"), "'00000001'"]])],
    ["statvfs", statvfsCode("/")],
    ["mkdir", mkdirCode(d, ["/heap/d", "/heap/d/e"], true)],
    ["remove", removeCode(d, p("v.bin"), false)],
    [
      "rename",
      d.os.has("rename") ? renameCode(p("w.bin"), p("v.bin")) : copyRenameCode(d, p("w.bin"), p("v.bin")),
    ],
    ["upload open (write)", uploadOpenCode(d, names, { base64: false, append: false })],
    ["upload open (append)", uploadOpenCode(d, names, { base64: false, append: true })],
    [
      "upload open (report)",
      uploadOpenCode(d, names, { base64: false, append: false, report: d.flat ? "" : "/heap" }),
    ],
    ["upload chunk (wrapper)", uploadChunkCode(names, 1000).join("")],
    [
      "upload finish/verify",
      d.os.has("rename")
        ? uploadFinishCode(d, names, "rename", expectedOf(d, true))
        : uploadVerifyCode(d, names, 3000),
    ],
    ["upload finish (direct)", uploadFinishCode(d, names, "direct", expectedOf(d, true))],
    ["copy commit", copyCommitCode(d, names, 6100)],
    ["finalize copy", finalizeCopyCode(d, names, expectedOf(d, true))],
    ["inspect", uploadInspectCode(d, names, expectedOf(d, true))],
    ["rename commit", renameCommitCode(names)],
    ["abort (copy)", uploadAbortCode(names, "copy")],
    ["abort (rename)", uploadAbortCode(names, "rename")],
    ["scan temporaries", scanTemporaryFilesCode(d, d.flat ? "" : "/heap")],
    ["remove temporaries", removeTemporaryFilesCode([names.temp], [stem])],
    ["download", downloadCode(d, p("w.bin"), false, d.piece)],
    ["download (raw)", downloadRawCode(d, p("w.bin"), 0, 3100, d.piece)],
  ]
  for (const [builder, code] of codes) {
    const text = typeof code === "string" ? code : Buffer.from(code).toString("latin1")
    rows.push({ dialect: dialectName, builder, bytes: text.length, guarded: guardCode(text).length })
  }
}

if (process.argv.includes("--json")) console.log(JSON.stringify(rows))
else {
  console.log("| builder | dialect | code bytes | guarded |")
  console.log("|---|---|---|---|")
  for (const r of rows) console.log(`| ${r.builder} | ${r.dialect} | ${r.bytes} | ${r.guarded} |`)
}

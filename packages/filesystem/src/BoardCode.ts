/**
 * The Python this package sends to boards. Everything here runs on MicroPython 1.9 and later in a
 * few KB of heap: no f-strings, no json, no walrus; helpers are defined inside one exchange and
 * deleted at its end (try/finally), so nothing stays in the board's RAM between operations except
 * the registry entry of an upload in flight (`_bf`, see {@link uploadEntry}). Paths and data are embedded with `toPythonLiteral`, so no value
 * can break out of its literal.
 * @internal
 */
import { toPythonLiteral } from "@belay/transport"
import { checkedTopLevelRequest } from "@belay/transport/internal"
import type { HashAlgorithm } from "./Checksum.js"

/** What the generated code may use on this board. */
export interface BoardDialect {
  /** No directories: `os.listdir()` takes no argument, paths are bare names. */
  readonly flat: boolean
  readonly os: ReadonlySet<string>
  readonly hash: HashAlgorithm
  /** Python tuple literal of the values `OSError.args[0]` takes for "no such file". */
  readonly notFound: string
  /** Python tuple literal of the values `OSError.args[0]` takes for "exists". */
  readonly exists: string
  /** The board's errno for "not a directory" (raised by our own code). */
  readonly enotdir: number
  /** The board's errno for "exists" (raised by our own code). */
  readonly eexist: number
  /** Bytes read per step when hashing, copying and downloading on the board. */
  readonly piece: number
}

export const py = (value: unknown): string => toPythonLiteral(value)

export const OS_IMPORT = "try:\n import os\nexcept ImportError:\n import uos as os\n"

/** Indent every line of `code` by `n` spaces. */
const indent = (code: string, n: number): string =>
  code
    .split("\n")
    .map((line) => (line.length > 0 ? " ".repeat(n) + line : line))
    .join("\n")

/** A running hash in Python: how to start, feed `d`, and finish it. */
interface HashCode {
  readonly imports: string
  readonly init: string
  /** Feeds the bytes in `d` (several lines, at indent 0). */
  readonly update: string
  readonly digest: string
  /** Largest read size that keeps the sums small ints. */
  readonly maxPiece: number
}

export const hashCode = (algorithm: HashAlgorithm): HashCode =>
  algorithm === "adler32"
    ? {
        imports: "",
        init: "a=1;b=0",
        update: "for x in d:\n a+=x;b+=a\na%=65521;b%=65521",
        digest: "'%04x%04x'%(b,a)",
        maxPiece: 1024,
      }
    : {
        imports: "import hashlib",
        init: `h=hashlib.${algorithm}()`,
        update: "h.update(d)",
        digest: "h.digest()",
        maxPiece: 1 << 16,
      }

/** Read piece for hashing-related loops. */
export const hashPiece = (d: BoardDialect): number => Math.min(d.piece, hashCode(d.hash).maxPiece)

/**
 * `_bh(p, s)`: hash file `p` in two parts, the first `s` bytes and the rest; returns
 * `(size of the rest, digest of the first part, digest of the rest)`. With `s = 0` the first
 * digest is of nothing. A file shorter than `s` gives a negative size.
 */
export const hashFunction = (d: BoardDialect): string => {
  const h = hashCode(d.hash)
  const piece = hashPiece(d)
  return [
    "def _bh(p,s):",
    h.imports ? ` ${h.imports}` : "",
    " f=open(p,'rb')",
    ` ${h.init};q=None;n=0`,
    " while 1:",
    "  if n==s:",
    `   q=${h.digest};${h.init}`,
    `  d=f.read(min(${piece},s-n) if n<s else ${piece})`,
    "  if not d:break",
    "  n+=len(d)",
    indent(h.update, 2),
    " f.close()",
    " if q is None:",
    `  q=${h.digest};${h.init}`,
    ` return (n-s,q,${h.digest})`,
    "",
  ]
    .filter((line) => line !== "")
    .join("\n")
    .concat("\n")
}

/** `_bsz(p)`: the size of file `p`, raising OSError when it does not exist. */
export const sizeFunction = (d: BoardDialect): string => {
  if (d.os.has("stat")) return "def _bsz(p):\n return os.stat(p)[6]\n"
  if (d.os.has("size")) return "def _bsz(p):\n return os.size(p)\n"
  return [
    "def _bsz(p):",
    " f=open(p,'rb');n=0",
    " while 1:",
    `  d=f.read(${d.piece})`,
    "  if not d:break",
    "  n+=len(d)",
    " f.close()",
    " return n",
    "",
  ].join("\n")
}

/** Expression: is `e` (an OSError) "no such file"? */
const isNotFound = (d: BoardDialect, e = "e") => `(${e}.args and ${e}.args[0] in ${d.notFound})`

/** Statement block (indent 0) removing `p` if it exists. */
const removeQuietly = (pathExpr: string) => `try:\n os.remove(${pathExpr})\nexcept OSError:\n pass`

/** Run a function defined above, reply its value (framed, see {@link framedReply}), delete the helpers whatever happens. */
const runAndDelete = (call: string, names: ReadonlyArray<string>) =>
  `try:\n _bo(${call})\nfinally:\n del ${names.join(",")}\n`

// ---------------------------------------------------------------------------------------------
// Reply frames
// ---------------------------------------------------------------------------------------------

/**
 * `_bo(v)` prints `repr(v)` as one reply line and adds its bytes (and the newline) to the frame's
 * count and 16-bit sum in `_bk`; `len` and `sum` of the encoded line run at C speed.
 */
const FRAME_HEAD =
  "_bk=[0,0]\ndef _bo(v):\n t=repr(v);print(t);b=bytes(t,'utf-8');_bk[0]+=len(b)+1;_bk[1]=(_bk[1]+sum(b))&65535\n"

/** The frame's last line: `#<bytes>:<sum>` of the lines before it. */
const FRAME_TRAILER = "print('#%d:%d'%(_bk[0],_bk[1]))"

/** The reply line the board prints for an OSError caught inside a frame: `('OSError', errno)`. */
export const FRAMED_OS_ERROR = "OSError"

/**
 * Wrap `body` so that its reply is self-checking: every value it replies with `_bo(v)` is one
 * `repr` line, and a last line `#<bytes>:<sum>` gives the byte count and 16-bit byte sum of the
 * lines before it (each with its newline), which the host checks before parsing anything. With
 * `catchOSError`, an OSError becomes the reply line `('OSError', errno)` inside the frame, so that
 * "no such file" is checked like any other answer.
 *
 * @example
 * framedReply("_bo(1)") // prints "1" then "#2:49"
 */
export const framedReply = (body: string, catchOSError = true): string =>
  [
    `${FRAME_HEAD}try:`,
    catchOSError
      ? indent(
          `try:\n${indent(body.trimEnd(), 1)}\nexcept OSError as e:\n _bo(('${FRAMED_OS_ERROR}',e.args[0] if e.args else None))`,
          1,
        )
      : indent(body.trimEnd(), 1),
    ` ${FRAME_TRAILER}`,
    "finally:",
    " del _bo,_bk",
    "",
  ].join("\n")

/** Byte count and 16-bit sum of reply lines, as the board computes them for a frame. */
export const frameCheck = (lines: ReadonlyArray<Uint8Array>): readonly [number, number] => {
  let count = 0
  let sum = 0
  for (const line of lines) {
    count += line.length + 1
    for (const b of line) sum += b
    sum &= 0xffff
  }
  return [count, sum]
}

/** The constant reply `text` (ASCII, one line) in its frame, as a Python string literal. */
const framedLiteral = (text: string): string => {
  const [count, sum] = frameCheck([new TextEncoder().encode(text)])
  return py(`${text}\n#${count}:${sum}`)
}

/** A statement printing the constant reply `text` (ASCII, one line) in its frame, checked like any other. */
const framedConstant = (text: string): string => `print(${framedLiteral(text)})`

/** Run a call (it prints what it has to), then delete the helpers whatever happens. */
const runThenDelete = (call: string, names: ReadonlyArray<string>) =>
  `try:\n ${call}\nfinally:\n del ${names.join(",")}\n`

// ---------------------------------------------------------------------------------------------
// Probe
// ---------------------------------------------------------------------------------------------

export const ERRNO_NAMES = [
  "ENOENT",
  "EEXIST",
  "ENOTDIR",
  "EISDIR",
  "ENOSPC",
  "ENOTEMPTY",
  "EACCES",
  "EROFS",
  "EINVAL",
  "EIO",
  "EBUSY",
] as const

/**
 * Raw downloads escape three byte values so that the output stays framed and survives boards
 * that print `\n` as `\r\n`: ESC (0x1b) becomes ESC ESC, Ctrl-D (0x04, the end of stdout in the
 * raw REPL) ESC 0x05, LF ESC 0x0b; ESC 0x06 ends the data. This expression escapes `d`.
 */
export const RAW_OUT_ESCAPE =
  "d.replace(b'\\x1b',b'\\x1b\\x1b').replace(b'\\x04',b'\\x1b\\x05').replace(b'\\n',b'\\x1b\\x0b')"

/**
 * The per-board file-transfer probe: does an 8-bit bytes literal arrive intact (`raw`), the
 * board's errno numbers, its free memory after a collection, and (with `temporaries`) the
 * temporary files in the root with the board's registry of uploads (`tmp`, `reg`). `rawLiteral`
 * is the bytes 0..255 in the `raw` encoding.
 */
export const probeCode = (
  rawLiteral: Uint8Array,
  temporaries: Pick<BoardDialect, "flat"> | undefined,
): Uint8Array => {
  const enc = new TextEncoder()
  const head = enc.encode("def _bp():\n import gc\n r={}\n d=")
  const tail = enc.encode(
    [
      "",
      " r['raw']=d==bytes(range(256))",
      " try:",
      "  import errno",
      " except ImportError:",
      "  try:",
      "   import uerrno as errno",
      "  except ImportError:",
      "   errno=None",
      ` r['errno']=[getattr(errno,n,None) for n in ${py([...ERRNO_NAMES])}] if errno else []`,
      // The number the filesystem really raises for a missing file (a VFS may not use the errno
      // module's numbers: MicroPython on Emscripten raises Emscripten's). Read-only.
      " try:",
      "  import os",
      " except ImportError:",
      "  import uos as os",
      " try:",
      "  open('.belay-probe-missing','rb').close()",
      " except OSError as e:",
      "  r['enoent']=e.args[0] if e.args else None",
      // binascii written in Python (micropython-lib's, as on the WebAssembly port) is slow and
      // makes heaps of garbage: base64 is used only with a built-in one.
      " try:",
      "  import binascii",
      "  r['b64']=not hasattr(binascii,'__file__')",
      " except ImportError:",
      "  r['b64']=False",
      // Can the board print raw bytes (`sys.stdout.buffer`, not cooked)? It writes every byte
      // value escaped as downloads do, first thing in its output; the host checks.
      " import sys",
      " b=getattr(sys.stdout,'buffer',None) if hasattr(sys,'stdout') else None",
      ` if b:b.write(${RAW_OUT_ESCAPE.replace(/^d/, "bytes(range(256))")}+b'\\n')`,
      " r['out']=b is not None",
      // The root's temporary files and the registry of uploads: what a dead host left (see
      // TemporaryFiles). Not on small boards: the probe is as long as a micro:bit can parse.
      ...(temporaries === undefined ? [] : [probeTemporaryFilesCode(temporaries)]),
      " gc.collect()",
      " r['free']=gc.mem_free()",
      // Framed like every reply (see framedReply): the errno numbers decide how every error maps.
      " t=repr(r);b=bytes(t,'utf-8')",
      " print(t);print('#%d:%d'%(len(b)+1,sum(b)&65535))",
      "try:",
      " _bp()",
      "finally:",
      " del _bp",
      "",
    ].join("\n"),
  )
  const out = new Uint8Array(head.length + rawLiteral.length + tail.length)
  out.set(head)
  out.set(rawLiteral, head.length)
  out.set(tail, head.length + rawLiteral.length)
  return out
}

// ---------------------------------------------------------------------------------------------
// Listing, stat, hash
// ---------------------------------------------------------------------------------------------

/** Child path expression inside a listing function: `p` joined with `n`. */
const childOf = "(p if p!='/' else '')+'/'+n"

/**
 * Print one `(path, isDir, size)` repr line per entry under `native` (recursively when asked).
 * On a flat board the paths printed are `/name`.
 */
export const listCode = (d: BoardDialect, native: string, recursive: boolean): string => {
  if (d.flat) {
    return framedReply(
      [
        OS_IMPORT + sizeFunction(d),
        "def _bl():",
        " for n in os.listdir():",
        "  _bo(('/'+n,0,_bsz(n)))",
        runThenDelete("_bl()", ["_bl", "_bsz"]),
      ].join("\n"),
    )
  }
  const body = d.os.has("ilistdir")
    ? [
        "def _bl(p,r):",
        " for e in os.ilistdir(p):",
        "  n=e[0]",
        `  q=${childOf}`,
        "  if e[1]==0x4000:",
        "   _bo((q,1,0))",
        "   if r:_bl(q,r)",
        "  else:",
        "   _bo((q,0,e[3] if len(e)>3 and e[3]>=0 else _bsz(q)))",
      ]
    : [
        "def _bl(p,r):",
        " for n in os.listdir(p):",
        `  q=${childOf}`,
        "  s=os.stat(q)",
        "  if s[0]&0x4000:",
        "   _bo((q,1,0))",
        "   if r:_bl(q,r)",
        "  else:",
        "   _bo((q,0,s[6]))",
      ]
  return framedReply(
    [
      OS_IMPORT + sizeFunction(d) + body.join("\n"),
      runThenDelete(`_bl(${py(native)},${recursive ? 1 : 0})`, ["_bl", "_bsz"]),
    ].join("\n"),
  )
}

/** Print `(isDir, size)` for one path. */
export const statCode = (d: BoardDialect, native: string): string => {
  if (native === "" || native === "/") return framedReply("_bo((1,0))")
  if (d.os.has("stat")) {
    return framedReply(
      `${OS_IMPORT}s=os.stat(${py(native)})\n_bo((1,0) if s[0]&0x4000 else (0,s[6]))\ndel s\n`,
    )
  }
  return framedReply(
    [OS_IMPORT + sizeFunction(d), runAndDelete(`(0,_bsz(${py(native)}))`, ["_bsz"])].join("\n"),
  )
}

/**
 * Hash files on the board, one `(path, size, digest)` line each; a failing path prints
 * `(path, None, errno)`.
 */
export const hashManyCode = (d: BoardDialect, natives: ReadonlyArray<string>): string =>
  framedReply(
    [
      OS_IMPORT + hashFunction(d),
      "def _bb():",
      ` for p in ${py(natives)}:`,
      "  try:",
      "   r=_bh(p,0)",
      "   _bo((p,r[0],r[2]))",
      "  except OSError as e:",
      "   _bo((p,None,e.args[0] if e.args else None))",
      runThenDelete("_bb()", ["_bb", "_bh"]),
    ].join("\n"),
  )

/**
 * Compare files with expected digests on the board: print the index of each file whose digest
 * differs (or that cannot be read). Nothing is printed for files that match, so an unchanged tree
 * costs almost no reply. `items` are `(path, digest expression)`; a digest expression may be a raw
 * bytes literal (not valid UTF-8), hence bytes.
 */
export const compareManyCode = (
  d: BoardDialect,
  items: ReadonlyArray<readonly [string, Uint8Array | string]>,
): Uint8Array => {
  const enc = new TextEncoder()
  const head = enc.encode(
    [
      FRAME_HEAD + OS_IMPORT + hashFunction(d).trimEnd(),
      "def _bb(L):",
      " i=0",
      " for p,h in L:",
      "  try:",
      "   if _bh(p,0)[2]!=h:_bo(i)",
      "  except OSError:",
      "   _bo(i)",
      "  i+=1",
      "try:",
      " try:",
      "  _bb([",
    ].join("\n"),
  )
  const parts: Uint8Array[] = [head]
  items.forEach(([path, digest], i) => {
    parts.push(
      enc.encode(`${i > 0 ? "," : ""}(${py(path)},`),
      typeof digest === "string" ? enc.encode(digest) : digest,
      enc.encode(")"),
    )
  })
  parts.push(
    enc.encode(
      `])\n except OSError as e:\n  _bo(('${FRAMED_OS_ERROR}',e.args[0] if e.args else None))\n ${FRAME_TRAILER}\nfinally:\n del _bb,_bh,_bo,_bk\n`,
    ),
  )
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Print `(f_bsize, f_frsize, f_blocks, f_bfree, f_bavail)`. */
export const statvfsCode = (native: string): string =>
  framedReply(`${OS_IMPORT}s=os.statvfs(${py(native)})\n_bo((s[0],s[1],s[2],s[3],s[4]))\ndel s\n`)

// ---------------------------------------------------------------------------------------------
// mkdir, remove, rename
// ---------------------------------------------------------------------------------------------

/** Make each directory in `paths` (outermost first); with `parents`, existing directories are fine. */
export const mkdirCode = (d: BoardDialect, paths: ReadonlyArray<string>, parents: boolean): string => {
  if (!parents) return framedReply(`${OS_IMPORT}os.mkdir(${py(paths.at(-1))})\n`)
  return framedReply(
    [
      OS_IMPORT.trimEnd(),
      "def _bm():",
      ` l=${py(paths)}`,
      " for q in l:",
      "  try:",
      "   os.mkdir(q)",
      "  except OSError as e:",
      `   if not (e.args and e.args[0] in ${d.exists}):raise`,
      "   if not os.stat(q)[0]&0x4000:",
      `    raise OSError(${d.eexist} if q==l[-1] else ${d.enotdir})`,
      runThenDelete("_bm()", ["_bm"]),
    ].join("\n"),
  )
}

/** Remove a file, an empty directory, or (recursive) a whole tree. */
export const removeCode = (d: BoardDialect, native: string, recursive: boolean): string => {
  if (d.flat) return framedReply(`${OS_IMPORT}os.remove(${py(native)})\n`)
  const walk = d.os.has("ilistdir")
    ? [" for e in os.ilistdir(p):", "  n=e[0]", `  q=${childOf}`, "  if e[1]==0x4000:_br(q)"]
    : [" for n in os.listdir(p):", `  q=${childOf}`, "  if os.stat(q)[0]&0x4000:_br(q)"]
  return framedReply(
    [
      OS_IMPORT.trimEnd(),
      "def _br(p):",
      ...walk,
      "  else:os.remove(q)",
      " os.rmdir(p)",
      "def _bx(p):",
      " if os.stat(p)[0]&0x4000:",
      recursive ? "  _br(p)" : "  os.rmdir(p)",
      " else:",
      "  os.remove(p)",
      runThenDelete(`_bx(${py(native)})`, ["_bx", "_br"]),
    ].join("\n"),
  )
}

/** `os.rename` where the board has it. */
export const renameCode = (from: string, to: string): string =>
  framedReply(`${OS_IMPORT}os.rename(${py(from)},${py(to)})\n`)

/**
 * Rename on a board without `os.rename`: copy on the board, check the copy has the same size and
 * hash, then remove the original. The original is opened first, so a missing source never
 * clobbers the target.
 */
export const copyRenameCode = (d: BoardDialect, from: string, to: string): string =>
  framedReply(
    [
      OS_IMPORT + hashFunction(d),
      "def _bn(a,b):",
      " s=open(a,'rb');g=open(b,'wb')",
      " while 1:",
      `  d=s.read(${d.piece})`,
      "  if not d:break",
      "  g.write(d)",
      " g.close();s.close()",
      " if _bh(a,0)!=_bh(b,0):",
      "  os.remove(b)",
      "  raise OSError(5)",
      " os.remove(a)",
      runThenDelete(`_bn(${py(from)},${py(to)})`, ["_bn", "_bh"]),
    ].join("\n"),
  )

// ---------------------------------------------------------------------------------------------
// Uploads
// ---------------------------------------------------------------------------------------------

/** How an upload lands under its real name. */
export type CommitMode = "rename" | "copy" | "direct"

/**
 * An upload's entry in the board's registry of uploads (see `TemporaryFiles`): the global dict
 * `_bf`, under the upload's stem, holds `[open file or None, host, pid]` from the exchange that
 * creates the temporary file to the one that renames or removes it. The key is a string too long
 * for MicroPython to intern (interned names are never freed: a global or a short key per upload
 * would cost the board heap for good). The dict goes when its last entry does.
 *
 * @example
 * uploadEntry(".belay-k3x9ab-7") // "_bf['.belay-k3x9ab-7']"
 */
export const uploadEntry = (stem: string): string => `_bf[${py(stem)}]`

const OPEN_HANDLES = "if '_bf' not in globals():_bf={}"
const DROP_HANDLES = "if '_bf' in globals() and not _bf:del _bf"

/** Statements (indent 0) forgetting an upload's registry entry, if it is there. */
const forgetEntry = (entry: string) => `try:\n del ${entry}\nexcept Exception:\n pass\n${DROP_HANDLES}`

/** Expression: the registry's entries as `[[stem, host, pid], ...]` (`g` is the dict or `{}`). */
const REGISTRY_LIST = "[[k]+v[1:] for k,v in g.items() if type(v) is list]"

/** Expression: the names in directory `native` that look like temporary files. */
const temporaryNames = (d: Pick<BoardDialect, "flat">, native: string) =>
  `[n for n in ${d.flat ? "os.listdir()" : `os.listdir(${py(native)})`} if n[:7]=='.belay-']`

/** The names one upload uses on the board. */
export interface UploadNames {
  /** Its entry in the board's registry: {@link uploadEntry}, e.g. `_bf['.belay-k3x9ab-7']`. */
  readonly entry: string
  /** The entry's key, a Python literal: `'.belay-k3x9ab-7'`. */
  readonly key: string
  /** Who owns it, as the registry records it: `host,pid` (two ints). */
  readonly owner: string
  /** Where the bytes are written: the temporary file, or the real one in `direct` mode. */
  readonly temp: string
  readonly real: string
  /** The space-reservation file (`copy` mode). */
  readonly reserve: string
}

/**
 * The first exchange's head: register the upload and open its file, and (append) copy the
 * existing file into it, hashing what was copied. Prints `('m', free, prefixSize, prefixDigest)`;
 * with `report` (the native path of the target's directory), then
 * `('t', [temporary names there], [[stem, host, pid], ...])` for the cleanup of dead uploads.
 */
export const uploadOpenCode = (
  d: BoardDialect,
  names: UploadNames,
  options: { readonly base64: boolean; readonly append: boolean; readonly report?: string | undefined },
): string => {
  const h = hashCode(d.hash)
  const lines = [
    "import gc",
    OS_IMPORT.trimEnd(),
    options.base64 ? "import binascii" : "",
    "gc.collect()",
    OPEN_HANDLES,
    `${names.entry}=[open(${py(names.temp)},'wb'),${names.owner}]`,
  ]
  if (options.append) {
    lines.push(
      "def _bcp(t):",
      h.imports ? ` ${h.imports}` : "",
      ` ${h.init};n=0`,
      " try:",
      `  s=open(${py(names.real)},'rb')`,
      " except OSError as e:",
      `  if ${isNotFound(d)}:return (0,${h.digest})`,
      "  raise",
      " while 1:",
      `  d=s.read(${hashPiece(d)})`,
      "  if not d:break",
      "  t.write(d);n+=len(d)",
      indent(h.update, 2),
      " s.close()",
      ` return (n,${h.digest})`,
      `try:\n _bo(('m',gc.mem_free())+_bcp(${names.entry}[0]))\nfinally:\n del _bcp`,
    )
  } else {
    lines.push("_bo(('m',gc.mem_free(),0,None))")
  }
  if (options.report !== undefined) {
    lines.push(`g=_bf\n_bo(('t',${temporaryNames(d, options.report)},${REGISTRY_LIST}))\ndel g`)
  }
  return framedReply(`${lines.filter((l) => l !== "").join("\n")}\n`, false)
}

/** Message of the exception raised when a chunk arrived short or long (bytes lost on the link). */
export const DAMAGED_CHUNK = "belay-chunk-damaged"

/**
 * Code that runs only if it arrived whole: a checked request of `@belay/transport` (a bytes literal
 * run by `exec` only when its length and byte sum check out), in its top-level form (the file code
 * needs the stack of a small board) and after a collection of the heap, so that the parser of the
 * inner code has room. A damaged program could otherwise still compile and act on a damaged path.
 */
export const guardCode = (code: string): string => checkedTopLevelRequest(code, { collectFirst: true })

/**
 * One chunk of `size` data bytes: the expression's bytes go between the two strings. The length
 * is checked before anything is written, so a chunk that lost bytes on the way is refused whole
 * (and sent again) instead of landing in the file.
 */
export const uploadChunkCode = (names: UploadNames, size: number): readonly [string, string] => [
  "_bd=",
  `\nif len(_bd)!=${size}:\n del _bd\n raise ValueError('${DAMAGED_CHUNK}')\n${names.entry}[0].write(_bd)\ndel _bd\n${framedConstant("('w',)")}\n`,
]

/** What a finished upload must hash to: sizes and digests as Python literals. */
export interface ExpectedContent {
  /** Bytes before the new data (append), hashed separately. */
  readonly prefixSize: number
  /** Python literal of the prefix digest (`None`: not an append, the digest of nothing). */
  readonly prefixDigest: string
  readonly size: number
  /** Python literal of the new data's digest. */
  readonly digest: string
}

/** The `(size, prefixDigest, digest)` tuple `_bh` returns for the expected content. */
const expectedTuple = (d: BoardDialect, e: ExpectedContent) => {
  const empty = d.hash === "adler32" ? "'00000001'" : `hashlib.${d.hash}().digest()`
  return `(${e.size},${e.prefixDigest === "None" ? empty : e.prefixDigest},${e.digest})`
}

/**
 * The last exchange's tail on a board with `os.rename` (or in `direct` mode): close, hash what the
 * board holds, compare with what was sent, and rename only when they match. Prints `('ok',)`, or
 * `('bad', size, prefixDigest, digest)` after removing the temporary file. The registry entry goes
 * first: whatever this exchange does, it ends the temporary file.
 */
export const uploadFinishCode = (
  d: BoardDialect,
  names: UploadNames,
  mode: "rename" | "direct",
  expected: ExpectedContent,
): string =>
  framedReply(
    [
      `${names.entry}[0].close()`,
      `del ${names.entry}`,
      DROP_HANDLES,
      hashCode(d.hash).imports,
      hashFunction(d).trimEnd(),
      "def _bz(t):",
      ` E=${expectedTuple(d, expected)}`,
      ` r=_bh(t,${expected.prefixSize})`,
      " if r!=E:",
      mode === "direct" ? "" : "  os.remove(t)",
      "  return ('bad',)+r",
      mode === "rename" ? ` os.rename(t,${py(names.real)})` : "",
      " return ('ok',)",
      runAndDelete(`_bz(${py(names.temp)})`, ["_bz", "_bh"]),
    ]
      .filter((l) => l !== "")
      .join("\n"),
    false,
  )

/**
 * The last exchange's tail on a board without `os.rename`: close the temporary file and print
 * `_bh` of it, for the host to compare. Small, because the micro:bit parses little at a time. The
 * registry entry stays (without its file object) until the commit ends the temporary file.
 */
export const uploadVerifyCode = (d: BoardDialect, names: UploadNames, prefixSize: number): string =>
  framedReply(
    [
      `${names.entry}[0].close()`,
      `${names.entry}[0]=None`,
      hashFunction(d).trimEnd(),
      runAndDelete(`_bh(${py(names.temp)},${prefixSize})`, ["_bh"]),
    ].join("\n"),
    false,
  )

/**
 * Commit a verified temporary file on a board without rename. First prove there is room for the
 * copy: write a reservation file as large as the growth plus a margin, then delete it, so the copy
 * cannot run out of space half way. Then open both files and copy. When anything before the copy
 * fails (no room for the reservation; a name the filesystem refuses), the reservation and the
 * temporary file are removed and the error raised: the real file is untouched, nothing is left.
 * Nothing is printed (the host checks the copy with {@link finalizeCopyCode}). Each name appears
 * once, and the code is kept short: the micro:bit parses it in a few KB of heap.
 */
export const copyCommitCode = (d: BoardDialect, names: UploadNames, totalSize: number): string =>
  [
    OS_IMPORT + sizeFunction(d).trimEnd(),
    "def _bcm(t,v,a):",
    " try:",
    "  o=_bsz(a)",
    " except OSError:",
    "  o=0",
    ` k=${totalSize}-o+512;g=s=None`,
    " try:",
    "  g=open(v,'wb');z=bytes(128)",
    "  while k>0:",
    "   g.write(z);k-=128",
    "  g.close();g=None;os.remove(v)",
    "  s=open(t,'rb');g=open(a,'wb')",
    " except Exception:",
    "  for f in (g,s):",
    "   try:",
    "    f.close()",
    "   except Exception:",
    "    pass",
    "  for p in (v,t):",
    "   try:",
    "    os.remove(p)",
    "   except OSError:",
    "    pass",
    "  raise",
    " while 1:",
    `  d=s.read(${d.piece})`,
    "  if not d:break",
    "  g.write(d)",
    " g.close();s.close()",
    runThenDelete(`_bcm(${py(names.temp)},${py(names.reserve)},${py(names.real)})`, ["_bcm", "_bsz"]),
  ].join("\n")

/** Which file holds an upload's content, as the board replies after looking (see {@link uploadInspectCode}). */
export const HOLDS = ["none", "real", "temp"] as const

/** Python tuple of the three constant replies `('none',)`, `('real',)`, `('temp',)`, each framed. */
const holdsReplies = `(${HOLDS.map((h) => framedLiteral(`('${h}',)`)).join(",")})`

/**
 * After a copy commit: hash the real file; when it holds the content, remove the temporary file
 * and forget the upload. Replies `('real',)` when it does, `('none',)` otherwise: constants in
 * their frames, compared on the board, so that the exchange needs no reply code (the micro:bit
 * parses it with little to spare).
 */
export const finalizeCopyCode = (d: BoardDialect, names: UploadNames, expected: ExpectedContent): string =>
  [
    OS_IMPORT + hashCode(d.hash).imports,
    hashFunction(d).trimEnd(),
    "def _bz(t,a):",
    ` if _bh(a,${expected.prefixSize})!=${expectedTuple(d, expected)}:return 0`,
    ` os.remove(t);globals().get('_bf',{}).pop(${names.key},None)`,
    " return 1",
    `try:\n print(${holdsReplies}[_bz(${py(names.temp)},${py(names.real)})])\nfinally:\n del _bz,_bh`,
    DROP_HANDLES,
    "",
  ]
    .filter((l, i, all) => l !== "" || i === all.length - 1)
    .join("\n")

/**
 * Where an interrupted upload stands (after a reset or an interruption while finishing): close
 * its file if it is still open (its registry entry stays: the temporary file may still be
 * committed), and reply which file holds the content, real first: `('real',)`, `('temp',)` or
 * `('none',)` (constants in their frames, compared on the board).
 */
export const uploadInspectCode = (d: BoardDialect, names: UploadNames, expected: ExpectedContent): string =>
  [
    OS_IMPORT + hashCode(d.hash).imports,
    hashFunction(d).trimEnd(),
    "def _bi(k,a,t):",
    " e=globals().get('_bf',{}).get(k)",
    " if e and e[0]:e[0].close();e[0]=None",
    " for i in (1,2):",
    "  try:",
    `   if _bh((a,t)[i-1],${expected.prefixSize})==${expectedTuple(d, expected)}:return i`,
    "  except OSError:",
    "   pass",
    " return 0",
    `try:\n print(${holdsReplies}[_bi(${names.key},${py(names.real)},${py(names.temp)})])\nfinally:\n del _bi,_bh`,
    "",
  ]
    .filter((l, i, all) => l !== "" || i === all.length - 1)
    .join("\n")

/** `os.rename` of a verified temporary file over the real name; the upload is then forgotten. */
export const renameCommitCode = (names: UploadNames): string =>
  `${OS_IMPORT}os.rename(${py(names.temp)},${py(names.real)})\n${forgetEntry(names.entry)}\n`

/**
 * Drop an unfinished upload: close its file, remove its temporary and reservation files, forget
 * it. Idempotent: running it again (its reply lost, say) changes nothing.
 */
export const uploadAbortCode = (names: UploadNames, mode: CommitMode): string =>
  [
    `try:\n ${names.entry}[0].close()\nexcept Exception:\n pass`,
    mode === "direct" ? "" : OS_IMPORT.trimEnd(),
    mode === "direct" ? "" : removeQuietly(py(names.temp)),
    mode === "copy" ? removeQuietly(py(names.reserve)) : "",
    forgetEntry(names.entry),
  ]
    .filter((l) => l !== "")
    .join("\n")
    .concat("\n")

// ---------------------------------------------------------------------------------------------
// Temporary files left by uploads that can no longer finish (see TemporaryFiles)
// ---------------------------------------------------------------------------------------------

/**
 * Statements (indent 1, inside the probe's function, with `r` its result dict and `os` imported)
 * adding the root's temporary names (`tmp`) and the registry (`reg`).
 */
export const probeTemporaryFilesCode = (d: Pick<BoardDialect, "flat">): string =>
  indent(
    [
      "try:",
      " g=globals().get('_bf') or {}",
      ` r['reg']=${REGISTRY_LIST}`,
      ` r['tmp']=${temporaryNames(d, "/")}`,
      "except Exception:",
      " pass",
    ].join("\n"),
    1,
  )

/**
 * Reply `('f', nativePath)` for each temporary file in `native` (with `recursive`, the whole tree
 * below it; a flat board has only its root), then `('r', [[stem, host, pid], ...])`: the registry.
 */
export const scanTemporaryFilesCode = (d: BoardDialect, native: string, recursive = true): string => {
  const walk = d.flat
    ? ["def _bs(p):", ` for n in ${temporaryNames(d, "")}:`, "  _bo(('f',n))"]
    : d.os.has("ilistdir")
      ? [
          "def _bs(p):",
          " for e in os.ilistdir(p):",
          "  n=e[0]",
          `  q=${childOf}`,
          `  if e[1]==0x4000:${recursive ? "_bs(q)" : "pass"}`,
          "  elif n[:7]=='.belay-':_bo(('f',q))",
        ]
      : [
          "def _bs(p):",
          " for n in os.listdir(p):",
          `  q=${childOf}`,
          `  if os.stat(q)[0]&0x4000:${recursive ? "_bs(q)" : "pass"}`,
          "  elif n[:7]=='.belay-':_bo(('f',q))",
        ]
  return framedReply(
    [
      OS_IMPORT.trimEnd(),
      ...walk,
      "def _bq():",
      " g=globals().get('_bf') or {}",
      ` _bo(('r',${REGISTRY_LIST}))`,
      runThenDelete(`_bs(${py(native || "/")});_bq()`, ["_bs", "_bq"]),
    ].join("\n"),
  )
}

/**
 * Forget the registry entries `stems` (closing their files) and remove the files `natives`,
 * replying each path it removed.
 */
export const removeTemporaryFilesCode = (
  natives: ReadonlyArray<string>,
  stems: ReadonlyArray<string>,
): string =>
  framedReply(
    [
      OS_IMPORT.trimEnd(),
      "def _bx(L,K):",
      " g=globals().get('_bf') or {}",
      " for k in K:",
      "  e=g.pop(k,None)",
      "  try:",
      "   if e and e[0]:e[0].close()",
      "  except Exception:",
      "   pass",
      " for p in L:",
      "  try:",
      "   os.remove(p);_bo(p)",
      "  except OSError:",
      "   pass",
      runThenDelete(`_bx(${py(natives)},${py(stems)})`, ["_bx"]),
      DROP_HANDLES,
    ].join("\n"),
  )

// ---------------------------------------------------------------------------------------------
// Downloads
// ---------------------------------------------------------------------------------------------

/**
 * Write `length` bytes of a file from `offset` as raw bytes (escaped, see {@link RAW_OUT_ESCAPE}),
 * then ESC 0x06 and `('end', size, digest)` of what was sent, all through `sys.stdout.buffer`. For boards whose stdout is 8-bit
 * clean: one byte on the wire per byte of data, almost.
 */
export const downloadRawCode = (
  d: BoardDialect,
  native: string,
  offset: number,
  length: number,
  piece: number,
): string => {
  const h = hashCode(d.hash)
  const step = Math.min(piece, h.maxPiece)
  return [
    "import sys",
    "def _bd(p):",
    h.imports ? ` ${h.imports}` : "",
    " f=open(p,'rb')",
    offset > 0 ? ` f.seek(${offset})` : "",
    ` w=sys.stdout.buffer.write;${h.init};n=0`,
    ` while n<${length}:`,
    `  d=f.read(min(${step},${length}-n))`,
    "  if not d:break",
    "  n+=len(d)",
    indent(h.update, 2),
    `  w(${RAW_OUT_ESCAPE})`,
    " f.close()",
    // The end goes through the same channel as the data: `print` may be ordered differently.
    ` w(b'\\x1b\\x06'+repr(('end',n,${h.digest})).encode())`,
    runThenDelete(`_bd(${py(native)})`, ["_bd"]),
  ]
    .filter((l) => l !== "")
    .join("\n")
}

/**
 * Print a file in pieces (one line each: `b'...'` or base64), hashing as it goes, then
 * `('end', size, digest)`. One exchange, constant memory on the board.
 */
export const downloadCode = (d: BoardDialect, native: string, base64: boolean, piece: number): string => {
  const h = hashCode(d.hash)
  const step = Math.min(piece, h.maxPiece)
  return [
    OS_IMPORT.trimEnd(),
    base64 ? "import binascii" : "",
    "def _bd(p):",
    h.imports ? ` ${h.imports}` : "",
    " f=open(p,'rb')",
    ` ${h.init};n=0`,
    " while 1:",
    `  d=f.read(${step})`,
    "  if not d:break",
    "  n+=len(d)",
    indent(h.update, 2),
    ...(base64
      ? // Whichever is shorter for this piece: repr (text) or base64 (binary, marked with `!`);
        // base64's length is known without computing it.
        [
          "  r=repr(d)",
          "  if len(r)>4*((len(d)+2)//3)+1:print('!'+binascii.b2a_base64(d).decode(),end='')",
          "  else:print(r)",
        ]
      : ["  print(d)"]),
    " f.close()",
    ` return ('end',n,${h.digest})`,
    // Not framed: the end tuple is checked against the data it describes.
    `try:\n print(repr(_bd(${py(native)})))\nfinally:\n del _bd\n`,
  ]
    .filter((l) => l !== "")
    .join("\n")
}

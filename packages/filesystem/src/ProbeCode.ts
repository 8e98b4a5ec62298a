/**
 * The per-board file-transfer probe: what the link and the board's stdout carry, the board's
 * errno numbers, its free heap, and what dead uploads left.
 * @internal
 */
import { type BoardDialect, py } from "./BoardDialect.js"
import { probeTemporaryFilesCode } from "./UploadCode.js"

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

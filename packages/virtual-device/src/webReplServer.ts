/**
 * The virtual board's WebREPL: a WebSocket server (the `ws` package; Node 20 has no WebSocket
 * server built in) that serves a board as MicroPython's firmware does (`extmod/modwebrepl.c`
 * and micropython-lib's `webrepl.py`):
 *
 * - a client is sent `Password: `; the line it types (either frame type, ended by `\r` or `\n`,
 *   at most 10 characters kept) is compared with the password; a wrong one gets
 *   `\r\nAccess denied\r\n` and the connection is dropped, the right one
 *   `\r\nWebREPL connected\r\n>>> `, then the board's output;
 * - text frames carry REPL bytes (Ctrl-C included); the board's output goes out in text frames;
 * - binary frames carry the file transfer: an 82-byte `WA` request header (put, get, version),
 *   then the file's data, answered with `WB` + a 16-bit status in binary frames;
 * - one client at a time: a second one gets the WebSocket handshake, then its connection is
 *   dropped, and the board prints `Concurrent WebREPL connection from (...) rejected` on its
 *   terminals, the connected client's included;
 * - frames longer than 65535 bytes end the connection (the firmware reads 16-bit lengths).
 *
 * File operations run as the bytes arrive; on a board they run when the REPL next reads, which
 * is the same for a client that waits for its prompt before sending them.
 *
 * @internal
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { type WebSocket, WebSocketServer } from "ws"
import type { VirtualBoard } from "./VirtualBoard.js"

const PASSWORD_PROMPT = "Password: "
const CONNECTED_PROMPT = "\r\nWebREPL connected\r\n>>> "
const DENIED_ANSWER = "\r\nAccess denied\r\n"
/** The firmware keeps this many characters of a typed password (its buffer is one longer). */
const TYPED_PASSWORD_CHARS = 10
/** `webrepl.password()` refuses longer passwords. */
export const MAX_WEBREPL_PASSWORD_CHARS = 9
/** `struct webrepl_file`: sig[2], type, flags, offset u64, size u32, fname_len u16, fname[64]. */
const HEADER_BYTES = 82
const FNAME_OFFSET = 18
const FNAME_BYTES = 64
const PUT_FILE = 1
/** Any other type (2 is GET_FILE) reads a file, as the firmware opens every file not put for reading. */
const GET_VER = 3
/** What the firmware sends per chunk of a get (`write_file_chunk`'s buffer). */
const GET_CHUNK_BYTES = 256
/** The largest frame the firmware reads (a 16-bit length). */
const MAX_FRAME_BYTES = 0xffff

const encoder = new TextEncoder()
const latin1 = new TextDecoder("latin1")

/** One client's state, as `mp_obj_webrepl_t` keeps it. */
interface Client {
  readonly socket: WebSocket
  readonly remote: string
  loggedIn: boolean
  typed: number[]
  header: number[]
  op:
    | undefined
    | { readonly kind: "put"; readonly path: string; readonly size: number; data: number[] }
    | { readonly kind: "get"; readonly data: Uint8Array; at: number }
}

/**
 * A running WebREPL server in front of a board.
 *
 * @example
 * const server = await serveWebRepl(board, { host: "127.0.0.1", port: 0, password: "secret" })
 * console.log(server.port)
 * await server.close()
 */
export interface WebReplServer {
  readonly host: string
  readonly port: number
  /** Send board output to the logged-in client (the board's `onOutput` calls this). */
  readonly output: (bytes: Uint8Array) => void
  readonly close: () => Promise<void>
}

/** `major.minor.micro` of the MicroPython release the board runs, for the `WA` version request. */
const versionBytes = (version: string): Uint8Array => {
  const match = /(\d+)\.(\d+)\.(\d+)/.exec(version)
  return Uint8Array.from(match === null ? [0, 0, 0] : [Number(match[1]), Number(match[2]), Number(match[3])])
}

const status = (code: number) => Uint8Array.from([0x57, 0x42, code & 0xff, code >> 8]) // "WB" + u16

/** The file name in a request header: a C string in a 64-byte field; relative to `/`, the board's working folder. */
const headerPath = (header: Uint8Array): string => {
  const field = header.subarray(FNAME_OFFSET, FNAME_OFFSET + FNAME_BYTES)
  const end = field.indexOf(0)
  const name = new TextDecoder().decode(end < 0 ? field : field.subarray(0, end))
  return name.startsWith("/") ? name : `/${name}`
}

/**
 * Serve `board`'s REPL and flash as a WebREPL on `host:port` (port 0: a free one).
 *
 * @example
 * const server = await serveWebRepl(board, { host: "127.0.0.1", port: 8266, password: "secret", version: "1.27.0" })
 */
export const serveWebRepl = async (
  board: VirtualBoard,
  options: {
    readonly host: string
    readonly port: number
    readonly password: string
    readonly version: string
  },
): Promise<WebReplServer> => {
  if (options.password.length === 0 || options.password.length > MAX_WEBREPL_PASSWORD_CHARS)
    throw new Error(`a WebREPL password has 1 to ${MAX_WEBREPL_PASSWORD_CHARS} characters`)
  let active: Client | undefined
  const http: Server = createServer((_request, response) => {
    // A browser that is not asking for a WebSocket gets the page that loads the WebREPL client.
    response.writeHead(200, { "content-type": "text/html" })
    response.end(
      '<base href="https://micropython.org/webrepl/"></base>\r\n<script src="webrepl_content.js"></script>\r\n',
    )
  })
  const wss = new WebSocketServer({
    server: http,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    skipUTF8Validation: true,
  })

  const print = (text: string) => {
    if (active?.loggedIn) active.socket.send(encoder.encode(text), { binary: false })
  }

  /** The firmware's dupterm is dropped: the socket is closed without a closing handshake. */
  const drop = (client: Client) => {
    if (client.op?.kind === "put") {
      // What arrived before the connection ended is on the flash, as the firmware writes it as it comes.
      try {
        board.writeFile(client.op.path, Uint8Array.from(client.op.data))
      } catch {}
    }
    client.op = undefined
    if (active === client) active = undefined
    client.socket.terminate()
  }

  const finishOp = (client: Client) => {
    client.op = undefined
    client.socket.send(status(0), { binary: true })
  }

  const handleHeader = (client: Client, header: Uint8Array) => {
    const type = header[2]
    if (type === GET_VER) {
      client.socket.send(versionBytes(options.version), { binary: true })
      return
    }
    const path = headerPath(header)
    try {
      if (type === PUT_FILE) {
        const size = new DataView(header.buffer, header.byteOffset).getUint32(12, true)
        board.writeFile(path, new Uint8Array(0)) // open(..., "wb") truncates
        client.socket.send(status(0), { binary: true })
        client.op = { kind: "put", path, size, data: [] }
        if (size === 0) finishOp(client)
      } else {
        const data = board.readFile(path)
        if (data === undefined) throw new Error(`OSError: [Errno 2] ENOENT: ${path}`)
        client.socket.send(status(0), { binary: true })
        client.op = { kind: "get", data, at: 0 }
      }
    } catch {
      // `open` raised in the REPL's read: the firmware drops the client.
      drop(client)
    }
  }

  const onBinary = (client: Client, bytes: Uint8Array) => {
    for (let i = 0; i < bytes.length; i++) {
      if (client.socket.readyState !== client.socket.OPEN) return
      const op = client.op
      if (op === undefined) {
        client.header.push(bytes[i]!)
        if (client.header.length === HEADER_BYTES) {
          const header = Uint8Array.from(client.header)
          client.header = []
          handleHeader(client, header)
        }
      } else if (op.kind === "put") {
        const take = Math.min(op.size - op.data.length, bytes.length - i)
        for (let j = 0; j < take; j++) op.data.push(bytes[i + j]!)
        i += take - 1
        if (op.data.length === op.size) {
          board.writeFile(op.path, Uint8Array.from(op.data))
          finishOp(client)
        }
      } else {
        // Each byte the client sends asks for the next chunk: a 16-bit length, then the bytes.
        const chunk = op.data.subarray(op.at, op.at + GET_CHUNK_BYTES)
        op.at += chunk.length
        const frame = new Uint8Array(2 + chunk.length)
        frame[0] = chunk.length & 0xff
        frame[1] = chunk.length >> 8
        frame.set(chunk, 2)
        client.socket.send(frame, { binary: true })
        if (chunk.length === 0) finishOp(client)
      }
    }
  }

  const onPasswordBytes = (client: Client, bytes: Uint8Array): Uint8Array | undefined => {
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i]!
      if (c === 0x0d || c === 0x0a) {
        if (latin1.decode(Uint8Array.from(client.typed)) !== options.password) {
          client.socket.send(encoder.encode(DENIED_ANSWER), { binary: false }, () => drop(client))
          return undefined
        }
        client.loggedIn = true
        client.typed = []
        client.socket.send(encoder.encode(CONNECTED_PROMPT), { binary: false })
        return bytes.subarray(i + 1)
      }
      if (client.typed.length < TYPED_PASSWORD_CHARS) client.typed.push(c)
    }
    return undefined
  }

  wss.on("connection", (socket, request) => {
    const remote = `('${request.socket.remoteAddress ?? "?"}', ${request.socket.remotePort ?? 0})`
    if (active !== undefined) {
      print(`\r\nConcurrent WebREPL connection from ${remote} rejected\r\n`)
      socket.terminate()
      return
    }
    const client: Client = { socket, remote, loggedIn: false, typed: [], header: [], op: undefined }
    active = client
    process.stderr.write(`WebREPL connection from: ${remote}\n`)
    socket.on("message", (data, isBinary) => {
      let bytes: Uint8Array = new Uint8Array(data as Buffer)
      if (!client.loggedIn) {
        const rest = onPasswordBytes(client, bytes)
        if (rest === undefined || rest.length === 0) return
        bytes = rest
      }
      if (isBinary) onBinary(client, bytes)
      else void board.write(bytes)
    })
    socket.on("close", () => {
      if (active === client) drop(client)
    })
    socket.on("error", () => drop(client))
    socket.send(encoder.encode(PASSWORD_PROMPT), { binary: false })
  })

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject)
    http.listen(options.port, options.host, () => resolve())
  })
  return {
    host: options.host,
    port: (http.address() as AddressInfo).port,
    output: (bytes) => {
      if (active?.loggedIn) active.socket.send(bytes, { binary: false })
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of wss.clients) socket.terminate()
        wss.close()
        http.close(() => resolve())
        http.closeAllConnections()
      }),
  }
}

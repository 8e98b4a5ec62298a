/**
 * The host side of a mounted folder: serves the board's requests (found by `MountProtocol.ts`)
 * from one local folder, never outside it. A board path is resolved lexically under the folder
 * (a `..` that climbs above it is refused), then, unless `unsafeLinks`, by its real path: a
 * symlink leading out of the folder is refused too (`EACCES`). Without `writable`, everything that
 * would change the folder is refused (`EROFS`). Reads and writes name their offset, so a request
 * the board sends again (its reply arrived damaged) gives the same answer; the other requests are
 * answered again from the last reply, never done twice.
 */
import type { Dirent } from "node:fs"
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  realpath,
  rename,
  rmdir,
  stat,
  unlink,
} from "node:fs/promises"
import path from "node:path"
import type { InterceptedOutput, LinkError, OutputInterceptor } from "@belay/transport"
import { Effect } from "effect"
import { encodeReply, escapedFit, type MountRequest, RequestScanner } from "./MountProtocol.js"

/**
 * What a mount has served so far.
 *
 * @example
 * const { requests, bytesRead, refused } = yield* mount.stats
 * @since 0.1.0
 */
export interface MountStats {
  /** Requests served (each once, whatever the resends). */
  readonly requests: number
  /** Requests that arrived damaged, or were sent again because their reply did. */
  readonly damaged: number
  /** Requests refused for leaving the folder (or, read-only, for changing it). */
  readonly refused: number
  readonly bytesRead: number
  readonly bytesWritten: number
}

/** How the server serves. */
export interface MountServerOptions {
  readonly writable: boolean
  readonly unsafeLinks: boolean
  /** The most bytes of one reply (header and escaped payload); halved (down to 256) after each resend. */
  readonly maxReplyBytes: number
}

/** A refusal or failure answered to the board as an errno name and number. */
class Refused {
  constructor(
    readonly name: string,
    readonly number: number,
    readonly refused = false,
  ) {}
}

/** MicroPython's numbers for the errno names the server answers (the board prefers its own). */
const ERRNO: Record<string, number> = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EACCES: 13,
  EEXIST: 17,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENOSPC: 28,
  EROFS: 30,
  ENOTEMPTY: 39,
  ENAMETOOLONG: 36,
}

const refusal = (name: string, refused = false) => new Refused(name, ERRNO[name] ?? 5, refused)
const OUTSIDE = () => refusal("EACCES", true)
const READ_ONLY = () => refusal("EROFS", true)

const utf8 = new TextEncoder()
const text = new TextDecoder()
const HEADER_BYTES = 24
const MIN_REPLY_BYTES = 256
const EMPTY = new Uint8Array(0)

interface OpenFile {
  readonly handle: FileHandle
  readonly writable: boolean
}

/**
 * The server of one mount: `interceptor` goes into the connection's state; `close` closes the
 * files the board left open.
 */
export const makeMountServer = (root: string, nonce: string, options: MountServerOptions) => {
  const files = new Map<number, OpenFile>()
  let nextFd = 1
  let replyLimit = Math.max(MIN_REPLY_BYTES, options.maxReplyBytes)
  let last:
    | {
        readonly seq: string
        readonly op: string
        readonly raw: string
        readonly reply: Uint8Array
        sends: number
      }
    | undefined
  const stats = { requests: 0, damaged: 0, refused: 0, bytesRead: 0, bytesWritten: 0 }

  /** The host path of a board path inside the mount (`/a/b.py`), or a refusal. */
  const resolve = async (boardPath: string, mustExist: boolean): Promise<string> => {
    const parts: string[] = []
    for (const part of boardPath.split("/")) {
      if (part === "" || part === ".") continue
      if (part === "..") {
        if (parts.length === 0) throw OUTSIDE()
        parts.pop()
      } else parts.push(part)
    }
    const full = path.join(root, ...parts)
    if (options.unsafeLinks) return full
    // The real path of what exists (or of its parent, for a name to create) stays in the folder.
    let real: string
    try {
      real = await realpath(full)
    } catch (error) {
      if (mustExist || (error as NodeJS.ErrnoException).code !== "ENOENT" || parts.length === 0) throw error
      const parent = await realpath(path.dirname(full))
      real = path.join(parent, path.basename(full))
    }
    if (real !== root && !real.startsWith(root + path.sep)) throw OUTSIDE()
    return full
  }

  const bodyText = (body: Uint8Array) => text.decode(body)
  /** `a b rest`: the first `count` space-separated fields, then the rest as bytes. */
  const fields = (body: Uint8Array, count: number): [number[], Uint8Array] => {
    const numbers: number[] = []
    let at = 0
    for (let k = 0; k < count; k++) {
      const space = body.indexOf(0x20, at)
      const end = space < 0 ? body.length : space
      const n = Number(text.decode(body.subarray(at, end)))
      if (!Number.isSafeInteger(n)) throw refusal("EINVAL")
      numbers.push(n)
      at = end + 1
    }
    return [numbers, body.subarray(Math.min(at, body.length))]
  }
  const fileOf = (fd: number): OpenFile => {
    const file = files.get(fd)
    if (file === undefined) throw refusal("EBADF")
    return file
  }
  const mustWrite = () => {
    if (!options.writable) throw READ_ONLY()
  }

  /** Carry out one request; its reply payload. */
  const perform = async (request: MountRequest): Promise<Uint8Array> => {
    const { op, body } = request
    switch (op) {
      case "s": {
        const info = await stat(await resolve(bodyText(body), true))
        const mode = info.isDirectory() ? 0x4000 : 0x8000
        return utf8.encode(`${mode} ${info.isDirectory() ? 0 : info.size} ${Math.floor(info.mtimeMs / 1000)}`)
      }
      case "l": {
        const [[start], rest] = fields(body, 1)
        const dir = await resolve(bodyText(rest), true)
        const entries: Dirent[] = await readdir(dir, { withFileTypes: true })
        entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        const room = replyLimit - HEADER_BYTES - 2
        let out = ""
        let size = 12
        let next = 0
        for (let i = start ?? 0; i < entries.length; i++) {
          const entry = entries[i]!
          const full = path.join(dir, entry.name)
          let item: string | undefined
          try {
            // Symlinks followed; those leading out of the folder are listed only with unsafeLinks.
            if (entry.isSymbolicLink())
              await resolve(path.relative(root, full).split(path.sep).join("/"), true)
            const info = await stat(full)
            item = info.isDirectory() ? `d0 ${entry.name}/` : `f${info.size} ${entry.name}/`
          } catch {
            item = undefined
          }
          if (item === undefined) continue
          const itemBytes = utf8.encode(item).length
          if (size + itemBytes > room && out.length > 0) {
            next = i
            break
          }
          out += item
          size += itemBytes
        }
        // The index to ask for next (0: no more), then the entries.
        return utf8.encode(`${next} ${out}`)
      }
      case "o": {
        const space = body.indexOf(0x20)
        const mode = text.decode(body.subarray(0, space))
        const boardPath = bodyText(body.subarray(space + 1))
        const writes = /[wax+]/.test(mode)
        if (writes) mustWrite()
        const file = await resolve(boardPath, !writes)
        const info = await stat(file).catch(() => undefined)
        if (info?.isDirectory()) throw refusal("EISDIR")
        const flags = mode.includes("+")
          ? mode.startsWith("r")
            ? "r+"
            : mode.startsWith("a")
              ? "a+"
              : mode.startsWith("x")
                ? "wx+"
                : "w+"
          : mode.startsWith("w")
            ? "w"
            : mode.startsWith("a")
              ? "a"
              : mode.startsWith("x")
                ? "wx"
                : "r"
        const handle = await open(file, flags)
        const fd = nextFd++
        files.set(fd, { handle, writable: writes })
        const size = flags.startsWith("w") ? 0 : (await handle.stat()).size
        return utf8.encode(`${fd} ${size}`)
      }
      case "r": {
        const [[fd, offset, wanted]] = fields(body, 3)
        const file = fileOf(fd!)
        const room = replyLimit - HEADER_BYTES - 1
        const buffer = new Uint8Array(Math.min(wanted!, room))
        const { bytesRead } = await file.handle.read(buffer, 0, buffer.length, offset!)
        const data = buffer.subarray(0, bytesRead)
        // What fits in the reply once escaped; the board asks again for the rest.
        const { take } = escapedFit(data, room)
        stats.bytesRead += take
        return data.subarray(0, take)
      }
      case "w": {
        const [[fd, offset], data] = fields(body, 2)
        const file = fileOf(fd!)
        if (!file.writable) throw refusal("EBADF")
        const { bytesWritten } = await file.handle.write(data, 0, data.length, offset!)
        stats.bytesWritten += bytesWritten
        return utf8.encode(`${bytesWritten}`)
      }
      case "c": {
        const [[fd]] = fields(body, 1)
        const file = files.get(fd!)
        files.delete(fd!)
        await file?.handle.close()
        return EMPTY
      }
      case "x":
        mustWrite()
        await unlink(await resolve(bodyText(body), true))
        return EMPTY
      case "d":
        mustWrite()
        await rmdir(await resolve(bodyText(body), true))
        return EMPTY
      case "m":
        mustWrite()
        await mkdir(await resolve(bodyText(body), false))
        return EMPTY
      case "n": {
        mustWrite()
        const [[length], rest] = fields(body, 1)
        const from = bodyText(rest.subarray(0, length))
        const to = bodyText(rest.subarray(length))
        await rename(await resolve(from, true), await resolve(to, false))
        return EMPTY
      }
      default:
        throw refusal("EINVAL")
    }
  }

  const answer = async (request: MountRequest): Promise<Uint8Array> => {
    try {
      return encodeReply(nonce, request.seq, "K", await perform(request))
    } catch (error) {
      const refused =
        error instanceof Refused ? error : refusal((error as NodeJS.ErrnoException).code ?? "EIO")
      if (refused.refused) stats.refused++
      return encodeReply(nonce, request.seq, "E", utf8.encode(`${refused.name} ${refused.number}`))
    }
  }

  /** The reply to `request`: served, or (sent again) the last reply again. */
  const serve = (request: MountRequest): Effect.Effect<Uint8Array> =>
    Effect.promise(async () => {
      const again =
        last !== undefined && last.seq === request.seq && last.op === request.op && last.raw === request.raw
      if (last !== undefined && again) {
        // Its reply arrived damaged. Twice in a row: smaller replies from now on, in case they
        // overflow the board's stdin buffer.
        stats.damaged++
        last.sends++
        if (last.sends > 2) replyLimit = Math.max(MIN_REPLY_BYTES, Math.floor(replyLimit / 2))
        // Reads name their offset: served again (in the smaller size). The rest are not done twice.
        if (request.op !== "r") return last.reply
      } else stats.requests++
      const reply = await answer(request)
      last = {
        seq: request.seq,
        op: request.op,
        raw: request.raw,
        reply,
        sends: again ? (last?.sends ?? 1) : 1,
      }
      return reply
    })

  const interceptor: OutputInterceptor = {
    open: (reply: (bytes: Uint8Array) => Effect.Effect<void, LinkError>): InterceptedOutput => {
      const scanner = new RequestScanner(nonce)
      return {
        output: (bytes) =>
          Effect.suspend(() => {
            const items = scanner.scan(bytes)
            const only = items.length === 1 ? items[0] : undefined
            if (only?._tag === "output") return Effect.succeed(only.bytes)
            if (items.length === 0) return Effect.succeed(EMPTY)
            const own: Uint8Array[] = []
            return Effect.andThen(
              Effect.forEach(
                items,
                (item) => {
                  switch (item._tag) {
                    case "output":
                      own.push(item.bytes)
                      return Effect.void
                    case "damaged":
                      stats.damaged++
                      return reply(encodeReply(nonce, item.seq ?? "00", "D", EMPTY))
                    case "request":
                      return Effect.flatMap(serve(item.request), reply)
                  }
                },
                { discard: true },
              ),
              Effect.sync(() => concat(own)),
            )
          }),
        end: () => scanner.flush(),
      }
    },
  }

  const close = Effect.promise(async () => {
    const open = [...files.values()]
    files.clear()
    await Promise.all(open.map((file) => file.handle.close().catch(() => undefined)))
  })

  return { interceptor, close, stats: (): MountStats => ({ ...stats }) }
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 0) return EMPTY
  if (parts.length === 1) return parts[0]!
  let total = 0
  for (const part of parts) total += part.length
  const out = new Uint8Array(total)
  let n = 0
  for (const part of parts) {
    out.set(part, n)
    n += part.length
  }
  return out
}

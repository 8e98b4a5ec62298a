/**
 * Ports on 127.0.0.1 for the tests that start servers as separate programs (socat, ser2net, fleet
 * runners). A port chosen before the server binds it can be taken meanwhile by another program (a
 * parallel test's connection or server): `listensOn` tells the server we started from that other
 * program, where "is the port taken" would take the other program for ours.
 */
import { readdir, readFile, readlink } from "node:fs/promises"
import { createServer } from "node:net"

/** A port the OS just gave out and took back: free unless another program grabs it meanwhile. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/**
 * True when process `pid` itself listens on 127.0.0.1:`port`: its sockets' inodes (`/proc/<pid>/fd`)
 * against the kernel's table of TCP sockets (`/proc/net/tcp`, state `0A` is LISTEN).
 */
export const listensOn = async (pid: number, port: number): Promise<boolean> => {
  const inodes = new Set<string>()
  try {
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "")
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1]
      if (inode !== undefined) inodes.add(inode)
    }
  } catch {
    return false
  }
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`
  return (await readFile("/proc/net/tcp", "utf8"))
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .some((f) => f[1] === local && f[3] === "0A" && inodes.has(f[9] ?? ""))
}

/**
 * What the file operations need from the host, in Node: host folders (sync and download of
 * trees) and who this process is (the owner recorded with an upload's temporary file). The
 * package's `#platform` import resolves here under the `node` condition, and to `./browser.js`
 * elsewhere; the two export the same names with the same types.
 * @internal
 */
import { hostname } from "node:os"

export { syncDirectory } from "../Sync.js"
export { downloadDirectory } from "../TreeDownload.js"

/** This host's name and this process's id. */
export const hostProcess = (): { readonly hostName: string; readonly pid: number } => ({
  hostName: hostname(),
  pid: process.pid,
})

/** Does process `pid` of this host still run? (`kill(pid, 0)`.) */
export const isProcessRunning = (pid: number): boolean => {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

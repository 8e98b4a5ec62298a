/**
 * What the file operations need from the host, outside Node (a browser, a worker): no host
 * folders, so `sync` and `download` of trees fail with a typed error; and an owner for uploads'
 * temporary files that names this page, which no other page can tell alive or dead (its files
 * are left to the board's next reset, or to `cleanTemporaryFiles`).
 * @internal
 */
import { Effect } from "effect"
import { LocalFileError } from "../errors.js"
import type * as NodePlatform from "./node.js"

const noHostFolders = (operation: string, localDir: string) =>
  Effect.fail(
    new LocalFileError({
      operation,
      path: localDir,
      reason:
        "this platform has no host folders: sync and download of trees need Node (@belay/filesystem/node)",
    }),
  )

export const syncDirectory: typeof NodePlatform.syncDirectory = (_fs, localDir) =>
  noHostFolders("sync", localDir)

export const downloadDirectory: typeof NodePlatform.downloadDirectory = (_fs, _remotePath, localDir) =>
  noHostFolders("download", localDir)

/** A name drawn once per page: pages cannot see each other's processes. */
const PAGE = `page-${Math.floor(Math.random() * 2 ** 48).toString(36)}`

export const hostProcess: typeof NodePlatform.hostProcess = () => ({ hostName: PAGE, pid: 1 })

/** A page cannot tell whether another page runs: every upload that is not this page's is kept. */
export const isProcessRunning: typeof NodePlatform.isProcessRunning = () => true

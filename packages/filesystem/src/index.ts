/**
 * `@belay/filesystem`: files on a MicroPython board, session-aware and verified end to end.
 * The public API, by concept; everything else in `src/` is this package's own. This is the Node
 * entry (`@belay/filesystem/node`, and `@belay/filesystem` in Node): the browser entry
 * (`browser.ts`: `@belay/filesystem/browser`, and `@belay/filesystem` elsewhere), and what works
 * on host folders: `syncDirectory`, `downloadDirectory` and `mountHostFolder` (in a browser, a
 * file system's `sync` and `download` fail with `LocalFileError`).
 */

export * from "./browser.js"
// ---- Host folders (Node only) ----
export { MountError, mountHostFolder } from "./Mount.js"
export { syncDirectory } from "./Sync.js"
export { downloadDirectory } from "./TreeDownload.js"

/**
 * The script of the kept virtual board's process (`keptVirtual.ts` starts it detached, named
 * `belay-virtual-board`): the same board and options as `bin/virtual-board.mjs`, run from the built
 * module beside the one that starts it, so that a bundle that puts the two side by side (the
 * `belay` command's does, with the interpreter's worker) finds it there.
 */
import { runVirtualBoardOverStdio } from "./cli.js"

await runVirtualBoardOverStdio(process.argv.slice(2))

/**
 * Temporary folders for a test file (projects, caches, flash), each removed after the file's
 * tests, whatever they did: a run leaves nothing in the system's temporary folder.
 */
import { mkdtempSync, rmSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { afterAll } from "vitest"

/** A maker of fresh folders named `<prefix>XXXXXX`, all removed once the file's tests are done. */
export const tempDirs = (prefix: string): (() => string) => {
  const made: string[] = []
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true })
  })
  return () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
    made.push(dir)
    return dir
  }
}

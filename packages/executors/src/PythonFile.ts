/**
 * Python code read from a file on the host: Node only (`@belay/executors/node`, and the package's
 * main entry in Node). In a browser, give the code as text ({@link py}, `PythonSource.of`).
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { type PythonSource, sourceFromFile } from "./PythonSource.js"

/**
 * Python code from a real `.py` file (so editors and linters see real Python), read when the
 * declaration is made. Relative to the calling module with `new URL("./x.py", import.meta.url)`.
 *
 * @example
 * const source = pythonFile(new URL("./sensors.py", import.meta.url))
 *
 * @since 0.1.0
 */
export const pythonFile = (path: string | URL): PythonSource => {
  const file = typeof path === "string" ? path : fileURLToPath(path)
  return sourceFromFile(readFileSync(file, "utf8"), file)
}

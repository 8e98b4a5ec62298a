/**
 * A fleet runner's config file (`belay fleet runner --config shelf1.json`, or
 * `BELAY_FLEET_RUNNER_CONFIG`): what a host serves, written once, for a service to start with
 * nothing else on its command line. Its flags say the same things and win over it:
 *
 * ```json
 * {
 *   "name": "shelf1",
 *   "host": "10.0.0.11",
 *   "port": 34431,
 *   "databaseUrl": "postgres://belay:...@db.lab:5432/belay",
 *   "boards": { "pico": "id:E66038B713849D31", "esp": "u0", "sim": "virtual" }
 * }
 * ```
 *
 * Every key is optional; an unknown one is refused (a misspelt `"board"` would otherwise serve
 * nothing, silently). Pure: reading and checking, no Effect.
 */
import { ConfigFileError, readJsonObjectFile } from "./Flags.js"

/**
 * What a runner's config file says.
 *
 * @example
 * readRunnerConfig("shelf1.json").boards // { pico: "id:E66038B713849D31" }
 */
export interface RunnerConfig {
  readonly name?: string | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly databaseUrl?: string | undefined
  /** Board name to connection string, in the file's order. */
  readonly boards: Readonly<Record<string, string>>
}

const KEYS = ["name", "host", "port", "databaseUrl", "boards"]

const EXPECTED =
  '{ "name": "shelf1", "host": "10.0.0.11", "port": 34431, "databaseUrl": "postgres://...", "boards": { "<name>": "<connection string>" } }'

/**
 * Read and check a runner's config file; a `ConfigFileError` (a usage error, exit 2) says what
 * is wrong and what the file should read.
 *
 * @example
 * readRunnerConfig("/etc/belay/shelf1.json") // { name: "shelf1", boards: { b0: "a0" } }
 */
export const readRunnerConfig = (file: string): RunnerConfig => {
  const read = readJsonObjectFile(file, "the runner's config file", EXPECTED)
  if (read === undefined)
    throw new ConfigFileError(`cannot read the runner's config file ${file}: there is no such file`)
  const { value, bad } = read
  const unknown = Object.keys(value).find((key) => !KEYS.includes(key))
  if (unknown !== undefined) throw bad(`has a key ${JSON.stringify(unknown)} that it does not know`)
  const { name, host, port, databaseUrl, boards = {} } = value
  for (const [key, field] of [
    ["name", name],
    ["host", host],
    ["databaseUrl", databaseUrl],
  ] as const)
    if (field !== undefined && (typeof field !== "string" || field === ""))
      throw bad(`has a "${key}" that is not a non-empty string`)
  if (port !== undefined && (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535))
    throw bad('has a "port" that is not a whole number from 1 to 65535')
  if (typeof boards !== "object" || boards === null || Array.isArray(boards))
    throw bad('has "boards" that are not an object of name to connection string')
  for (const [board, connection] of Object.entries(boards))
    if (typeof connection !== "string" || connection === "")
      throw bad(`has a board ${JSON.stringify(board)} whose connection is not a non-empty string`)
  return {
    name: name as string | undefined,
    host: host as string | undefined,
    port: port as number | undefined,
    databaseUrl: databaseUrl as string | undefined,
    boards: boards as Record<string, string>,
  }
}

/**
 * The boards a runner serves: the config file's, then the flags' (`--board name=connection`; a
 * name the file has too is the flag's), in that order.
 *
 * @example
 * runnerBoards({ pico: "a0", sim: "virtual" }, [["sim", "virtual?name=s"]])
 * // [{ name: "pico", connection: "a0" }, { name: "sim", connection: "virtual?name=s" }]
 */
export const runnerBoards = (
  fromFile: Readonly<Record<string, string>>,
  fromFlags: ReadonlyArray<readonly [string, string]>,
): Array<{ readonly name: string; readonly connection: string }> => {
  const boards = new Map(Object.entries(fromFile))
  for (const [name, connection] of fromFlags) boards.set(name, connection)
  return [...boards].map(([name, connection]) => ({ name, connection }))
}

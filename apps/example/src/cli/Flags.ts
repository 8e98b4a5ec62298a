import { readFileSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { namesSeveralBoards, splitBoardList } from "@belay/extensions"
import { UsageError } from "./Failure.js"

/**
 * The `--device` flag's value when it is not given: empty, meaning "as configured" (see
 * {@link chooseDevice}).
 */
export const UNSET_DEVICE = ""

/**
 * The CLI's config file: `BELAY_CONFIG`, else `$XDG_CONFIG_HOME/belay/config.json` (by default
 * `~/.config/belay/config.json`; `%APPDATA%\belay\config.json` on Windows).
 *
 * @example
 * configPath() // "/home/ada/.config/belay/config.json"
 */
export const configPath = (): string => {
  if (process.env.BELAY_CONFIG) return process.env.BELAY_CONFIG
  const base =
    process.env.XDG_CONFIG_HOME ||
    (process.platform === "win32" && process.env.APPDATA
      ? process.env.APPDATA
      : path.join(os.homedir(), ".config"))
  return path.join(base, "belay", "config.json")
}

/** What the config file holds: a default device, names for connection strings, a WebREPL password, clock sync. */
export interface CliConfig {
  /**
   * Set the board's clock on connect: `"local"` (or `true`), `"utc"`; unless `BELAY_SYNC_CLOCK`
   * says otherwise.
   */
  readonly syncClock?: "local" | "utc" | undefined
  /** The password of `ws://` boards' WebREPL, unless `BELAY_WEBREPL_PASSWORD` gives one. */
  readonly webReplPassword?: string | undefined
  /** The device when neither `--device` nor `BELAY_DEVICE` names one: a connection string or an alias. */
  readonly device: string | undefined
  /** Names for connection strings: `{ "pico": "id:e6614c311b7e6f35", "sim": "virtual" }`. */
  readonly aliases: Readonly<Record<string, string>>
  /** `false`: send code as written, not minified, unless `BELAY_MINIFY` or `--minify` says otherwise. */
  readonly minify?: boolean | undefined
}

/** A config file that cannot be read as the CLI expects. */
export class ConfigFileError extends UsageError {
  override readonly _tag = "ConfigFileError" as "UsageError"
}

/**
 * A JSON object from a config file, and how to say what is wrong with it (`bad`); undefined
 * when there is no such file. A file that cannot be read, is not JSON or not an object is a
 * `ConfigFileError` naming it as `what` and saying what it should read.
 *
 * @example
 * const read = readJsonObjectFile("runner.json", "the runner's config file", '{ "name": "shelf1" }')
 * if (read !== undefined && typeof read.value.name !== "string") throw read.bad('has a "name" that is not a string')
 */
export const readJsonObjectFile = (
  file: string,
  what: string,
  expected: string,
):
  | { readonly value: Record<string, unknown>; readonly bad: (reason: string) => ConfigFileError }
  | undefined => {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw new ConfigFileError(`cannot read ${what} ${file}: ${(error as Error).message}`)
  }
  const bad = (reason: string) =>
    new ConfigFileError(`${what} ${file} ${reason}`, `it should read ${expected}`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw bad(`is not JSON: ${(error as Error).message}`)
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad("is not a JSON object")
  return { value: value as Record<string, unknown>, bad }
}

const EXPECTED =
  '{ "device": "<connection or alias>", "aliases": { "<name>": "<connection string>" }, "webReplPassword": "<password>", "syncClock": "local" | "utc" | true | false, "minify": false }'

/**
 * The config file, or an empty one when there is none.
 *
 * @example
 * readCliConfig().aliases.pico // "id:e6614c311b7e6f35"
 */
export const readCliConfig = (file = configPath()): CliConfig => {
  const read = readJsonObjectFile(file, "the config file", EXPECTED)
  if (read === undefined) return { device: undefined, aliases: {} }
  const { value, bad } = read
  const {
    device,
    aliases = {},
    webReplPassword,
    syncClock,
    minify,
  } = value as {
    device?: unknown
    aliases?: unknown
    webReplPassword?: unknown
    syncClock?: unknown
    minify?: unknown
  }
  if (device !== undefined && typeof device !== "string") throw bad('has a "device" that is not a string')
  if (webReplPassword !== undefined && typeof webReplPassword !== "string")
    throw bad('has a "webReplPassword" that is not a string')
  if (minify !== undefined && typeof minify !== "boolean")
    throw bad('has a "minify" that is not true or false')
  if (typeof aliases !== "object" || aliases === null || Array.isArray(aliases))
    throw bad('has "aliases" that are not an object')
  for (const [name, target] of Object.entries(aliases)) {
    if (typeof target !== "string") throw bad(`has an alias ${JSON.stringify(name)} that is not a string`)
  }
  if (syncClock !== undefined && ![true, false, "local", "utc"].includes(syncClock as never))
    throw bad('has a "syncClock" that is not "local", "utc", true or false')
  return {
    device,
    aliases: aliases as Record<string, string>,
    webReplPassword,
    minify,
    ...(syncClock !== undefined &&
      syncClock !== false && { syncClock: syncClock === "utc" ? ("utc" as const) : ("local" as const) }),
  }
}

/** Which board a command talks to, and whether anything named it. */
export interface DeviceChoice {
  /** A connection string. */
  readonly device: string
  /** Nothing named a device: `auto` (or the command's own fallback) was chosen. */
  readonly implicit: boolean
}

/**
 * The device a command uses: `--device`, else `BELAY_DEVICE`, else the config file's `device`,
 * else `fallback` (`auto`: the first serial port that looks like a MicroPython board). A name in
 * the config file's `aliases` stands for its connection string.
 *
 * @example
 * chooseDevice("pico", readCliConfig()) // { device: "id:e6614c311b7e6f35", implicit: false }
 */
export const chooseDevice = (flag: string, config: CliConfig, fallback = "auto"): DeviceChoice => {
  const named = flag || process.env.BELAY_DEVICE || config.device
  if (named === undefined || named === "") return { device: fallback, implicit: true }
  return {
    device: Object.hasOwn(config.aliases, named) ? (config.aliases[named] as string) : named,
    implicit: false,
  }
}

/**
 * The boards a command runs on when its device names several: a list (`a0,a1,virtual?name=b`),
 * `auto-all`, or an alias of one of those; each entry keyed as written, an alias standing for its
 * connection string. Undefined when it names one board (then see {@link chooseDevice}).
 *
 * @example
 * chooseBoards("pico,sim", readCliConfig()) // [{ key: "pico", device: "id:e6614c311b7e6f35" }, { key: "sim", device: "virtual" }]
 */
export const chooseBoards = (
  flag: string,
  config: CliConfig,
): Array<{ readonly key: string; readonly device: string }> | undefined => {
  const named = flag || process.env.BELAY_DEVICE || config.device
  if (named === undefined || named === "") return undefined
  const alias = (name: string) =>
    Object.hasOwn(config.aliases, name) ? (config.aliases[name] as string) : name
  const text = alias(named)
  if (!namesSeveralBoards(text)) return undefined
  return splitBoardList(text).map((key) => ({ key, device: alias(key) }))
}

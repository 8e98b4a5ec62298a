import { readFileSync } from "node:fs"

/** Written into the bundle from package.json when it is built; absent when running from source. */
declare const __BELAY_CLI_VERSION__: string | undefined

/**
 * The CLI's version: the one in its package.json.
 *
 * @example
 * cliVersion() // "0.1.0"
 */
export const cliVersion = (): string =>
  typeof __BELAY_CLI_VERSION__ === "string"
    ? __BELAY_CLI_VERSION__
    : (
        JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
          version: string
        }
      ).version

/**
 * Durations and byte sizes in configuration (environment variables by default) with units, as
 * people write them: `3s`, `3000ms`, `2 minutes`, `64KB`, `16 MiB`. A bare number keeps its
 * documented meaning: milliseconds for a duration, bytes for a size. A value that is neither says
 * what was expected instead of failing with the schema's words.
 */
import { Config, ConfigProvider, Duration, Effect } from "effect"

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  nanos: 1e-6,
  us: 1e-3,
  micros: 1e-3,
  ms: 1,
  milli: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  byte: 1,
  bytes: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
}

const NUMBER_AND_UNIT = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i

const withUnit = (text: string, units: Record<string, number>, bare: number): number | undefined => {
  const match = NUMBER_AND_UNIT.exec(text)
  if (match === null) return undefined
  const unit = (match[2] ?? "").toLowerCase()
  const factor = unit === "" ? bare : units[unit]
  return factor === undefined ? undefined : Number(match[1]) * factor
}

/** What a duration setting accepts, for messages. */
export const DURATION_EXPECTED = "a duration such as 3s, 500ms or 2 minutes (a bare number is milliseconds)"

/** What a size setting accepts, for messages. */
export const SIZE_EXPECTED = "a size such as 4096, 64KB or 16MB (a bare number is bytes; 1 KB is 1024 bytes)"

/**
 * A duration in milliseconds from text with a unit (`3s`, `3000ms`, `1.5 minutes`); a bare
 * number is milliseconds. Undefined when the text is not a duration.
 *
 * @example
 * parseDurationMillis("3s") // 3000
 * parseDurationMillis("250") // 250
 *
 * @since 0.1.0
 */
export const parseDurationMillis = (text: string): number | undefined => withUnit(text, DURATION_UNITS, 1)

/**
 * A byte count from text with a unit (`64KB`, `16 MiB`; K, M and G are powers of 1024); a bare
 * number is bytes. Undefined when the text is not a whole number of bytes.
 *
 * @example
 * parseByteSize("64KB") // 65536
 *
 * @since 0.1.0
 */
export const parseByteSize = (text: string): number | undefined => {
  const bytes = withUnit(text, SIZE_UNITS, 1)
  return bytes !== undefined && Number.isInteger(bytes) ? bytes : undefined
}

const invalid = (name: string, expected: string, text: string) =>
  new Config.ConfigError(
    new ConfigProvider.SourceError({ message: `${name} must be ${expected}; got ${JSON.stringify(text)}` }),
  )

/**
 * A duration setting: text with a unit, a bare number being milliseconds.
 *
 * @example
 * const timeout = yield* Config.option(DurationConfig("BELAY_EXEC_TIMEOUT"))
 *
 * @since 0.1.0
 */
export const DurationConfig = (name: string): Config.Config<Duration.Duration> =>
  Config.String(name).pipe(
    Config.mapEffect((text) => {
      const millis = parseDurationMillis(text)
      return millis === undefined
        ? Effect.fail(invalid(name, DURATION_EXPECTED, text))
        : Effect.succeed(Duration.millis(millis))
    }),
  )

/**
 * A byte-size setting: text with a unit, a bare number being bytes.
 *
 * @example
 * const maxOutput = yield* Config.option(ByteSizeConfig("BELAY_MAX_OUTPUT_BYTES"))
 *
 * @since 0.1.0
 */
export const ByteSizeConfig = (name: string): Config.Config<number> =>
  Config.String(name).pipe(
    Config.mapEffect((text) => {
      const bytes = parseByteSize(text)
      return bytes === undefined ? Effect.fail(invalid(name, SIZE_EXPECTED, text)) : Effect.succeed(bytes)
    }),
  )

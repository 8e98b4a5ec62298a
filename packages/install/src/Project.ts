/**
 * A project's declared board dependencies and its lock file. Declared in the project's
 * `package.json` under a `micropython` key (a Belay project is a Node project: one file already
 * lists its host dependencies, and its board dependencies sit beside them); locked in
 * `belay-lock.json` next to it, with exact versions and every file's SHA-256, so that a second
 * machine installs the same bytes.
 */
import { readFile, rename, writeFile } from "node:fs/promises"
import path from "node:path"
import { Effect } from "effect"
import { ProjectError } from "./errors.js"
import type { Resolution, ResolvedPackage } from "./Resolve.js"

/**
 * The `micropython` section of a project's `package.json`.
 *
 * @example
 * // package.json
 * // { "name": "weather-station", "micropython": { "dependencies": { "aioble": "latest" }, "target": "/lib" } }
 *
 * @since 0.1.0
 */
export interface Project {
  readonly dir: string
  /** `name: version` for index packages, `name: source` for others (`github:...`, a URL, `./path`). */
  readonly dependencies: Readonly<Record<string, string>>
  readonly index: string | undefined
  readonly target: string | undefined
}

/**
 * The lock file's name, next to the project's `package.json`.
 *
 * @example
 * path.join(project.dir, LOCK_FILE) // "/project/belay-lock.json"
 *
 * @since 0.1.0
 */
export const LOCK_FILE = "belay-lock.json"

/**
 * A lock file: what was declared, against which index and `.mpy` version, and the exact files
 * that resolved from it.
 *
 * @since 0.1.0
 */
export interface LockFile {
  readonly lockfileVersion: 1
  readonly index: string
  readonly mpy: string
  readonly dependencies: Readonly<Record<string, string>>
  readonly packages: ReadonlyArray<ResolvedPackage>
}

const readJson = (file: string) =>
  Effect.tryPromise({
    try: () => readFile(file, "utf8"),
    catch: (e) => e as NodeJS.ErrnoException,
  }).pipe(
    Effect.map((text): string | undefined => text),
    Effect.catch((e) =>
      e.code === "ENOENT"
        ? Effect.succeed(undefined)
        : Effect.fail(new ProjectError({ path: file, reason: e.message ?? String(e) })),
    ),
    Effect.flatMap((text) =>
      Effect.try({
        try: (): unknown => (text === undefined ? undefined : JSON.parse(text)),
        catch: (e) => new ProjectError({ path: file, reason: `not JSON: ${(e as Error).message}` }),
      }),
    ),
  )

const writeJson = (file: string, value: unknown) =>
  Effect.tryPromise({
    try: async () => {
      const temporary = `${file}.${process.pid}.tmp`
      await writeFile(temporary, `${JSON.stringify(value, null, 2)}\n`)
      await rename(temporary, file)
    },
    catch: (e) => new ProjectError({ path: file, reason: (e as Error).message }),
  })

const isStringRecord = (value: unknown): value is Record<string, string> =>
  typeof value === "object" &&
  value !== null &&
  !Array.isArray(value) &&
  Object.values(value).every((v) => typeof v === "string")

/**
 * The project in `dir`: its `package.json`'s `micropython` section, or `undefined` when there is
 * no `package.json` or it has no such section.
 *
 * @example
 * const project = yield* readProject(process.cwd())
 *
 * @since 0.1.0
 */
export const readProject = (dir: string): Effect.Effect<Project | undefined, ProjectError> =>
  Effect.gen(function* () {
    const file = path.join(dir, "package.json")
    const json = yield* readJson(file)
    if (json === undefined) return undefined
    if (typeof json !== "object" || json === null)
      return yield* new ProjectError({ path: file, reason: "not an object" })
    const section = (json as Record<string, unknown>).micropython
    if (section === undefined) return undefined
    const fail = (reason: string) => new ProjectError({ path: file, reason: `micropython: ${reason}` })
    if (typeof section !== "object" || section === null || Array.isArray(section))
      return yield* fail("must be an object")
    const { dependencies = {}, index, target } = section as Record<string, unknown>
    if (!isStringRecord(dependencies))
      return yield* fail("dependencies must map names to versions or sources")
    if (index !== undefined && typeof index !== "string") return yield* fail("index must be a string")
    if (target !== undefined && typeof target !== "string") return yield* fail("target must be a string")
    return { dir, dependencies, index, target }
  })

/**
 * Add (or replace) declared dependencies in the project's `package.json`, creating the
 * `micropython` section (and the file) when missing; other fields are kept as they are.
 *
 * @example
 * yield* saveDependencies("/project", { aioble: "latest" })
 *
 * @since 0.1.0
 */
export const saveDependencies = (
  dir: string,
  added: Readonly<Record<string, string>>,
): Effect.Effect<void, ProjectError> =>
  Effect.gen(function* () {
    const file = path.join(dir, "package.json")
    const json = ((yield* readJson(file)) ?? {}) as Record<string, unknown>
    const section = (json.micropython ?? {}) as Record<string, unknown>
    const dependencies = { ...((section.dependencies ?? {}) as Record<string, string>), ...added }
    const sorted = Object.fromEntries(Object.entries(dependencies).sort(([a], [b]) => a.localeCompare(b)))
    yield* writeJson(file, { ...json, micropython: { ...section, dependencies: sorted } })
  })

/** A location as the lock file keeps it: local paths under the project relative to it (`./vendor/x.py`). */
const portable = (dir: string, location: string) => {
  if (location.startsWith("http://") || location.startsWith("https://")) return location
  const relative = path.relative(dir, location)
  return relative.startsWith("..") || path.isAbsolute(relative)
    ? location
    : `./${relative.split(path.sep).join("/")}`
}

const local = (dir: string, location: string) =>
  location.startsWith("./") ? path.resolve(dir, location) : location

/**
 * Write the lock file of `project` for `resolution`.
 *
 * @example
 * yield* writeLockFile(project, resolution)
 *
 * @since 0.1.0
 */
export const writeLockFile = (project: Project, resolution: Resolution): Effect.Effect<void, ProjectError> =>
  writeJson(path.join(project.dir, LOCK_FILE), {
    lockfileVersion: 1,
    index: resolution.index,
    mpy: resolution.mpy,
    dependencies: project.dependencies,
    packages: resolution.packages.map((p) => ({
      ...p,
      source: portable(project.dir, p.source),
      files: p.files.map((f) => ({ ...f, location: portable(project.dir, f.location) })),
    })),
  } satisfies LockFile)

const isHex64 = (v: unknown) => typeof v === "string" && /^[0-9a-f]{64}$/.test(v)

/**
 * The lock file of the project in `dir`, checked; `undefined` when there is none.
 *
 * @example
 * const lock = yield* readLockFile(project.dir)
 *
 * @since 0.1.0
 */
export const readLockFile = (dir: string): Effect.Effect<LockFile | undefined, ProjectError> =>
  Effect.gen(function* () {
    const file = path.join(dir, LOCK_FILE)
    const json = (yield* readJson(file)) as Record<string, unknown> | undefined
    if (json === undefined) return undefined
    const fail = (reason: string) => new ProjectError({ path: file, reason })
    if (json.lockfileVersion !== 1)
      return yield* fail(`lockfileVersion ${String(json.lockfileVersion)} is not 1`)
    if (typeof json.index !== "string" || typeof json.mpy !== "string")
      return yield* fail("index and mpy must be strings")
    if (!isStringRecord(json.dependencies)) return yield* fail("dependencies must map names to strings")
    if (!Array.isArray(json.packages)) return yield* fail("packages must be a list")
    const packages: ResolvedPackage[] = []
    for (const raw of json.packages as Array<Record<string, unknown>>) {
      const files = raw.files
      if (
        typeof raw.name !== "string" ||
        typeof raw.version !== "string" ||
        typeof raw.source !== "string" ||
        !Array.isArray(raw.deps) ||
        !Array.isArray(files) ||
        !files.every(
          (f: Record<string, unknown>) =>
            typeof f.path === "string" &&
            typeof f.location === "string" &&
            isHex64(f.sha256) &&
            typeof f.size === "number",
        )
      )
        return yield* fail(`a package entry is not valid: ${JSON.stringify(raw).slice(0, 120)}`)
      packages.push({
        name: raw.name,
        version: raw.version,
        source: local(dir, raw.source),
        deps: raw.deps as string[],
        files: (files as Array<ResolvedPackage["files"][number]>).map((f) => ({
          path: f.path,
          location: local(dir, f.location),
          sha256: f.sha256,
          size: f.size,
        })),
      })
    }
    return {
      lockfileVersion: 1,
      index: json.index,
      mpy: json.mpy,
      dependencies: json.dependencies,
      packages,
    }
  })

/**
 * True when `lock` was made from the same declared dependencies, index and `.mpy` version.
 *
 * @example
 * if (lock !== undefined && lockMatches(lock, project, "6", index)) { ... }
 *
 * @since 0.1.0
 */
export const lockMatches = (lock: LockFile, project: Project, mpy: string, index: string): boolean => {
  const a = Object.entries(lock.dependencies).sort()
  const b = Object.entries(project.dependencies).sort()
  return (
    lock.mpy === mpy &&
    lock.index === index.replace(/\/+$/, "") &&
    a.length === b.length &&
    a.every(([k, v], i) => b[i]?.[0] === k && b[i]?.[1] === v)
  )
}

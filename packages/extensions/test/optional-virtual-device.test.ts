/**
 * `@belay/virtual-device` is an optional peer of this package: nothing of it loads until a
 * `virtual` or `qemu:microbit` connection is opened, and without it those connections fail with a
 * typed error naming the package to install.
 *
 * Mutations tried: a static `import { openVirtualBoard } from "@belay/virtual-device"` in
 * `Connection.ts` fails the first test (and the second: the package cannot load); mapping a
 * missing package to a defect instead of `VirtualDeviceMissingError` fails the second.
 */
import { execFileSync } from "node:child_process"
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..")
const dist = join(packageDir, "dist")
const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"))

/** Static imports and re-exports of a built module: `import ... from "x"`, `export ... from "x"`, `import "x"`. */
const staticImportsOf = (source: string): Array<string> =>
  [...source.matchAll(/^\s*(?:import|export)\s(?:[^"'()]*?\sfrom\s)?["']([^"']+)["']/gm)].map(
    (m) => m[1] as string,
  )

describe("@belay/virtual-device is optional", () => {
  it("is an optional peer, and no built module of this package imports it statically", () => {
    expect(manifest.dependencies["@belay/virtual-device"]).toBeUndefined()
    expect(manifest.peerDependenciesMeta["@belay/virtual-device"]).toEqual({ optional: true })
    const modules = readdirSync(dist).filter((f) => f.endsWith(".js"))
    expect(modules).toContain("Connection.js")
    for (const file of modules) {
      const source = readFileSync(join(dist, file), "utf8")
      expect(staticImportsOf(source), file).not.toContain("@belay/virtual-device")
    }
    const connection = readFileSync(join(dist, "Connection.js"), "utf8")
    expect(staticImportsOf(connection)).toContain("@belay/transport/serial")
    expect(connection).toMatch(/import\(["']@belay\/virtual-device["']\)/)
  })

  // An install of this package without the optional peer: the built package copied to a directory
  // whose node_modules has its dependencies and not @belay/virtual-device.
  const install = mkdtempSync(join(tmpdir(), "belay-no-virtual-"))
  afterAll(() => rmSync(install, { recursive: true, force: true }))

  it("loads without it, and opening virtual or qemu:microbit fails with VirtualDeviceMissingError", () => {
    const modules = join(install, "node_modules")
    const self = join(modules, "@belay", "extensions")
    mkdirSync(self, { recursive: true })
    cpSync(dist, join(self, "dist"), { recursive: true })
    writeFileSync(join(self, "package.json"), JSON.stringify(manifest))
    for (const dependency of Object.keys(manifest.dependencies)) {
      mkdirSync(dirname(join(modules, dependency)), { recursive: true })
      symlinkSync(
        realpathSync(join(packageDir, "node_modules", dependency)),
        join(modules, dependency),
        "dir",
      )
    }
    writeFileSync(
      join(install, "probe.mjs"),
      `import { openConnection, parseConnectionString } from "@belay/extensions"
import { Effect } from "effect"
const outcomes = []
for (const text of ["virtual", "qemu:microbit"]) {
  const parsed = parseConnectionString(text)
  const exit = await Effect.runPromiseExit(Effect.scoped(openConnection(parsed.success)))
  const error = exit._tag === "Failure" ? exit.cause.reasons[0]?.error : undefined
  outcomes.push({ text, exit: exit._tag, tag: error?._tag, connection: error?.connection, packageName: error?.packageName, message: error?.message })
}
console.log(JSON.stringify(outcomes))
`,
    )
    const out = execFileSync(process.execPath, ["probe.mjs"], { cwd: install, encoding: "utf8" })
    const outcomes = JSON.parse(out)
    expect(outcomes).toHaveLength(2)
    for (const [i, connection] of ["virtual", "qemu:microbit"].entries()) {
      expect(outcomes[i]).toMatchObject({
        exit: "Failure",
        tag: "VirtualDeviceMissingError",
        connection,
        packageName: "@belay/virtual-device",
      })
      expect(outcomes[i].message).toContain("npm install @belay/virtual-device")
    }
  })
})

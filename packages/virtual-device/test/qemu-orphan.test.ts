import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { expect, it } from "vitest"

// A host process that dies without closing its scope (SIGKILL) must not leave QEMU running.
const alive = (pid: number) => {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z")
  } catch {
    return false
  }
}

it("QEMU dies with a host process that is killed outright", { timeout: 60_000 }, async () => {
  const script = `
    import { startQemuMicrobit } from ${JSON.stringify(new URL("../dist/index.js", import.meta.url).href)}
    import { Effect, Scope } from "effect"
    const scope = Effect.runSync(Scope.make())
    const q = await Effect.runPromise(Scope.provide(startQemuMicrobit(), scope))
    console.log("QEMU", q.pid)
    setInterval(() => {}, 1000)
  `
  const host = spawn(process.execPath, ["--input-type=module", "-e", script], {
    cwd: new URL("..", import.meta.url).pathname,
    stdio: ["ignore", "pipe", "inherit"],
  })
  const pid = await new Promise<number>((resolve, reject) => {
    let out = ""
    host.stdout.on("data", (d) => {
      out += d
      const m = /QEMU (\d+)/.exec(out)
      if (m) resolve(Number(m[1]))
    })
    host.on("exit", () => reject(new Error(`host exited before QEMU started: ${out}`)))
  })
  expect(alive(pid)).toBe(true)
  host.kill("SIGKILL")
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50))
  expect(alive(pid)).toBe(false)
})

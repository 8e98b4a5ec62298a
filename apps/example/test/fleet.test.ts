import { describe, expect, it } from "vitest"
import { belayCommand, stdoutJson } from "./belayProcess.js"

// The fleet commands without a usable database: a clear error and exit 3, never a hang. (The
// fleet itself, with PostgreSQL and runner processes, is tested in packages/fleet.)

const cli = belayCommand("belay-fleet-")

/** A PostgreSQL URL where nothing listens (port 1 on the loopback interface). */
const NOWHERE = "postgres://belay:secret-password@127.0.0.1:1/belay"

describe("a wrong fleet database URL", () => {
  it("fleet ls: exit 3, the URL named without its password", async () => {
    const result = await cli.run(["fleet", "ls"], { env: { BELAY_FLEET_DATABASE_URL: NOWHERE } })
    expect(result.code).toBe(3)
    expect(result.stderr).toContain(
      "the fleet database at postgres://belay:***@127.0.0.1:1/belay is not usable",
    )
    expect(result.stderr).not.toContain("secret-password")
  })

  it("exec --device fleet:<id>: exit 3, and --json reports FleetDatabaseError", async () => {
    const plain = await cli.run(["exec", "print(1)", "--device", "fleet:shelf1/b0"], {
      env: { BELAY_FLEET_DATABASE_URL: NOWHERE },
    })
    expect(plain.code).toBe(3)
    expect(plain.stderr).toContain("fleet database")
    const json = await cli.run(["eval", "1", "--device", "fleet:shelf1/b0", "--json"], {
      env: { BELAY_FLEET_DATABASE_URL: "not a url" },
    })
    expect(json.code).toBe(3)
    expect(stdoutJson(json)).toMatchObject({ error: "FleetDatabaseError", exitCode: 3 })
  })

  it("fleet runner without a database: a usage error (exit 2) that says how to get one", async () => {
    const result = await cli.run(["fleet", "runner", "--board", "b0=virtual"], {
      env: { BELAY_FLEET_DATABASE_URL: "" },
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("BELAY_FLEET_DATABASE_URL")
  })
})

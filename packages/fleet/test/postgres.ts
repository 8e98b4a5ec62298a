/**
 * The tests' PostgreSQL: `scripts/postgres.sh start` (it starts the server once, as the postgres
 * user, and reuses it after), then a database of the test file's own, dropped at the end.
 * `BELAY_FLEET_TEST_DATABASE_URL` names another server's URL to use instead.
 */
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import path from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)
const script = path.resolve(import.meta.dirname, "../../../scripts/postgres.sh")

/** The URL of the server (started if it is not), for the `belay` role. */
export const serverUrl = async (): Promise<string> => {
  const given = process.env.BELAY_FLEET_TEST_DATABASE_URL
  if (given !== undefined && given !== "") return given
  const { stdout } = await run("bash", [script, "start"], { timeout: 90_000 })
  const line = stdout.split("\n").find((l) => l.startsWith("BELAY_FLEET_DATABASE_URL="))
  if (line === undefined) throw new Error(`postgres.sh printed no URL: ${stdout}`)
  return line.slice("BELAY_FLEET_DATABASE_URL=".length)
}

const psql = (url: string, command: string) =>
  run("psql", [url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command], { timeout: 30_000 })

/** A fresh database on the server; `drop` removes it (and ends its connections). */
export const freshDatabase = async (): Promise<{ url: string; drop: () => Promise<void> }> => {
  const server = await serverUrl()
  const name = `belay_test_${randomBytes(6).toString("hex")}`
  await psql(server, `CREATE DATABASE ${name}`)
  const url = new URL(server)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      await psql(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    },
  }
}

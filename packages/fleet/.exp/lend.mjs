import { Effect } from "effect"
import { FleetClient } from "@belay/fleet"
import net from "node:net"
const url = process.env.BELAY_FLEET_DATABASE_URL
const lent = await Effect.runPromise(Effect.scoped(Effect.flatMap(FleetClient, (f) => f.board("s1/b0").lend)).pipe(Effect.provide(FleetClient.layer({ databaseUrl: url }))))
console.log(lent)
const s = net.connect(lent.port, lent.host, () => {
  s.write(lent.token + "\n")
  setTimeout(() => s.write("\r\x02"), 200)
  setTimeout(() => s.write("print(6*7)\r"), 600)
  setTimeout(() => s.write("\x01"), 1000)
  setTimeout(() => s.write("print(8*8)\x04"), 1400)
  setTimeout(() => s.end(), 2000)
})
s.on("data", (d) => console.log(JSON.stringify(d.toString())))
s.on("close", () => { console.log("closed"); process.exit(0) })

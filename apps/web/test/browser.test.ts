/**
 * Belay in a real browser: Debian's Chromium, headless, driven by playwright-core (no browser
 * download). A static server of the test's own serves a page whose script is the browser bundle
 * (esbuild, `platform: "browser"`, so every `@belay/*` import is its browser entry), the virtual
 * board's worker and MicroPython's files, with the headers that make the page cross-origin
 * isolated (the virtual board shares memory with its worker). The page opens the in-page virtual
 * board and a WebREPL board (`belay-virtual-board --webrepl` on 127.0.0.1), runs code and a typed
 * task in a session, and reads the results back. Screenshots go to `test-artifacts/` (not committed).
 *
 * Chromium: `BELAY_CHROMIUM` or `/usr/bin/chromium` (scripts/setup.sh installs Debian's `chromium`).
 */
import { mkdir, readFile } from "node:fs/promises"
import type { Server } from "node:http"
import path from "node:path"
import { fileURLToPath } from "node:url"
import type { Browser, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  artifacts,
  browserBundle,
  closeServer,
  launchChromium,
  originOf,
  serveIsolated,
  startWebReplBoard,
  virtualBoardFiles,
} from "./chromium.js"
import type { RunReport } from "./page/main.js"

const here = path.dirname(fileURLToPath(import.meta.url))

let server: Server
let origin: string
let browser: Browser
let page: Page
const pageLog: string[] = []

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true })
  server = await serveIsolated(
    new Map([
      ["/index.html", new Uint8Array(await readFile(path.join(here, "page", "index.html")))],
      ["/app.js", await browserBundle(path.join(here, "page", "main.ts"))],
      ...(await virtualBoardFiles()),
    ]),
  )
  origin = originOf(server)
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 900, height: 600 } })
  page.on("console", (message) => pageLog.push(`${message.type()}: ${message.text()}`))
  page.on("pageerror", (error) => pageLog.push(`pageerror: ${error.message}`))
  const loading = performance.now()
  await page.goto(origin)
  await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready")
  console.log(`page loaded and ready in ${(performance.now() - loading).toFixed(0)} ms`)
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await closeServer(server)
})

const report = (name: string, r: RunReport) =>
  console.log(
    `${name}: ${r.link} opened (link, session manager) in ${r.openMs.toFixed(0)} ms; exec round trip ${r.execRoundTripMs.toFixed(2)} ms`,
  )

describe("Belay in Chromium", () => {
  it("the page is cross-origin isolated (the virtual board needs shared memory)", async () => {
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true)
  })

  it("opens the in-page virtual board through its worker, runs code, a task and a verified 256 KB file round trip in a session, and ends the session", async () => {
    const result = await page
      .evaluate(() => window.belay.virtual())
      .catch((error: unknown) => {
        throw new Error(`${String(error)}\npage log:\n${pageLog.join("\n")}`)
      })
    await page.screenshot({ path: path.join(artifacts, "virtual-board.png") })
    report("virtual", result)
    expect(result.printed).toBe("2\n")
    expect(result.sum).toBe(5)
    // The WebAssembly build's platform: the code ran in the page's worker, not on a Node host.
    expect(result.platform).toBe("webassembly")
    expect(result.sessionsAfter).toBe(0)
    expect(result.link).toBe("virtual")
    // 256 KB written (atomic, verified by the board's SHA-256 against the page's) and read back.
    expect(result.roundTrip?.uploadBytes).toBe(256 * 1024)
    expect(result.roundTrip?.same).toBe(true)
    expect(result.roundTrip?.hash).toMatch(/^[0-9a-f]{64}$/)
    console.log(
      `virtual: 256 KB verified upload ${result.roundTrip?.uploadMs.toFixed(0)} ms, download ${result.roundTrip?.downloadMs.toFixed(0)} ms`,
    )
  }, 120_000)

  it("connects from the page to belay-virtual-board --webrepl on 127.0.0.1, logs in, runs code and a task", async () => {
    const { child, url } = await startWebReplBoard("s3cret")
    try {
      const result = await page
        .evaluate(([u, p]) => window.belay.webRepl(u!, p!), [url, "s3cret"])
        .catch((error: unknown) => {
          throw new Error(`${String(error)}\npage log:\n${pageLog.join("\n")}`)
        })
      await page.screenshot({ path: path.join(artifacts, "webrepl.png") })
      report("webrepl", result)
      expect(result.link).toBe(url.replace(/\/$/, ""))
      expect(result.printed).toBe("2\n")
      expect(result.sum).toBe(5)
      expect(result.sessionsAfter).toBe(0)

      const wrong = await page.evaluate(
        ([u]) =>
          window.belay.webRepl(u!, "nope").then(
            () => "opened",
            (e: Error) => String(e),
          ),
        [url],
      )
      expect(wrong).toMatch(/WebReplLoginError|refused the WebREPL password/)
      await page.screenshot({ path: path.join(artifacts, "webrepl-wrong-password.png") })
    } finally {
      child.kill()
    }
  }, 120_000)
})

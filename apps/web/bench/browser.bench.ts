/**
 * Belay in Chromium against Belay in Node: `exec` round trip and a verified 256 KB upload on the
 * virtual board (in the page: MicroPython in a Web Worker; in Node: the same WebAssembly build in
 * the process), by the same code (`measure.ts`); and the board page's load time, to a page ready
 * to connect and to an interactive terminal on the in-page virtual board. Debian's Chromium,
 * headless, through playwright-core (`BELAY_CHROMIUM` or /usr/bin/chromium). Figures only.
 */
import { mkdtemp, rm } from "node:fs/promises"
import type { Server } from "node:http"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { openVirtualBoard } from "@belay/virtual-device"
import type { Browser } from "playwright-core"
import { build } from "vite"
import { type BenchContext, summarize } from "../../../scripts/bench-kit.ts"
import {
  appDir,
  browserBundle,
  chromiumPath,
  closeServer,
  hasChromium,
  launchChromium,
  originOf,
  serveIsolated,
  virtualBoardFiles,
} from "../test/chromium.ts"
import { measure, type Samples } from "./measure.ts"

const here = path.dirname(fileURLToPath(import.meta.url))

const PAGE = new TextEncoder().encode(
  '<!doctype html><html><head><meta charset="utf-8"><title>loading</title></head><body><script type="module" src="/app.js"></script></body></html>',
)

export default async function bench(ctx: BenchContext) {
  if (!hasChromium()) {
    ctx.log(`no Chromium at ${chromiumPath} (install Debian's chromium or set BELAY_CHROMIUM): skipped`)
    return
  }
  const rounds = ctx.quick ? 50 : 300
  const uploads = ctx.quick ? 2 : 5
  const uploadBytes = 256 * 1024
  const loads = ctx.quick ? 2 : 5
  const kbps = (s: Samples) => uploadBytes / 1024 / (summarize(s.uploadMs).median / 1000)
  const rows = (board: string, s: Samples) => {
    const exec = summarize(s.execMs)
    ctx.log(
      `${board}: opened in ${s.openMs.toFixed(0)} ms; exec median ${exec.median.toFixed(3)} ms, p99 ${exec.p99.toFixed(3)} ms; upload ${s.uploadMs.map((m) => m.toFixed(0)).join(", ")} ms (${s.how})`,
    )
    ctx.record({
      package: "web",
      benchmark: "exec round trip (median)",
      board,
      value: exec.median,
      unit: "ms",
    })
    ctx.record({
      package: "web",
      benchmark: "upload 256 KB (atomic, verified; median)",
      board,
      value: summarize(s.uploadMs).median,
      unit: "ms",
      note: `${kbps(s).toFixed(0)} KB/s`,
    })
  }

  let browser: Browser | undefined
  const servers: Server[] = []
  let outDir: string | undefined
  try {
    browser = await launchChromium()

    // ---- exec and upload: the in-page virtual board, then the same in Node ----
    const benchServer = await serveIsolated(
      new Map([
        ["/index.html", PAGE],
        ["/app.js", await browserBundle(path.join(here, "page.ts"))],
        ...(await virtualBoardFiles()),
      ]),
    )
    servers.push(benchServer)
    const page = await browser.newPage()
    await page.goto(originOf(benchServer))
    await page.waitForFunction(() => document.title === "ready", undefined, { timeout: 60_000 })
    const inChromium = await page.evaluate(
      ([r, u, b]) => window.belayBench.virtual(r!, u!, b!),
      [rounds, uploads, uploadBytes],
    )
    await page.close()
    rows("virtual (Chromium, Web Worker)", inChromium)
    const inNode = await measure(openVirtualBoard(), rounds, uploads, uploadBytes)
    rows("virtual (Node)", inNode)

    // ---- the board page: load to ready, and to an interactive terminal ----
    outDir = await mkdtemp(path.join(tmpdir(), "belay-web-bench-"))
    await build({
      configFile: path.join(appDir, "vite.config.ts"),
      build: { outDir, emptyOutDir: true },
      logLevel: "warn",
    })
    const pageServer = await serveIsolated(new Map(), outDir)
    servers.push(pageServer)
    const ready: number[] = []
    const terminal: number[] = []
    for (let i = 0; i < loads; i++) {
      // A fresh context each time: nothing cached (the server also says no-store).
      const context = await browser.newContext()
      const boardPage = await context.newPage()
      const started = performance.now()
      await boardPage.goto(originOf(pageServer))
      await boardPage.waitForFunction(
        () => document.getElementById("status")?.textContent === "ready",
        undefined,
        {
          timeout: 60_000,
        },
      )
      ready.push(performance.now() - started)
      await boardPage.click("#connect-virtual")
      await boardPage.waitForFunction(
        () =>
          document.getElementById("terminal-attach")?.textContent === "Detach" &&
          /^>>> ?$/m.test(window.boardPage.terminalText()),
        undefined,
        { timeout: 60_000 },
      )
      terminal.push(performance.now() - started)
      await context.close()
    }
    ctx.log(
      `board page: ready ${ready.map((m) => m.toFixed(0)).join(", ")} ms; interactive terminal ${terminal.map((m) => m.toFixed(0)).join(", ")} ms`,
    )
    ctx.record({
      package: "web",
      benchmark: "board page load to ready to connect (median)",
      board: "Chromium",
      value: summarize(ready).median,
      unit: "ms",
    })
    ctx.record({
      package: "web",
      benchmark: "board page load to an interactive terminal on the in-page virtual board (median)",
      board: "Chromium",
      value: summarize(terminal).median,
      unit: "ms",
      note: "navigation, scripts, connect click, board start, session, REPL prompt",
    })
  } finally {
    await browser?.close()
    for (const server of servers) await closeServer(server)
    if (outDir !== undefined) await rm(outDir, { recursive: true, force: true })
  }
}

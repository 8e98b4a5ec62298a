/**
 * The board page (`index.html`, `src/`), as people use it, in Debian's Chromium headless through
 * playwright-core: built with Vite (`vite build`, the same config as `pnpm --filter @belay/web
 * build`), served from a static server of the test's own with the cross-origin-isolation headers,
 * and driven by clicks and keys: connect to the in-page virtual board, type in the terminal,
 * upload (file input and drag and drop) and download back, mkdir and delete, run an endless loop
 * and Stop it, call a task from its form, plot a generator's stream (pause, stop), end the session and see the cleanup check, and connect over WebREPL (files up and back) with a
 * password. Screenshots of each panel go to `test-artifacts/` (not committed). Every wait has a bound.
 */
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises"
import type { Server } from "node:http"
import { tmpdir } from "node:os"
import path from "node:path"
import type { Browser, Page } from "playwright-core"
import { build } from "vite"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  appDir,
  artifacts,
  closeServer,
  launchChromium,
  originOf,
  serveIsolated,
  startWebReplBoard,
} from "./chromium.js"

/** Bound on each wait in the page (a loaded 2-core machine; nothing asserts a time). */
const WAIT = { timeout: 30_000 }

let outDir: string
let server: Server
let origin: string
let browser: Browser
let page: Page
const pageLog: string[] = []

const shot = (panel: string, name: string) =>
  page.locator(`#${panel}`).screenshot({ path: path.join(artifacts, `${name}.png`) })

const terminalText = () => page.evaluate(() => window.boardPage.terminalText())

/** Wait until the terminal shows `pattern`; the error tells what it showed instead. */
const waitForTerminal = async (pattern: RegExp) => {
  try {
    await page.waitForFunction(
      ([source, flags]) => new RegExp(source!, flags).test(window.boardPage.terminalText()),
      [pattern.source, pattern.flags],
      WAIT,
    )
  } catch (error) {
    throw new Error(
      `the terminal never showed ${pattern}: it shows\n${await terminalText()}\n${String(error)}`,
    )
  }
}

/** Drop files on the drop zone, as a person dragging them from the desktop. */
const dropFiles = async (files: ReadonlyArray<{ name: string; bytes: Uint8Array }>) => {
  const dataTransfer = await page.evaluateHandle(
    (list) => {
      const transfer = new DataTransfer()
      for (const { name, bytes } of list) transfer.items.add(new File([new Uint8Array(bytes)], name))
      return transfer
    },
    files.map(({ name, bytes }) => ({ name, bytes: [...bytes] })),
  )
  await page.dispatchEvent("#drop-zone", "drop", { dataTransfer })
}

/** Upload rounds done so far (the page counts them). */
const uploadsDone = () =>
  page.evaluate(() => Number(document.getElementById("upload-status")!.dataset.done ?? "0"))
const waitForUploads = (count: number) =>
  page.waitForFunction(
    (n) => Number(document.getElementById("upload-status")!.dataset.done ?? "0") >= n,
    count,
    WAIT,
  )

const fileItem = (boardPath: string) => page.locator(`#file-tree li[data-path="${boardPath}"]`)

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true })
  outDir = await mkdtemp(path.join(tmpdir(), "belay-web-"))
  await build({
    configFile: path.join(appDir, "vite.config.ts"),
    build: { outDir, emptyOutDir: true },
    logLevel: "warn",
  })
  server = await serveIsolated(new Map(), outDir)
  origin = originOf(server)
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })
  page.on("console", (message) => pageLog.push(`${message.type()}: ${message.text()}`))
  page.on("pageerror", (error) => pageLog.push(`pageerror: ${error.message}`))
  const loading = performance.now()
  await page.goto(origin)
  await page.waitForFunction(
    () => document.getElementById("status")?.textContent === "ready",
    undefined,
    WAIT,
  )
  console.log(`board page loaded and ready in ${(performance.now() - loading).toFixed(0)} ms`)
}, 180_000)

afterAll(async () => {
  if (pageLog.length > 0) console.log(`page log:\n${pageLog.join("\n")}`)
  await browser?.close()
  await closeServer(server)
  if (outDir !== undefined) await rm(outDir, { recursive: true, force: true })
})

/** Fail with what the page said when a step does not come. */
const step = async <A>(name: string, run: () => Promise<A>): Promise<A> => {
  try {
    return await run()
  } catch (error) {
    const statusLine = await page
      .locator("#status")
      .textContent({ timeout: 1000 })
      .catch(() => "?")
    const tree = await page
      .locator("#file-tree")
      .innerHTML({ timeout: 1000 })
      .catch(() => "?")
    throw new Error(
      `${name}: ${String(error)}\nstatus: ${statusLine}\nfile tree: ${tree}\npage log:\n${pageLog.join("\n")}`,
    )
  }
}

describe("the board page in Chromium", () => {
  it("connects to the in-page virtual board and opens the terminal on the friendly REPL", async () => {
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true)
    const started = performance.now()
    await page.click("#connect-virtual")
    await step("connect", () => page.waitForSelector("#status[data-connected=true]", WAIT))
    await step("terminal", () =>
      page.waitForFunction(
        () => document.getElementById("terminal-attach")?.textContent === "Detach",
        undefined,
        WAIT,
      ),
    )
    console.log(`virtual board connected, terminal attached: ${(performance.now() - started).toFixed(0)} ms`)
    expect(await page.locator("#status").textContent()).toMatch(/^connected: virtual/)
    await waitForTerminal(/^>>> ?$/m)
    await shot("connect-panel", "panel-connect")
  })

  it("runs what is typed in the terminal and shows its output; Ctrl-C interrupts a loop there", async () => {
    await page.click("#terminal")
    await page.keyboard.type("print(6 * 7, 'from', 'the', 'terminal')")
    await page.keyboard.press("Enter")
    await waitForTerminal(/^42 from the terminal$/m)
    await page.keyboard.type("while True: pass")
    await page.keyboard.press("Enter")
    await page.keyboard.press("Enter")
    // The loop holds the board until Ctrl-C reaches it.
    await page.keyboard.press("Control+C")
    await waitForTerminal(/KeyboardInterrupt/)
    await page.keyboard.type("print('alive', 1 + 1)")
    await page.keyboard.press("Enter")
    await waitForTerminal(/^alive 2$/m)
    await shot("terminal-panel", "panel-terminal")
  })

  it("uploads a file (atomic, verified) through the file input and downloads the same bytes back", async () => {
    const bytes = new Uint8Array(48 * 1024)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + (i >> 8) * 31) & 0xff
    const before = await uploadsDone()
    await page.setInputFiles("#upload-input", {
      name: "data.bin",
      mimeType: "application/octet-stream",
      buffer: Buffer.from(bytes),
    })
    await step("upload", () => waitForUploads(before + 1))
    await step("listed", () => fileItem("/data.bin").waitFor(WAIT))
    expect(await page.locator("#upload-status").textContent()).toMatch(
      /49152 bytes written atomically and verified/,
    )
    expect(await page.locator("#upload-progress").evaluate((p) => (p as HTMLProgressElement).value)).toBe(1)
    await shot("files-panel", "panel-files")

    const [download] = await Promise.all([
      page.waitForEvent("download", WAIT),
      fileItem("/data.bin").locator("button[data-action=download]").click(),
    ])
    expect(download.suggestedFilename()).toBe("data.bin")
    const back = new Uint8Array(await readFile(await download.path()))
    expect(back.length).toBe(bytes.length)
    expect(Buffer.compare(Buffer.from(back), Buffer.from(bytes))).toBe(0)
  })

  it("uploads by drag and drop, makes a folder, and deletes", async () => {
    const before = await uploadsDone()
    await dropFiles([
      { name: "hello.py", bytes: new TextEncoder().encode("print('hello from', 'a file')\n") },
    ])
    await step("drop", () => waitForUploads(before + 1))
    await fileItem("/hello.py").waitFor(WAIT)

    page.once("dialog", (dialog) => void dialog.accept("lib"))
    await page.click("#mkdir")
    await step("mkdir", () => fileItem("/lib").waitFor(WAIT))
    expect(await fileItem("/lib").getAttribute("class")).toBe("dir")

    await fileItem("/data.bin").locator("button[data-action=delete]").click()
    await step("delete", () => fileItem("/data.bin").waitFor({ state: "detached", ...WAIT }))
    await fileItem("/lib").locator("button[data-action=delete]").click()
    await step("delete folder", () => fileItem("/lib").waitFor({ state: "detached", ...WAIT }))
    expect(await fileItem("/hello.py").count()).toBe(1)
  })

  it("runs a file with its output streaming in, and Stop interrupts an endless loop", async () => {
    await fileItem("/hello.py").locator("button[data-action=run]").click()
    await step("run", () =>
      page.waitForFunction(
        () => document.getElementById("run-status")?.textContent === "finished",
        undefined,
        WAIT,
      ),
    )
    expect(await page.locator("#run-output").textContent()).toBe("hello from a file\n")

    const before = await uploadsDone()
    await dropFiles([
      {
        name: "forever.py",
        bytes: new TextEncoder().encode(
          "i = 0\nwhile True:\n    i += 1\n    if i % 2000 == 0:\n        print('tick', i)\n",
        ),
      },
    ])
    await step("drop", () => waitForUploads(before + 1))
    await fileItem("/forever.py").locator("button[data-action=run]").click()
    // Streaming: ticks arrive while the file still runs.
    await step("ticks", () =>
      page.waitForFunction(
        () =>
          (document.getElementById("run-output")?.textContent?.match(/tick \d+/g)?.length ?? 0) >= 3 &&
          document.getElementById("run-status")?.textContent === "running…",
        undefined,
        WAIT,
      ),
    )
    await shot("run-panel", "panel-run")
    await page.click("#run-stop")
    await step("stop", () =>
      page.waitForFunction(
        () => document.getElementById("run-status")?.textContent === "stopped",
        undefined,
        WAIT,
      ),
    )
    expect(await page.locator("#run-stop").isDisabled()).toBe(true)
    // The board is back: the next run works.
    await fileItem("/hello.py").locator("button[data-action=run]").click()
    await step("run after stop", () =>
      page.waitForFunction(
        () => document.getElementById("run-status")?.textContent === "finished",
        undefined,
        WAIT,
      ),
    )
    expect(await page.locator("#run-output").textContent()).toBe("hello from a file\n")
    const interrupts = await page.locator('#stats dd[data-stat="interrupts"]').textContent()
    expect(Number(interrupts)).toBeGreaterThanOrEqual(1)
  })

  it("calls a typed task from a form built from its argument schemas, and refuses what does not fit", async () => {
    await page.selectOption("#task-select", { label: "add" })
    expect(await page.locator("#task-form label").allTextContents()).toEqual(["a", "b"])
    expect(await page.locator("#task-arg-0").getAttribute("type")).toBe("number")
    await page.fill("#task-arg-0", "2.5")
    await page.fill("#task-arg-1", "4")
    await page.click("#task-call")
    await step("call", () => page.waitForSelector("#task-result[data-state=done]", WAIT))
    expect(await page.locator("#task-result").textContent()).toBe("→ 6.5")

    await page.selectOption("#task-select", { label: "greet" })
    expect(await page.locator("#task-form label").allTextContents()).toEqual(["name", "times", "shout"])
    expect(await page.locator("#task-arg-2").getAttribute("type")).toBe("checkbox")
    await page.fill("#task-arg-1", "1.5")
    await page.click("#task-call")
    await step("invalid", () => page.waitForSelector("#task-result[data-state=invalid]", WAIT))
    expect(await page.locator("#task-result").textContent()).toBe("invalid: times: Expected an integer")
    await page.fill("#task-arg-0", "pico")
    await page.fill("#task-arg-1", "2")
    await page.check("#task-arg-2")
    await page.click("#task-call")
    await step("call", () => page.waitForSelector("#task-result[data-state=done]", WAIT))
    expect(await page.locator("#task-result").textContent()).toBe('→ "HELLO PICO HELLO PICO"')
    await shot("task-panel", "panel-task")
  })

  it("plots a generator task's stream as it arrives, pauses the plot, and Stop ends the generator", async () => {
    const points = () => page.evaluate(() => Number(document.getElementById("plot")!.dataset.points ?? "0"))
    await page.selectOption("#task-select", { label: "sine (generator: plotted)" })
    await page.fill("#task-arg-0", "2")
    await page.fill("#task-arg-1", "100000")
    await page.fill("#task-arg-2", "5")
    await page.click("#task-call")
    await step("points", () =>
      page.waitForFunction(
        () => Number(document.getElementById("plot")!.dataset.points ?? "0") >= 30,
        undefined,
        WAIT,
      ),
    )
    await page.click("#plot-pause")
    expect(await page.locator("#plot-status").textContent()).toMatch(/^paused/)
    // Paused, the plot keeps receiving.
    const atPause = await points()
    await step("points while paused", () =>
      page.waitForFunction(
        (n) => Number(document.getElementById("plot")!.dataset.points ?? "0") > n + 10,
        atPause,
        WAIT,
      ),
    )
    await page.click("#plot-pause")
    expect(await page.locator("#plot-status").textContent()).toBe("streaming…")
    await shot("plot-panel", "panel-plot")
    await page.click("#plot-stop")
    await step("stop", () =>
      page.waitForFunction(
        () => /^stopped: \d+ points/.test(document.getElementById("plot-status")?.textContent ?? ""),
        undefined,
        WAIT,
      ),
    )
    const atStop = await points()
    expect(atStop).toBeLessThan(100000)
    // The board is free again: a call goes through.
    await page.selectOption("#task-select", { label: "add" })
    await page.click("#task-call")
    await step("call after stop", () => page.waitForSelector("#task-result[data-state=done]", WAIT))
    expect(await page.locator("#task-result").textContent()).toBe("→ 5")
    expect(await points()).toBe(atStop)
  })

  it("ends the session and shows that it cleaned up", async () => {
    await page.click("#end-session")
    await step("cleanup check", () => page.waitForSelector("#cleanup:not([hidden])", WAIT))
    expect(await page.locator("#cleanup").getAttribute("data-ok")).toBe("true")
    expect(await page.locator("#cleanup").textContent()).toMatch(
      /cleaned up: session \S+ ended.*0 active sessions, 0 live resources/,
    )
    expect(await page.locator('#stats dd[data-stat="sessions active / total"]').textContent()).toMatch(
      /^0 \/ [1-9]/,
    )
    await shot("connect-panel", "panel-session-ended")
    await page.screenshot({ path: path.join(artifacts, "board-page.png"), fullPage: true })
    await page.click("#disconnect")
    await step("disconnect", () =>
      page.waitForFunction(
        () => document.getElementById("status")?.textContent === "disconnected",
        undefined,
        WAIT,
      ),
    )
  })

  it("connects over WebREPL with the password field to belay-virtual-board --webrepl, and the terminal works", async () => {
    const { child, url } = await startWebReplBoard("s3cret")
    try {
      await page.fill("#webrepl-url", url)
      await page.fill("#webrepl-password", "nope")
      await page.click("#connect-webrepl")
      await step("wrong password", () =>
        page.waitForFunction(
          () =>
            /connect failed: .*(WebReplLoginError|password)/.test(
              document.getElementById("status")?.textContent ?? "",
            ),
          undefined,
          WAIT,
        ),
      )
      await page.fill("#webrepl-password", "s3cret")
      await page.click("#connect-webrepl")
      await step("connect", () => page.waitForSelector("#status[data-connected=true]", WAIT))
      expect(await page.locator("#status").textContent()).toContain("connected: ws://127.0.0.1")
      // The page lists the root, then hands the board to the terminal: keys typed before are lost.
      await step("terminal over WebREPL", () =>
        page.waitForFunction(
          () => document.getElementById("terminal-attach")?.textContent === "Detach",
          undefined,
          WAIT,
        ),
      )
      await waitForTerminal(/^>>> ?$/m)
      await page.click("#terminal")
      await page.keyboard.type("print('over', 'webrepl')")
      await page.keyboard.press("Enter")
      await waitForTerminal(/^over webrepl$/m)
      // Files over the browser's WebREPL (a text-only link): every byte value up and back.
      const bytes = new Uint8Array(20 * 1024)
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + (i >> 8)) & 0xff
      const before = await uploadsDone()
      await page.setInputFiles("#upload-input", {
        name: "webrepl.bin",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(bytes),
      })
      await step("upload over WebREPL", () => waitForUploads(before + 1))
      await step("listed over WebREPL", () => fileItem("/webrepl.bin").waitFor(WAIT))
      expect(await page.locator("#upload-status").textContent()).toMatch(
        /20480 bytes written atomically and verified/,
      )
      const [download] = await Promise.all([
        page.waitForEvent("download", WAIT),
        fileItem("/webrepl.bin").locator("button[data-action=download]").click(),
      ])
      const back = new Uint8Array(await readFile(await download.path()))
      expect(back.length).toBe(bytes.length)
      expect(Buffer.compare(Buffer.from(back), Buffer.from(bytes))).toBe(0)
      // Still connected: no frame that was not UTF-8 made the browser drop the link.
      expect(await page.locator("#status[data-connected=true]").count()).toBe(1)
      await shot("connect-panel", "panel-webrepl")
      await page.click("#disconnect")
      await step("disconnect", () =>
        page.waitForFunction(
          () => document.getElementById("status")?.textContent === "disconnected",
          undefined,
          WAIT,
        ),
      )
      expect(await page.locator("#cleanup").getAttribute("data-ok")).toBe("true")
    } finally {
      child.kill()
    }
  })
})

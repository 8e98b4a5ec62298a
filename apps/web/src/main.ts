/**
 * The board page: connect (the in-page virtual board, WebREPL, Web Serial), a terminal on the
 * friendly REPL, a file tree (upload by input or drop, atomic and verified; download, delete,
 * mkdir), run a file with streaming output and Stop, and session stats with a cleanup check when a
 * session ends. Plain DOM; the board side is `Board.ts`.
 */
import "@xterm/xterm/css/xterm.css"
import "./style.css"
import type { FileEntry } from "@belay/filesystem"
import { openWebSerialLink, requestWebSerialPort } from "@belay/transport/web-serial"
import { openBrowserWebReplLink } from "@belay/transport/webrepl-browser"
import { openVirtualBoard } from "@belay/virtual-device/browser"
import { Terminal } from "@xterm/xterm"
import { Effect, Redacted } from "effect"
import { Board, type CleanupCheck, errorText, type OpenLink } from "./Board.js"
import { annotation, decodeArg, inputKind, pageTasks } from "./tasks.js"

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T
const button = (id: string) => $<HTMLButtonElement>(id)

const status = (text: string) => {
  $("status").textContent = text
}

const term = new Terminal({ convertEol: false, fontSize: 13, rows: 18, theme: { background: "#0f1720" } })
term.open($("terminal"))
let board: Board | undefined
let cwd = "/"
let selectedFile: string | undefined

const terminalSink = (bytes: Uint8Array) => term.write(bytes)
term.onData((data) => board?.typeInTerminal(data))

const joinPath = (dir: string, name: string) => (dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`)
const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1)

/** Run an action from a button: errors go to the status line, never unhandled. */
const act = (name: string, action: () => Promise<unknown>) => {
  action().catch((error: unknown) => {
    status(`${name} failed: ${errorText(error)}`)
    console.error(error)
  })
}

const setConnected = (connected: boolean) => {
  for (const id of ["connect-virtual", "connect-serial", "connect-webrepl"]) button(id).disabled = connected
  for (const id of [
    "end-session",
    "disconnect",
    "terminal-attach",
    "terminal-ctrl-c",
    "refresh",
    "mkdir",
    "task-call",
  ])
    button(id).disabled = !connected
  $<HTMLInputElement>("upload-input").disabled = !connected
}

const setFilesUsable = () => {
  for (const id of ["refresh", "mkdir"]) button(id).disabled = board === undefined
  $<HTMLInputElement>("upload-input").disabled = board === undefined
  $("file-tree").replaceChildren()
}

const renderStats = async () => {
  if (board === undefined) return
  const s = await board.stats()
  const m = s.metrics
  const rows: Array<[string, string]> = [
    ["link", s.link],
    ["session", s.sessionId ?? "none"],
    ["state", s.sessionState],
    ["sessions active / total", `${s.activeSessions} / ${s.totalSessions}`],
    ["live resources", `${s.liveResources} ${JSON.stringify(s.resourcesByType)}`],
    ["exchanges", String(m.exchanges)],
    ["bytes out / in", `${m.bytesOut} / ${m.bytesIn}`],
    ["latency mean / max", `${m.meanLatencyMs.toFixed(1)} / ${m.maxLatencyMs.toFixed(1)} ms`],
    ["interrupts", String(m.interrupts)],
    ["resets", String(m.resets)],
  ]
  const dl = $("stats")
  dl.replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement("dt")
      dt.textContent = k
      const dd = document.createElement("dd")
      dd.textContent = v
      dd.dataset.stat = k
      return [dt, dd]
    }),
  )
}

const showCleanup = (check: CleanupCheck | undefined) => {
  const p = $("cleanup")
  if (check === undefined) return
  p.hidden = false
  p.className = `cleanup ${check.ok ? "ok" : "bad"}`
  p.dataset.ok = String(check.ok)
  p.textContent = check.ok
    ? `✔ cleaned up: session ${check.sessionId} ${check.endReason === "ended" ? "ended" : `ended (${check.endReason})`}; ${check.activeSessions} active sessions, ${check.liveResources} live resources, ${check.cleanedAtEnd} released at its end; ${check.strayGlobals.length > 0 ? `names the session left in the board's globals: ${check.strayGlobals.join(", ")}` : "no names left in the board's globals"}`
    : `✘ not clean: ${check.activeSessions} active sessions, ${check.liveResources} live resources${check.cleanupFailure === undefined ? "" : `, ${check.cleanupFailure}`}`
}

const refreshTree = async () => {
  if (board === undefined) return
  const entries = await board.list(cwd)
  $("cwd").textContent = cwd
  const tree = $("file-tree")
  const items: HTMLElement[] = []
  if (cwd !== "/")
    items.push(treeItem({ path: cwd.slice(0, cwd.lastIndexOf("/")) || "/", type: "dir", size: 0 }, ".."))
  for (const entry of [...entries].sort((a, b) =>
    a.type === b.type ? a.path.localeCompare(b.path) : a.type === "dir" ? -1 : 1,
  ))
    items.push(treeItem(entry))
  tree.replaceChildren(...items)
  await renderStats()
}

const small = (text: string, title: string, onClick: () => void) => {
  const b = document.createElement("button")
  b.textContent = text
  b.title = title
  b.dataset.action = text
  b.addEventListener("click", onClick)
  return b
}

const treeItem = (listed: FileEntry, label?: string) => {
  // Listings name entries relative to the folder listed.
  const entry = listed.path.startsWith("/") ? listed : { ...listed, path: joinPath(cwd, listed.path) }
  const li = document.createElement("li")
  li.className = entry.type
  li.dataset.path = entry.path
  const name = document.createElement("span")
  name.className = "name"
  name.textContent = label ?? (entry.type === "dir" ? `${baseName(entry.path)}/` : baseName(entry.path))
  li.append(name)
  if (entry.type === "dir") {
    name.addEventListener("click", () => {
      cwd = entry.path
      act("list", refreshTree)
    })
    if (label === undefined)
      li.append(
        small("delete", "delete the folder and all in it", () =>
          act("delete", async () => {
            await board?.remove(entry.path, true)
            await refreshTree()
          }),
        ),
      )
    return li
  }
  const size = document.createElement("span")
  size.className = "muted"
  size.textContent = `${entry.size} B`
  li.append(
    size,
    small("run", "run this file on the board", () => act("run", () => runFile(entry.path))),
    small("download", "download this file", () => act("download", () => download(entry.path))),
    small("delete", "delete this file", () =>
      act("delete", async () => {
        await board?.remove(entry.path, false)
        await refreshTree()
      }),
    ),
  )
  return li
}

const download = async (path: string) => {
  if (board === undefined) return
  status(`downloading ${path}…`)
  const bytes = await board.download(path)
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]))
  const a = document.createElement("a")
  a.href = url
  a.download = baseName(path)
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
  status(`downloaded ${path} (${bytes.length} bytes)`)
}

const upload = async (files: ReadonlyArray<File>) => {
  if (board === undefined || files.length === 0) return
  const progress = $<HTMLProgressElement>("upload-progress")
  const note = $("upload-status")
  progress.hidden = false
  const total = files.reduce((sum, f) => sum + f.size, 0)
  let before = 0
  for (const file of files) {
    const path = joinPath(cwd, file.name)
    note.textContent = `uploading ${path}…`
    const data = new Uint8Array(await file.arrayBuffer())
    const started = performance.now()
    const result = await board.upload(path, data, (done) => {
      progress.value = total === 0 ? 1 : (before + done) / total
    })
    before += file.size
    progress.value = total === 0 ? 1 : before / total
    note.textContent = `${path}: ${result.size} bytes written atomically and verified in ${(performance.now() - started).toFixed(0)} ms`
  }
  note.dataset.done = String(Number(note.dataset.done ?? "0") + 1)
  await refreshTree()
}

const runFile = async (path: string) => {
  if (board === undefined) return
  selectedFile = path
  $("run-file").textContent = path
  const output = $("run-output")
  output.textContent = ""
  const runStatus = $("run-status")
  runStatus.textContent = "running…"
  button("run-stop").disabled = false
  try {
    const outcome = await board.runFile(path, (text) => {
      output.textContent += text
      if (output.textContent.length > 200_000) output.textContent = output.textContent.slice(-100_000)
      output.scrollTop = output.scrollHeight
    })
    runStatus.textContent = outcome
  } catch (error) {
    runStatus.textContent = `failed: ${errorText(error)}`
  } finally {
    button("run-stop").disabled = true
    await renderStats()
  }
}

/** Hand the board to the terminal, and ask for a fresh prompt. */
const attachTerminal = async () => {
  if (board === undefined) return
  await board.attachTerminal()
  button("terminal-attach").textContent = "Detach"
  term.focus()
}

// Files work on every link, WebREPL included: a browser's WebREPL link says it is text-only, and
// the file operations then print only ASCII (a browser drops a WebSocket on a text frame that is
// not UTF-8).
const connect = async (name: string, open: OpenLink) => {
  status(`${name}: connecting…`)
  $("cleanup").hidden = true
  const started = performance.now()
  board = await Board.open(open, terminalSink)
  status(`connected: ${board.link.description} in ${(performance.now() - started).toFixed(0)} ms`)
  $("status").dataset.connected = "true"
  setConnected(true)
  term.reset()
  cwd = "/"
  setFilesUsable()
  await refreshTree()
  await attachTerminal()
}

button("connect-virtual").addEventListener("click", () =>
  act("connect", () =>
    connect(
      "virtual board",
      openVirtualBoard({
        assets: {
          worker: "/board/worker.js",
          micropython: "/board/micropython.mjs",
          wasm: "/board/micropython.wasm",
        },
      }),
    ),
  ),
)

$("webrepl-form").addEventListener("submit", (event) => {
  event.preventDefault()
  const url = $<HTMLInputElement>("webrepl-url").value.trim()
  const password = $<HTMLInputElement>("webrepl-password").value
  act("connect", () => connect("WebREPL", openBrowserWebReplLink({ url, password: Redacted.make(password) })))
})

if ("serial" in navigator) {
  button("connect-serial").hidden = false
  button("connect-serial").addEventListener("click", () =>
    act("connect", async () => {
      // The port chooser needs the click's user activation: ask first, then open.
      const port = await Effect.runPromise(requestWebSerialPort())
      await connect("Web Serial", openWebSerialLink({ port, baudRate: 115200 }))
    }),
  )
}

button("terminal-attach").addEventListener("click", () =>
  act("terminal", async () => {
    if (board === undefined) return
    if (board.terminalAttached) {
      await board.detachTerminal()
      button("terminal-attach").textContent = "Attach"
    } else {
      await attachTerminal()
    }
  }),
)
button("terminal-ctrl-c").addEventListener("click", () => board?.typeInTerminal("\x03"))

button("end-session").addEventListener("click", () =>
  act("end session", async () => {
    if (board === undefined) return
    showCleanup(await board.endSession())
    status("session ended: the next action starts a new one")
    await renderStats()
  }),
)

button("disconnect").addEventListener("click", () =>
  act("disconnect", async () => {
    const closing = board
    board = undefined
    setConnected(false)
    delete $("status").dataset.connected
    button("terminal-attach").textContent = "Attach"
    if (closing === undefined) return
    showCleanup(await closing.close())
    status("disconnected")
  }),
)

button("run-stop").addEventListener("click", () =>
  act("stop", async () => {
    $("run-status").textContent = "stopping…"
    await board?.stop()
  }),
)

button("refresh").addEventListener("click", () => act("list", refreshTree))
button("mkdir").addEventListener("click", () =>
  act("mkdir", async () => {
    const name = prompt("New folder name")
    if (board === undefined || name === null || name.trim() === "") return
    await board.mkdir(joinPath(cwd, name.trim()))
    await refreshTree()
  }),
)

const input = $<HTMLInputElement>("upload-input")
input.addEventListener("change", () =>
  act("upload", async () => {
    await upload([...(input.files ?? [])])
    input.value = ""
  }),
)
const drop = $("drop-zone")
drop.addEventListener("dragover", (event) => {
  event.preventDefault()
  drop.classList.add("over")
})
drop.addEventListener("dragleave", () => drop.classList.remove("over"))
drop.addEventListener("drop", (event) => {
  event.preventDefault()
  drop.classList.remove("over")
  act("upload", () => upload([...(event.dataTransfer?.files ?? [])]))
})

setInterval(() => {
  if (board !== undefined && !board.running) renderStats().catch(() => undefined)
}, 2000)

declare global {
  interface Window {
    /** For the page's tests: what the terminal shows, and the file chosen to run. */
    boardPage: { readonly terminalText: () => string; readonly selectedFile: () => string | undefined }
  }
}
window.boardPage = {
  terminalText: () => {
    const buffer = term.buffer.active
    const lines: string[] = []
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? "")
    return lines.join("\n")
  },
  selectedFile: () => selectedFile,
}

// --- Tasks: a form from each task's argument schemas; generator tasks plot their stream. ---

const taskSelect = $<HTMLSelectElement>("task-select")
for (const [index, task] of pageTasks.entries()) {
  const option = document.createElement("option")
  option.value = String(index)
  option.textContent = task.kind === "stream" ? `${task.name} (generator: plotted)` : task.name
  taskSelect.append(option)
}

const chosenTask = () => pageTasks[Number(taskSelect.value)]!

const buildForm = () => {
  const task = chosenTask()
  const form = $("task-form")
  form.replaceChildren(
    ...task.args.flatMap((schema, index) => {
      const id = `task-arg-${index}`
      const label = document.createElement("label")
      label.htmlFor = id
      label.textContent = annotation(schema, "title") ?? `argument ${index + 1}`
      const input = document.createElement("input")
      input.id = id
      input.name = label.textContent
      input.type = inputKind(schema)
      const description = annotation(schema, "description")
      if (description !== undefined) input.title = description
      const fallback = task.defaults[index] ?? ""
      if (input.type === "checkbox") input.checked = fallback === "true"
      else input.value = fallback
      if (input.type === "number") input.step = "any"
      return [label, input]
    }),
  )
  button("task-call").textContent = task.kind === "stream" ? "Start" : "Call"
  $("task-result").textContent = ""
}
taskSelect.addEventListener("change", buildForm)
buildForm()

/** The form's values, decoded with the task's schemas (a clear error names the argument). */
const formArgs = (): ReadonlyArray<unknown> =>
  chosenTask().args.map((schema, index) => {
    const input = $<HTMLInputElement>(`task-arg-${index}`)
    try {
      return decodeArg(schema, input.type === "checkbox" ? input.checked : input.value)
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      throw new Error(`${annotation(schema, "title") ?? `argument ${index + 1}`}: ${reason}`)
    }
  })

/** The plot: points as they arrive, redrawn on the next frame; paused, it keeps them but does not draw. */
const plot = {
  points: [] as Array<readonly [number, number]>,
  paused: false,
  pending: false,
  draw() {
    if (plot.pending || plot.paused) return
    plot.pending = true
    requestAnimationFrame(() => {
      plot.pending = false
      const canvas = $<HTMLCanvasElement>("plot")
      // Draw at the size the canvas is shown at.
      if (canvas.clientWidth > 0 && canvas.width !== canvas.clientWidth) canvas.width = canvas.clientWidth
      const g = canvas.getContext("2d")!
      const { width, height } = canvas
      g.fillStyle = "#0f1720"
      g.fillRect(0, 0, width, height)
      g.strokeStyle = "#2a3a4c"
      g.beginPath()
      g.moveTo(0, height / 2)
      g.lineTo(width, height / 2)
      g.stroke()
      const shown = plot.points.slice(-400)
      if (shown.length < 2) return
      const t0 = shown[0]![0]
      const span = Math.max(shown[shown.length - 1]![0] - t0, 1e-9)
      const ys = shown.map((p) => p[1])
      const limit = Math.max(1e-9, ...ys.map(Math.abs))
      g.strokeStyle = "#4fc3f7"
      g.lineWidth = 2
      g.beginPath()
      for (const [i, [t, y]] of shown.entries()) {
        const x = ((t - t0) / span) * (width - 8) + 4
        const py = height / 2 - (y / limit) * (height / 2 - 8)
        if (i === 0) g.moveTo(x, py)
        else g.lineTo(x, py)
      }
      g.stroke()
    })
  },
}

button("task-call").addEventListener("click", () =>
  act("task", async () => {
    if (board === undefined) return
    const task = chosenTask()
    const result = $("task-result")
    let args: ReadonlyArray<unknown>
    try {
      args = formArgs()
    } catch (error) {
      result.textContent = `invalid: ${error instanceof Error ? error.message : String(error)}`
      result.dataset.state = "invalid"
      return
    }
    if (task.kind === "call") {
      result.textContent = "calling…"
      result.dataset.state = "calling"
      const value = await board.callTask(task.task, args).catch((error: unknown) => {
        result.dataset.state = "failed"
        throw error
      })
      result.textContent = `→ ${JSON.stringify(value)}`
      result.dataset.state = "done"
      await renderStats()
      return
    }
    plot.points = []
    plot.paused = false
    button("plot-pause").textContent = "Pause"
    $("plot-title").textContent = `${task.name}(${args.map((a) => JSON.stringify(a)).join(", ")})`
    const plotStatus = $("plot-status")
    plotStatus.textContent = "streaming…"
    for (const id of ["plot-pause", "plot-stop"]) button(id).disabled = false
    button("task-call").disabled = true
    try {
      const outcome = await board.streamTask(task.task, args, (item) => {
        plot.points.push(item)
        if (plot.points.length > 5000) plot.points.splice(0, plot.points.length - 4000)
        $("plot").dataset.points = String(Number($("plot").dataset.points ?? "0") + 1)
        plot.draw()
      })
      plotStatus.textContent = `${outcome}: ${plot.points.length} points`
    } catch (error) {
      plotStatus.textContent = `failed: ${errorText(error)}`
    } finally {
      for (const id of ["plot-pause", "plot-stop"]) button(id).disabled = true
      button("task-call").disabled = board === undefined
      await renderStats()
    }
  }),
)

button("plot-pause").addEventListener("click", () => {
  plot.paused = !plot.paused
  button("plot-pause").textContent = plot.paused ? "Resume" : "Pause"
  $("plot-status").textContent = plot.paused ? "paused (points still arrive)" : "streaming…"
  plot.draw()
})
button("plot-stop").addEventListener("click", () =>
  act("stop", async () => {
    $("plot-status").textContent = "stopping…"
    await board?.stop()
  }),
)

button("connect-virtual").disabled = false
button("connect-serial").disabled = false
button("connect-webrepl").disabled = false
status("ready")

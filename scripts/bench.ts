/**
 * `pnpm bench`: runs every packages/*\/bench/*.bench.ts and apps/*\/bench/*.bench.ts, prints a table per benchmark file, and
 * writes bench-results/latest.json and bench-results/latest.md with the machine it ran on.
 * Filter with BELAY_BENCH_FILTER=<substring of the file path>; BELAY_BENCH_QUICK=1 for fewer iterations.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises"
import path from "node:path"
import { pathToFileURL } from "node:url"
import { type BenchContext, type BenchResult, machine } from "./bench-kit.ts"

const root = path.resolve(import.meta.dirname, "..")
const filter = process.env.BELAY_BENCH_FILTER ?? ""
const quick = process.env.BELAY_BENCH_QUICK === "1"

const files: string[] = []
for (const group of ["packages", "apps"]) {
  for (const pkg of (await readdir(path.join(root, group))).sort()) {
    const dir = path.join(root, group, pkg, "bench")
    const entries = await readdir(dir).catch(() => [] as string[])
    for (const f of entries.sort()) if (f.endsWith(".bench.ts")) files.push(path.join(dir, f))
  }
}

const format = (v: number) =>
  Number.isInteger(v)
    ? String(v)
    : Math.abs(v) >= 100
      ? v.toFixed(0)
      : Math.abs(v) >= 1
        ? v.toFixed(2)
        : v.toPrecision(3)

const table = (rows: ReadonlyArray<BenchResult>) => {
  const head = ["package", "benchmark", "board", "value", "unit", "target", "met"]
  const body = rows.map((r) => [
    r.package,
    r.benchmark,
    r.board,
    format(r.value),
    r.unit,
    r.target ?? "",
    r.met === undefined ? "" : r.met ? "yes" : "NO",
  ])
  return [head, head.map(() => "---"), ...body].map((cells) => `| ${cells.join(" | ")} |`).join("\n")
}

const all: BenchResult[] = []
const sections: { title: string; markdown: string }[] = []
for (const file of files) {
  const rel = path.relative(root, file)
  if (filter && !rel.includes(filter)) continue
  const results: BenchResult[] = []
  const ctx: BenchContext = {
    record: (r) => results.push(r),
    section: (title, markdown) => {
      sections.push({ title, markdown })
      console.log(`\n### ${title}\n\n${markdown}`)
    },
    quick,
    log: (line) => console.log(`  ${line}`),
  }
  console.log(`\n## ${rel}`)
  const started = performance.now()
  try {
    const mod = (await import(pathToFileURL(file).href)) as { default: (ctx: BenchContext) => Promise<void> }
    await mod.default(ctx)
  } catch (error) {
    console.log(`  FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    process.exitCode = 1
  }
  console.log(table(results))
  console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`)
  all.push(...results)
}

const host = machine()
// A filtered or quick run is a partial look: it does not replace the committed full report.
const name = filter || quick ? "partial" : "latest"
await mkdir(path.join(root, "bench-results"), { recursive: true })
await writeFile(
  path.join(root, "bench-results", `${name}.json`),
  `${JSON.stringify({ machine: host, quick, filter, results: all, sections }, null, 2)}\n`,
)
const extra = sections.map((s) => `\n## ${s.title}\n\n${s.markdown}`).join("")
await writeFile(
  path.join(root, "bench-results", `${name}.md`),
  `# Benchmark report${name === "partial" ? ` (partial: filter "${filter}"${quick ? ", quick" : ""})` : ""}\n\nMachine: ${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB, Node ${host.node}, ${host.platform}; run ${host.date}.\n\n${table(all)}\n${extra}`,
)
console.log(`\nwrote bench-results/${name}.md and ${name}.json (${all.length} figures)`)
// Boards and links may leave handles behind in a failed run; the report is written, so leave.
process.exit(process.exitCode ?? 0)

/**
 * `belay run` sends the file minified unless `--no-minify`, `BELAY_MINIFY=0` or the config file's
 * `"minify": false` says otherwise, and the file does what it did as written: the same output,
 * and a traceback naming the lines as written. Minifying shows only where code reads its module
 * docstring without naming `__doc__` (the virtual board is a port built with docstrings): that is
 * how these tests see which way the file travelled.
 */
import { mkdir, writeFile } from "node:fs/promises"
import path from "node:path"
import { describe, expect, it } from "vitest"
import { belayCommand } from "./belayProcess.js"

const cli = belayCommand("belay-minify-")
const belay = cli.run

const SCRIPT = [
  '"""The script\'s docstring."""',
  "# a comment",
  "",
  "def f(x):",
  '    """Raises on a continuation line."""',
  "    # why",
  "    return (x +",
  "            1 / 0)",
  "",
  "print('doc:', globals().get('__d' + 'oc__'))",
  "print('it\\'s # not a comment')",
  "f(1)",
  "",
].join("\n")

const script = async () => {
  const file = path.join(cli.home(), "script.py")
  await writeFile(file, SCRIPT)
  return file
}

const writeConfig = async (config: unknown) => {
  const dir = path.join(cli.home(), "config", "belay")
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, "config.json"), JSON.stringify(config))
}

describe("belay run, minified", () => {
  it("prints what the file prints and names the lines as written, minified or not", async () => {
    const file = await script()
    const minified = await belay(["run", file])
    const asWritten = await belay(["run", file, "--no-minify"])
    expect(minified.stdout).toBe("doc: None\nit's # not a comment\n")
    expect(asWritten.stdout).toBe("doc: The script's docstring.\nit's # not a comment\n")
    for (const result of [minified, asWritten]) {
      expect(result.code).toBe(1)
      expect(result.stderr).toContain('line 12, in <module>\n  File "<stdin>", line 8, in f\n')
      expect(result.stderr).toContain("ZeroDivisionError")
    }
  })

  it("BELAY_MINIFY=0 and the config file's minify: false send the file as written; --minify wins over both", async () => {
    const file = await script()
    const docOf = (result: { stdout: string }) => result.stdout.split("\n")[0]
    expect(docOf(await belay(["run", file], { env: { BELAY_MINIFY: "0" } }))).toBe(
      "doc: The script's docstring.",
    )
    await writeConfig({ minify: false })
    expect(docOf(await belay(["run", file]))).toBe("doc: The script's docstring.")
    expect(docOf(await belay(["run", file, "--minify"]))).toBe("doc: None")
    expect(docOf(await belay(["run", file], { env: { BELAY_MINIFY: "1" } }))).toBe("doc: None")
    await writeConfig({ minify: "no" })
    const bad = await belay(["run", file])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('"minify" that is not true or false')
    await writeConfig({})
  })
})

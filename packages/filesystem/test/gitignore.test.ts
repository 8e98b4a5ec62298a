import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { gitignore } from "../src/index.js"

describe("gitignore matcher", () => {
  it("matches basenames at any depth unless anchored", () => {
    const m = gitignore(["*.pyc", "/build", "docs/*.md"])
    expect(m.ignores("x.pyc", false)).toBe(true)
    expect(m.ignores("a/b/x.pyc", false)).toBe(true)
    expect(m.ignores("x.py", false)).toBe(false)
    expect(m.ignores("build", true)).toBe(true)
    expect(m.ignores("src/build", true)).toBe(false)
    expect(m.ignores("docs/a.md", false)).toBe(true)
    expect(m.ignores("docs/sub/a.md", false)).toBe(false)
    expect(m.ignores("x/docs/a.md", false)).toBe(false)
  })

  it("matches directories only with a trailing slash, and everything inside them", () => {
    const m = gitignore(["__pycache__/"])
    expect(m.ignores("__pycache__", true)).toBe(true)
    expect(m.ignores("__pycache__", false)).toBe(false)
    expect(m.ignores("lib/__pycache__/x.pyc", false)).toBe(true)
  })

  it("re-includes with '!', but not inside an ignored directory", () => {
    const m = gitignore(["*.log", "!keep.log", "out/", "!out/keep.txt"])
    expect(m.ignores("a.log", false)).toBe(true)
    expect(m.ignores("keep.log", false)).toBe(false)
    expect(m.ignores("x/keep.log", false)).toBe(false)
    expect(m.ignores("out/keep.txt", false)).toBe(true)
  })

  it("handles ** forms, ? and classes", () => {
    const m = gitignore(["**/tmp", "a/**/z", "logs/**", "f?.txt", "[abc]*.bin", "[!x]y"])
    expect(m.ignores("tmp", true)).toBe(true)
    expect(m.ignores("q/r/tmp", false)).toBe(true)
    expect(m.ignores("a/z", false)).toBe(true)
    expect(m.ignores("a/b/c/z", false)).toBe(true)
    expect(m.ignores("logs", true)).toBe(false)
    expect(m.ignores("logs/x/y", false)).toBe(true)
    expect(m.ignores("f1.txt", false)).toBe(true)
    expect(m.ignores("f12.txt", false)).toBe(false)
    expect(m.ignores("b-data.bin", false)).toBe(true)
    expect(m.ignores("d-data.bin", false)).toBe(false)
    expect(m.ignores("ay", false)).toBe(true)
    expect(m.ignores("xy", false)).toBe(false)
  })

  it("skips comments and blank lines, honours escapes and trailing spaces", () => {
    const m = gitignore("# comment\n\n\\#hash\n\\!bang\nspace\\ \ntrail   \n")
    expect(m.ignores("# comment", false)).toBe(false)
    expect(m.ignores("#hash", false)).toBe(true)
    expect(m.ignores("!bang", false)).toBe(true)
    expect(m.ignores("space ", false)).toBe(true)
    expect(m.ignores("trail", false)).toBe(true)
  })

  it("a literal name pattern matches exactly that name at any depth", () => {
    const name = fc.stringMatching(/^[a-z0-9_.-]{1,8}$/).filter((s) => s !== "." && s !== "..")
    fc.assert(
      fc.property(name, fc.array(name, { maxLength: 3 }), name, (target, dirs, other) => {
        const m = gitignore([target])
        const at = [...dirs, target].join("/")
        expect(m.ignores(at, false)).toBe(true)
        if (other !== target && !dirs.includes(target))
          expect(m.ignores([...dirs, other].join("/"), false)).toBe(false)
      }),
    )
  })

  it("'*' ignores every path; no pattern ignores none", () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z.]{1,5}$/), { minLength: 1, maxLength: 4 }), (parts) => {
        const p = parts.join("/")
        expect(gitignore(["*"]).ignores(p, false)).toBe(true)
        expect(gitignore([]).ignores(p, false)).toBe(false)
      }),
    )
  })
})

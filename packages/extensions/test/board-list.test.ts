import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { namesSeveralBoards, parseConnectionString, splitBoardList } from "../src/index.js"

describe("splitBoardList: a list of boards as one string", () => {
  it("cuts at commas and trims each entry", () => {
    expect(splitBoardList("a0, a1 ,virtual?name=b")).toEqual(["a0", "a1", "virtual?name=b"])
    expect(splitBoardList("tcp:127.0.0.1:2323")).toEqual(["tcp:127.0.0.1:2323"])
  })

  it("keeps a usb: selector's fields together, and a new usb: selector apart", () => {
    expect(splitBoardList("usb:vid=2e8a,pid=0005,serial=E66,a0")).toEqual([
      "usb:vid=2e8a,pid=0005,serial=E66",
      "a0",
    ])
    expect(splitBoardList("usb:vid=2e8a,usb:vid=303a,Location=1-1.4")).toEqual([
      "usb:vid=2e8a",
      "usb:vid=303a,Location=1-1.4",
    ])
    // A field name after something else than usb: is an entry of its own (then refused as a board).
    expect(splitBoardList("a0,pid=0005")).toEqual(["a0", "pid=0005"])
  })

  it("does not cut inside quotes (an exec: command with a comma in it)", () => {
    expect(splitBoardList(`exec:python3 -c "print(1,2)",a0`)).toEqual([`exec:python3 -c "print(1,2)"`, "a0"])
  })

  it("keeps empty entries, for the pool to refuse", () => {
    expect(splitBoardList("a0,,a1,")).toEqual(["a0", "", "a1", ""])
  })

  it("gives back any list of plain entries joined with commas", () => {
    const entry = fc
      .string({ minLength: 1, maxLength: 12 })
      .map((s) => s.replace(/[,'"\s]/g, "x"))
      .filter((s) => !/^(vid|pid|serial|manufacturer|location)=/i.test(s) && !/^usb:/i.test(s))
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 8 }), (entries) => {
        expect(splitBoardList(entries.join(","))).toEqual(entries)
      }),
    )
  })
})

describe("namesSeveralBoards: one board or a pool", () => {
  it("a list of two or more, or auto-all, is a pool", () => {
    expect(namesSeveralBoards("a0,a1")).toBe(true)
    expect(namesSeveralBoards("virtual,tcp:127.0.0.1:2")).toBe(true)
    expect(namesSeveralBoards("auto-all")).toBe(true)
    expect(namesSeveralBoards("auto-all?baud=9600")).toBe(true)
  })

  it("one board, and a lone usb: selector (whose commas are its own), are not", () => {
    expect(namesSeveralBoards("virtual")).toBe(false)
    expect(namesSeveralBoards("auto")).toBe(false)
    expect(namesSeveralBoards("usb:vid=2e8a,pid=0005")).toBe(false)
    expect(namesSeveralBoards("auto-allx")).toBe(false)
  })

  it("a string that starts with exec: is one board, its commas its command's; after another entry it joins a list", () => {
    expect(namesSeveralBoards("exec:tool --ports a,b")).toBe(false)
    expect(namesSeveralBoards("exec-pty:ssh pi a,b")).toBe(false)
    expect(namesSeveralBoards("a0,exec:micropython")).toBe(true)
  })
})

describe("connection strings and pools", () => {
  it("a list or auto-all given as one board is refused, saying to open a pool", () => {
    for (const input of ["a0,a1", "auto-all", "virtual,virtual?name=b"]) {
      const result = parseConnectionString(input)
      expect(Result.isFailure(result)).toBe(true)
      if (Result.isFailure(result)) expect(result.failure.message).toContain("names several boards")
    }
  })

  it("an exec: command with commas is still one board", () => {
    const result = Result.getOrThrow(parseConnectionString("exec:tool --ports a,b"))
    expect(result).toMatchObject({ _tag: "Exec", command: "tool", args: ["--ports", "a,b"] })
  })

  it("virtual?name= names a virtual board of its own; a bad name is refused", () => {
    expect(Result.getOrThrow(parseConnectionString("virtual?name=bench-1"))).toMatchObject({
      _tag: "Virtual",
      name: "bench-1",
    })
    expect(Result.getOrThrow(parseConnectionString("virtual"))).not.toHaveProperty("name")
    const bad = parseConnectionString("virtual?name=a/b")
    expect(Result.isFailure(bad) && bad.failure.reason).toContain("name must be")
  })
})

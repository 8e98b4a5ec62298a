/**
 * Which boards a pool's list names, and what it refuses, on made-up serial ports: every board's
 * stack is a scripted fake board (`layer`), so nothing real is opened.
 */
import { DeviceSessionManager } from "@belay/core"
import { BoardLink, DeviceCommunication, LinkOpenError } from "@belay/transport"
import type { SerialPortInfo } from "@belay/transport/serial"
import { makeFakeBoard } from "@belay/transport/testing"
import { Effect, Exit, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { type BoardPoolOptions, makeBoardPool, type PlannedBoard } from "../src/index.js"

const PORTS: ReadonlyArray<SerialPortInfo> = [
  { path: "/dev/ttyACM0", vendorId: "2e8a", productId: "0005", serialNumber: "E1", likelyMicroPython: true },
  { path: "/dev/ttyACM1", vendorId: "2e8a", productId: "0005", serialNumber: "E2", likelyMicroPython: true },
  { path: "/dev/ttyUSB0", vendorId: "10c4", productId: "ea60", likelyMicroPython: true },
  { path: "/dev/ttyS0", likelyMicroPython: false },
]

/** A fake board per planned board; `fails` lists the keys whose link does not open. */
const fakeStack =
  (fails: ReadonlyArray<string> = []) =>
  (board: PlannedBoard) =>
    DeviceSessionManager.layer().pipe(
      Layer.provideMerge(DeviceCommunication.layer()),
      Layer.provideMerge(
        BoardLink.layer(
          fails.includes(board.key)
            ? Effect.fail(new LinkOpenError({ link: board.device, reason: "no such port" }))
            : Effect.map(makeFakeBoard({ run: () => ({ stdout: board.key }) }), (fake) => ({
                ...fake.link,
                description: `fake ${board.device}`,
              })),
        ),
      ),
    )

const open = (options: Omit<BoardPoolOptions, "layer" | "listPorts">, fails: ReadonlyArray<string> = []) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.map(
        makeBoardPool({ listPorts: Effect.succeed(PORTS), layer: fakeStack(fails), ...options }),
        (pool) => ({
          keys: pool.keys,
          boards: pool.boards.map((b) => ({
            key: b.key,
            device: b.device,
            selector: b.selector,
            link: b.link,
          })),
          failed: pool.failed.map((f) => ({ key: f.key, tag: (f.cause as { _tag: string })._tag })),
        }),
      ),
    ).pipe(Effect.exit),
  )

const failureOf = async (options: Omit<BoardPoolOptions, "layer" | "listPorts">) => {
  const exit = await open(options)
  if (Exit.isSuccess(exit)) throw new Error(`the pool opened: ${JSON.stringify(exit.value)}`)
  return exit.cause.reasons.flatMap((r) =>
    r._tag === "Fail" ? [r.error as { _tag: string; message: string }] : [],
  )[0]
}

describe("a pool's list of boards", () => {
  it("keys each board by its entry as given, in order", async () => {
    const exit = await open({ boards: " a0, tcp:127.0.0.1:2323 ,virtual?name=x" })
    expect(Exit.isSuccess(exit) && exit.value).toEqual({
      keys: ["a0", "tcp:127.0.0.1:2323", "virtual?name=x"],
      boards: [
        { key: "a0", device: "a0", selector: "a0", link: "fake a0" },
        {
          key: "tcp:127.0.0.1:2323",
          device: "tcp:127.0.0.1:2323",
          selector: "tcp:127.0.0.1:2323",
          link: "fake tcp:127.0.0.1:2323",
        },
        {
          key: "virtual?name=x",
          device: "virtual?name=x",
          selector: "virtual?name=x",
          link: "fake virtual?name=x",
        },
      ],
      failed: [],
    })
  })

  it("auto-all is every port that looks like MicroPython, keyed by path, with its serial options", async () => {
    const exit = await open({ boards: "auto-all?baud=9600" })
    expect(Exit.isSuccess(exit) && exit.value.boards).toEqual([
      {
        key: "/dev/ttyACM0",
        device: "serial:/dev/ttyACM0?baud=9600",
        selector: "auto-all?baud=9600",
        link: "fake serial:/dev/ttyACM0?baud=9600",
      },
      {
        key: "/dev/ttyACM1",
        device: "serial:/dev/ttyACM1?baud=9600",
        selector: "auto-all?baud=9600",
        link: "fake serial:/dev/ttyACM1?baud=9600",
      },
      {
        key: "/dev/ttyUSB0",
        device: "serial:/dev/ttyUSB0?baud=9600",
        selector: "auto-all?baud=9600",
        link: "fake serial:/dev/ttyUSB0?baud=9600",
      },
    ])
  })

  it("usb: in a pool is every port it matches (several is no error); id: is one board under its own key", async () => {
    const exit = await open({ boards: "usb:vid=2e8a,pid=0005,id:E3,tcp:127.0.0.1:9" })
    expect(Exit.isSuccess(exit) && exit.value).toEqual({
      keys: ["/dev/ttyACM0", "/dev/ttyACM1", "id:E3", "tcp:127.0.0.1:9"],
      boards: [
        expect.objectContaining({ key: "/dev/ttyACM0", selector: "usb:vid=2e8a,pid=0005" }),
        expect.objectContaining({ key: "/dev/ttyACM1", selector: "usb:vid=2e8a,pid=0005" }),
        expect.objectContaining({ key: "tcp:127.0.0.1:9" }),
      ],
      // No port has the serial number E3: that entry's board is unavailable, the others open.
      failed: [{ key: "id:E3", tag: "SerialPortMatchError" }],
    })
    const one = await open({ boards: "id:e2,auto?baud=9600" })
    expect(Exit.isSuccess(one) && one.value.boards).toEqual([
      {
        key: "id:e2",
        device: "serial:/dev/ttyACM1?baud=115200",
        selector: "id:e2",
        link: "fake serial:/dev/ttyACM1?baud=115200",
      },
      {
        key: "auto?baud=9600",
        device: "serial:/dev/ttyACM0?baud=9600",
        selector: "auto?baud=9600",
        link: "fake serial:/dev/ttyACM0?baud=9600",
      },
    ])
  })

  it("a selector that finds nothing, or a port list that fails, is that entry's failure", async () => {
    const none = await open({ boards: "usb:vid=dead,a0" })
    expect(Exit.isSuccess(none) && none.value.failed).toEqual([
      { key: "usb:vid=dead", tag: "SerialPortMatchError" },
    ])
    const unlisted = await Effect.runPromise(
      Effect.scoped(
        Effect.map(
          makeBoardPool({
            boards: "auto-all,virtual?name=b",
            layer: fakeStack(),
            listPorts: Effect.fail(
              new LinkOpenError({ link: "serial ports", reason: "serialport is not installed" }),
            ),
          }),
          (pool) => ({ keys: pool.keys, failed: pool.failed.map((f) => [f.key, f.message]) }),
        ),
      ),
    )
    expect(unlisted).toEqual({
      keys: ["auto-all", "virtual?name=b"],
      failed: [["auto-all", expect.stringContaining("serialport is not installed")]],
    })
  })

  it("requireAll: one board that does not open fails the pool; without it the pool opens with the others", async () => {
    const lenient = await open({ boards: "a0,a1,a2" }, ["a1"])
    expect(Exit.isSuccess(lenient) && lenient.value).toMatchObject({
      keys: ["a0", "a1", "a2"],
      failed: [{ key: "a1", tag: "LinkOpenError" }],
    })
    const strict = await open({ boards: "a0,a1,a2", requireAll: true }, ["a1"])
    expect(Exit.isFailure(strict)).toBe(true)
    const error = Exit.isFailure(strict)
      ? (strict.cause.reasons[0] as { error: { _tag: string; opened: unknown; message: string } }).error
      : undefined
    expect(error).toMatchObject({ _tag: "BoardPoolOpenError", opened: ["a0", "a2"] })
    expect(error?.message).toContain("1 of 3 boards did not open (requireAll): a1: cannot open")
    // No board at all: the pool does not open, requireAll or not.
    const nothing = await open({ boards: "a0,a1" }, ["a0", "a1"])
    expect(Exit.isFailure(nothing)).toBe(true)
  })
})

describe("what a pool refuses before opening anything", () => {
  it("the same key twice, with the way to list two virtual boards", async () => {
    const error = await failureOf({ boards: "virtual,virtual" })
    expect(error?._tag).toBe("DuplicateBoardError")
    expect(error?.message).toContain("virtual?name=a,virtual?name=b")
  })

  it("two entries that reach one board: a port by two names, a port a selector also found, one kept virtual board", async () => {
    expect(await failureOf({ boards: "a0,/dev/ttyACM0" })).toMatchObject({
      _tag: "DuplicateBoardError",
      key: "/dev/ttyACM0",
      sameAs: "a0",
      board: "serial port /dev/ttyACM0",
    })
    expect(await failureOf({ boards: "auto-all,u0" })).toMatchObject({
      _tag: "DuplicateBoardError",
      key: "u0",
    })
    expect(await failureOf({ boards: "tcp:h:1,rfc2217:h:1" })).toMatchObject({ _tag: "DuplicateBoardError" })
    expect(
      await failureOf({
        boards: "virtual,virtual?rawPaste=false",
        keepVirtual: true,
        virtualDir: "/tmp/flash",
      }),
    ).toMatchObject({ _tag: "DuplicateBoardError", board: "kept virtual board on /tmp/flash" })
    expect(await failureOf({ boards: "virtual?dir=/tmp/f,virtual?dir=/tmp/f&name=b" })).toMatchObject({
      _tag: "DuplicateBoardError",
    })
  })

  it("boards of their own are not duplicates: in-process virtual boards in memory, named kept ones, processes", async () => {
    const exit = await open({ boards: "virtual,virtual?rawPaste=false,exec:a,exec:b" })
    expect(Exit.isSuccess(exit) && exit.value.keys).toHaveLength(4)
    const kept = await open({ boards: "virtual,virtual?name=b", keepVirtual: true, virtualDir: "/tmp/flash" })
    expect(Exit.isSuccess(kept)).toBe(true)
  })

  it("an empty list or entry, a bad entry, a bad concurrency", async () => {
    expect(await failureOf({ boards: "" })).toMatchObject({ _tag: "BoardListError" })
    expect(await failureOf({ boards: [] })).toMatchObject({ _tag: "BoardListError" })
    expect(await failureOf({ boards: "a0,,a1" })).toMatchObject({ _tag: "BoardListError" })
    expect(await failureOf({ boards: "a0,nonsense:x" })).toMatchObject({
      _tag: "ConnectionStringError",
      input: "nonsense:x",
    })
    expect(await failureOf({ boards: "a0", concurrency: 0 })).toMatchObject({
      _tag: "BoardPoolOptionError",
      option: "concurrency",
    })
    expect(await failureOf({ boards: "a0", openTimeout: 0 })).toMatchObject({ _tag: "BoardPoolOptionError" })
  })
})

/**
 * The device a command line names, read from its words alone: no parser, no imports, so the
 * bundle's entry can read it before anything else loads (to start the virtual board's interpreter
 * early) and a chain can find its one device (`Chain.ts`).
 */

/**
 * The last `--device X`, `-d X` or `--device=X` in `argv`, or undefined when there is none.
 *
 * @example
 * lastDeviceArgument(["exec", "x=1", "-d", "a0", "+", "eval", "x"]) // "a0"
 * lastDeviceArgument(["ls"]) // undefined
 */
export const lastDeviceArgument = (argv: ReadonlyArray<string>): string | undefined => {
  let device: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if ((arg === "--device" || arg === "-d") && i + 1 < argv.length) device = argv[i + 1]
    else if (arg.startsWith("--device=")) device = arg.slice("--device=".length)
  }
  return device
}

/** Commands that never open the device, whatever it is. */
// `fleet`: its runner opens the boards its `--device` names itself, a list included; its other
// commands reach boards through the fleet.
const WITHOUT_BOARD = new Set(["ports", "qemu", "virtual", "fleet"])

/** `keep=false` (or 0, no, off) in a connection string's query. */
const KEEP_OFF = /[?&]keep=(?:false|0|no|off)(?:&|$)/

/**
 * Whether `argv` will run the virtual board in this process: its device (the last one given, else
 * `BELAY_DEVICE`) is a `virtual` connection string with `keep=false`. Without it, the command
 * uses the kept virtual board (the CLI's default), a process of its own that is already running or
 * that the command starts; so does `demo` with no device given or set. A device from the config
 * file is not read here: that command just starts its interpreter when it connects, as without this.
 *
 * @example
 * opensInProcessVirtualBoard(["exec", "pass", "--device", "virtual?keep=false"], {}) // true
 * opensInProcessVirtualBoard(["exec", "pass", "--device", "virtual"], {}) // false: the kept board
 */
export const opensInProcessVirtualBoard = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): boolean => {
  const command = argv.find((a) => !a.startsWith("-"))
  if (command === undefined || WITHOUT_BOARD.has(command) || argv.includes("--help") || argv.includes("-h"))
    return false
  const device = lastDeviceArgument(argv) ?? (env.BELAY_DEVICE || undefined)
  if (device === undefined) return false
  const virtual = device === "virtual" || device.startsWith("virtual?") || device.startsWith("virtual:")
  return virtual && KEEP_OFF.test(device)
}

/**
 * The command a line runs (its first word that is not a flag, the device flags' values skipped),
 * and its subcommand when it is `fs`'s (`fs edit`): `{ name, operands }`.
 *
 * @example
 * commandWords(["-d", "a0", "fs", "get", "x.txt", "."]) // { name: "get", operands: ["x.txt", "."] }
 */
export const commandWords = (
  line: ReadonlyArray<string>,
): { readonly name: string | undefined; readonly operands: Array<string> } => {
  const words: Array<string> = []
  for (let i = 0; i < line.length; i++) {
    const word = line[i] as string
    if (word === "--device" || word === "-d") i++
    else if (!word.startsWith("-")) words.push(word)
  }
  const [first, ...rest] = words
  if (first === "fs") {
    const [sub, ...operands] = rest
    return { name: sub, operands }
  }
  return { name: first, operands: rest }
}

/**
 * Whether a chain talks to a board: some line runs a command other than those that never do
 * (`ports`, `qemu`, `virtual`, `sleep`).
 *
 * @example
 * talksToBoard([["sleep", "1"], ["exec", "pass"]]) // true
 */
export const talksToBoard = (lines: ReadonlyArray<ReadonlyArray<string>>): boolean =>
  lines.some((line) => {
    const first = line.find(
      (w, i) => !w.startsWith("-") && line[i - 1] !== "--device" && line[i - 1] !== "-d",
    )
    return first !== undefined && !WITHOUT_BOARD.has(first) && first !== "sleep"
  })

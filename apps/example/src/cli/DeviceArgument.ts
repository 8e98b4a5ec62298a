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
const WITHOUT_BOARD = new Set(["ports", "qemu"])

/**
 * Whether `argv` will open the virtual board: its device (the last one given, else
 * `BELAY_DEVICE`) is a `virtual` connection string, or it is `demo` with no device given or set
 * (the tour's own default). A device from the config file is not read here: that command just
 * starts its interpreter when it connects, as without this.
 *
 * @example
 * opensVirtualBoard(["exec", "pass", "--device", "virtual"], {}) // true
 * opensVirtualBoard(["ports"], { BELAY_DEVICE: "virtual" }) // false
 */
export const opensVirtualBoard = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): boolean => {
  const command = argv.find((a) => !a.startsWith("-"))
  if (command === undefined || WITHOUT_BOARD.has(command) || argv.includes("--help") || argv.includes("-h"))
    return false
  const device = lastDeviceArgument(argv) ?? (env.BELAY_DEVICE || undefined)
  if (device === undefined) return command === "demo"
  return device === "virtual" || device.startsWith("virtual?") || device.startsWith("virtual:")
}

/**
 * How the engine recognises a board's reset in what it reads: the banners of a soft reboot and of
 * a boot, whole or damaged on the link (within one fault's edits of their ending).
 */
/**
 * The line CircuitPython prints when its code.py is done (after a boot, a reset or a reload) and
 * it waits for a key before it enters the REPL (Ctrl-D there reloads instead).
 */
export const PRESS_ANY_KEY = /Press any key to enter the REPL\. Use CTRL-D to reload\.\r*\n/

// A reset seen in the middle of output: a soft reboot back to the raw prompt, a boot banner
// followed by the friendly prompt, or CircuitPython waiting for a key after its code.py ran.
export const RESET_IN_OUTPUT = [
  /soft reboot\r*\n[\s\S]*raw REPL; CTRL-B to exit\r*\n>$/,
  /MicroPython v[^\r\n]*\r*\nType "help\(\)" for more information\.\r*\n>>> $/,
  /Code done running\.\r*\n[\s\S]*Press any key to enter the REPL\. Use CTRL-D to reload\.\r*\n$/,
]

/**
 * How the boot banners end, for a reset whose banner arrived damaged (a byte dropped, repeated or
 * changed on the link): the raw prompt after a soft reset, the friendly prompt after a hard one.
 */
const DAMAGED_RESET_ENDINGS = [
  { kind: "soft", ending: "raw REPL; CTRL-B to exit\r\n>" },
  { kind: "hard", ending: 'Type "help()" for more information.\r\n>>> ' },
  { kind: "hard", ending: "Press any key to enter the REPL. Use CTRL-D to reload.\r\n" },
] as const
/** Edits (bytes dropped, inserted or changed) a damaged banner ending may differ by: one fault's. */
const DAMAGED_RESET_EDITS = 4

/**
 * The fewest edits that turn some suffix of `text` into `ending` (an approximate match anchored
 * at the end of `text`). Looks no further back once no longer suffix can come within `limit`.
 * @internal
 */
export const suffixDistance = (text: string, ending: string, limit: number): number => {
  const m = ending.length
  const n = Math.min(text.length, m + limit)
  // row[i]: edits between the last i characters of `ending` and the last j characters of `text`.
  let row = Array.from({ length: m + 1 }, (_, i) => i)
  let best = row[m]!
  for (let j = 1; j <= n; j++) {
    const c = text.charCodeAt(text.length - j)
    const next = [j]
    let low = j
    for (let i = 1; i <= m; i++) {
      const same = ending.charCodeAt(m - i) === c ? 0 : 1
      const d = Math.min(row[i]! + 1, next[i - 1]! + 1, row[i - 1]! + same)
      next.push(d)
      if (d < low) low = d
    }
    row = next
    if (row[m]! < best) best = row[m]!
    if (low > limit) break
  }
  return best
}

/**
 * The kind of reset whose banner `text` ends with, damaged: within {@link DAMAGED_RESET_EDITS}
 * edits of a banner's ending, or undefined.
 * @internal
 */
export const damagedResetBanner = (text: string): "soft" | "hard" | undefined =>
  DAMAGED_RESET_ENDINGS.find(
    (r) => suffixDistance(text, r.ending, DAMAGED_RESET_EDITS) <= DAMAGED_RESET_EDITS,
  )?.kind

export const RESET_AFTER_OUTPUT = [
  /soft reboot\r*\n[\s\S]*?raw REPL; CTRL-B to exit\r*\n>/,
  /MicroPython v[^\r\n]*\r*\nType "help\(\)" for more information\.\r*\n>>> /,
  /Press any key to enter the REPL\. Use CTRL-D to reload\.\r*\n/,
]

/**
 * A list of boards as one string (`a0,a1,virtual?name=b`): cut into entries. Pure and without
 * imports, so that a command line can ask whether its device names several boards at no cost.
 */

/**
 * The selector of every serial port that looks like a MicroPython board (the `auto` choice, all
 * of them), with the serial options after it if any (`auto-all?baud=115200`).
 *
 * @example
 * splitBoardList("auto-all").includes(AUTO_ALL) // true
 * @since 0.1.0
 */
export const AUTO_ALL = "auto-all"

/** The fields of a `usb:` selector: a list entry that starts with one belongs to the `usb:` before it. */
const USB_FIELD = /^(vid|pid|serial|manufacturer|location)=/i

/**
 * The entries of a list of boards: cut at each comma outside quotes, each trimmed. The commas of a
 * `usb:` selector (`usb:vid=2e8a,pid=0005`) stay inside it: an entry that starts with one of its
 * fields (`pid=`, `serial=`, ...) continues the `usb:` entry before it. Empty entries are kept,
 * for the caller to refuse.
 *
 * @example
 * splitBoardList("a0, usb:vid=2e8a,pid=0005 ,virtual?name=b") // ["a0", "usb:vid=2e8a,pid=0005", "virtual?name=b"]
 * @since 0.1.0
 */
export const splitBoardList = (text: string): Array<string> => {
  const parts: Array<string> = []
  let current = ""
  let quote: string | undefined
  for (const c of text) {
    if (quote !== undefined) {
      if (c === quote) quote = undefined
    } else if (c === "'" || c === '"') quote = c
    else if (c === ",") {
      parts.push(current)
      current = ""
      continue
    }
    current += c
  }
  parts.push(current)
  const entries: Array<string> = []
  for (const raw of parts) {
    const part = raw.trim()
    const previous = entries.at(-1)
    if (previous !== undefined && /^usb:/i.test(previous) && USB_FIELD.test(part))
      entries[entries.length - 1] = `${previous},${part}`
    else entries.push(part)
  }
  return entries
}

/**
 * Whether a list entry is a selector that stands for every board it finds (`auto-all`), rather
 * than for one board.
 *
 * @example
 * isPoolSelector("auto-all?baud=115200") // true
 * isPoolSelector("auto") // false
 * @since 0.1.0
 */
export const isPoolSelector = (entry: string): boolean =>
  entry === AUTO_ALL || entry.startsWith(`${AUTO_ALL}?`)

/**
 * Whether a device string names a pool of boards rather than one: a list of more than one entry,
 * or `auto-all`. A lone `usb:` selector is one board (several matching ports are an error there,
 * as before); in a list it stands for every port it matches. A string that starts with `exec:` or
 * `exec-pty:` is one board whatever its commas (they are its command's); a process board joins a
 * list after another entry (`a0,exec:micropython`), its own commas quoted.
 *
 * @example
 * namesSeveralBoards("a0,a1") // true
 * namesSeveralBoards("usb:vid=2e8a,pid=0005") // false
 * namesSeveralBoards("exec:tool --ports a,b") // false
 * @since 0.1.0
 */
export const namesSeveralBoards = (text: string): boolean => {
  if (!text.includes(",") && !text.trim().startsWith(AUTO_ALL)) return false
  if (/^\s*exec(-pty)?:/.test(text)) return false
  const entries = splitBoardList(text)
  return entries.length > 1 || entries.some(isPoolSelector)
}

/**
 * The port the firmware's WebREPL listens on.
 *
 * @example
 * `ws://192.168.4.1:${WEBREPL_DEFAULT_PORT}`
 * @since 0.1.0
 */
export const WEBREPL_DEFAULT_PORT = 8266

/**
 * Where a `ws://`/`wss://` URL goes, for messages and for connecting: the query (where a
 * `?password=` may sit) and any user info are dropped, the firmware's port filled in.
 *
 * @example
 * webReplTarget("ws://192.168.4.1") // { url: "ws://192.168.4.1:8266/", description: "ws://192.168.4.1:8266" }
 * @since 0.1.0
 */
export const webReplTarget = (text: string): { readonly url: string; readonly description: string } => {
  let parsed: URL
  try {
    parsed = new URL(text)
  } catch {
    throw new Error("not a ws:// or wss:// URL")
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:")
    throw new Error(`not a ws:// or wss:// URL (${parsed.protocol})`)
  if (parsed.hostname === "") throw new Error("the URL has no host")
  const port =
    parsed.port !== "" ? parsed.port : parsed.protocol === "ws:" ? String(WEBREPL_DEFAULT_PORT) : "443"
  const path = parsed.pathname === "" ? "/" : parsed.pathname
  const base = `${parsed.protocol}//${parsed.hostname}:${port}`
  return { url: `${base}${path}`, description: path === "/" ? base : `${base}${path}` }
}

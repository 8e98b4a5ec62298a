/**
 * `@belay/transport`: byte links to MicroPython boards and the raw REPL protocol engine.
 *
 * The public API, grouped by concept. Helpers that the other packages of this repository share
 * with the transport (checked-request builders, the resend policy, child-process tracking) are
 * at `@belay/transport/internal` and may change in any release; serial ports are at
 * `@belay/transport/serial`, the scripted board and the fault injector at `@belay/transport/testing`.
 *
 * This is the Node entry (`@belay/transport/node`, and `@belay/transport` in Node). The browser
 * entry (`@belay/transport/browser`, and `@belay/transport` elsewhere) has all of it but the links
 * that need Node (processes, TCP, RFC 2217); its links are `@belay/transport/web-serial` and
 * `@belay/transport/webrepl-browser`.
 *
 * @since 0.1.0
 */

export * from "./browser.js"
// ---- Links that need Node ----
// A process's standard streams as a link.
export { openProcessLink, type ProcessLink, type ProcessLinkOptions } from "./ProcessLink.js"
export { PtyUnavailableError } from "./Pseudoterminal.js"
// A board's serial line over TCP: a raw byte stream, or telnet with RFC 2217's COM-PORT-OPTION.
export { openRfc2217Link, type Rfc2217LinkOptions } from "./rfc2217/Rfc2217Link.js"
export { openTcpLink, type TcpLinkOptions } from "./tcp/TcpLink.js"

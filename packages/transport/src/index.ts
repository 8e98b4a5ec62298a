export * from "./ByteLink.js"
export * from "./errors.js"

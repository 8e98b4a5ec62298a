export * from "./qemu.js"

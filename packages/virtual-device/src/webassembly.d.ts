// @types/node 20 does not declare the WebAssembly namespace (lib "dom" would); this is the part
// the virtual board uses.
export {}

declare global {
  namespace WebAssembly {
    interface Module {}
    interface Memory {
      readonly buffer: SharedArrayBuffer | ArrayBuffer
      grow(deltaPages: number): number
    }
    interface Instance {
      readonly exports: Record<string, unknown>
    }
    type Imports = Record<string, Record<string, unknown>>
    const Memory: {
      prototype: Memory
      new (descriptor: { initial: number; maximum?: number; shared?: boolean }): Memory
    }
    function compile(bytes: Uint8Array): Promise<Module>
    function instantiate(module: Module, imports?: Imports): Promise<Instance>
  }
}

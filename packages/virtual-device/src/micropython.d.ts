// The npm package ships no types; this is the part of its API the worker uses.
declare module "@micropython/micropython-webassembly-pyscript" {
  export interface EmscriptenFS {
    mkdir(path: string): void
    writeFile(path: string, data: Uint8Array | string): void
    readFile(path: string): Uint8Array
    readdir(path: string): string[]
    stat(path: string): { mode: number; size: number }
    isDir(mode: number): boolean
  }

  export interface EmscriptenModule {
    _malloc(size: number): number
    _free(ptr: number): void
    _mp_sched_keyboard_interrupt(): void
    ccall(name: string, returnType: string | null, argTypes: string[], args: unknown[]): number
  }

  export interface MicroPython {
    readonly _module: EmscriptenModule
    readonly FS: EmscriptenFS
    runPython(code: string): unknown
    /** Make a JavaScript object importable from Python under `name` (its functions callable). */
    registerJsModule(name: string, module: object): void
  }

  export interface LoadOptions {
    heapsize?: number
    pystack?: number
    url?: string
    linebuffer?: boolean
    stdin?: () => number | null | undefined
    stdout?: (bytes: Uint8Array) => void
    stderr?: (bytes: Uint8Array) => void
  }

  export function loadMicroPython(options?: LoadOptions): Promise<MicroPython>
}

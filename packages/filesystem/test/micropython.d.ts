declare module "@micropython/micropython-webassembly-pyscript" {
  export interface MicroPython {
    runPython(code: string): unknown
  }
  export function loadMicroPython(options: {
    heapsize?: number
    pystack?: number
    linebuffer?: boolean
    stdout?: (data: Uint8Array | string) => void
    stderr?: (data: Uint8Array | string) => void
  }): Promise<MicroPython>
}

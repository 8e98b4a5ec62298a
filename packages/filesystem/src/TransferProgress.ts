/**
 * Progress of one file's transfer, reported after each exchange (uploads) or each piece the
 * board prints (downloads).
 *
 * @example
 * fs.write("/data.bin", bytes, { onProgress: (p) => console.log(`${p.bytesDone}/${p.bytesTotal}`) })
 *
 * @since 0.1.0
 */
export interface TransferProgress {
  readonly operation: "write" | "append" | "read"
  readonly path: string
  readonly bytesDone: number
  readonly bytesTotal: number
}

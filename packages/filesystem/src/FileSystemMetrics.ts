import { Metric } from "effect"

/**
 * Process-wide metrics of board file transfers.
 *
 * @example
 * const uploaded = yield* Metric.value(FileSystemMetrics.bytesUploaded)
 *
 * @since 0.1.0
 */
export const FileSystemMetrics = {
  bytesUploaded: Metric.counter("belay.fs.bytes_uploaded", { description: "file bytes written to boards" }),
  bytesDownloaded: Metric.counter("belay.fs.bytes_downloaded", {
    description: "file bytes read from boards",
  }),
  operations: Metric.counter("belay.fs.operations", { description: "file operations, by kind and outcome" }),
}

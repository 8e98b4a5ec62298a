/**
 * `@belay/extensions`: Belay composed for applications: one `Layer` for the whole stack,
 * connection strings, options from `Config`, a health check and a Promise facade.
 *
 * @since 0.1.0
 */

// The whole stack as one Layer, and its options.
export { BelayLive, type BelayServices, BelaySessionLive } from "./Belay.js"
export { BelayBoardLive } from "./BelayBoard.js"
export { type BelayOptions, loadBelayOptions, loadSessionOptions } from "./BelayOptions.js"
// The board's clock: read it against the host's, set it from the host's.
export {
  BoardClockError,
  type BoardClockLink,
  type BoardClockOptions,
  type BoardClockReading,
  type ClockSync,
  type ClockZone,
  epochMsOfRtcTuple,
  type RtcTuple,
  readBoardClock,
  readBoardClockOver,
  rtcTupleOf,
  syncTime,
  syncTimeOver,
} from "./BoardClock.js"
// Many boards on one host: a pool, and lists of boards.
export { AUTO_ALL, isPoolSelector, namesSeveralBoards, splitBoardList } from "./BoardList.js"
export { type BoardOptions, loadBoardOptions } from "./BoardOptions.js"
export {
  type BoardEntry,
  BoardListError,
  BoardOpenTimeoutError,
  BoardPool,
  type BoardPoolError,
  BoardPoolMemberError,
  BoardPoolOpenError,
  BoardPoolOptionError,
  type BoardPoolOptions,
  type BoardPoolShape,
  type BoardResults,
  BoardUnavailableError,
  DuplicateBoardError,
  makeBoardPool,
  type PlannedBoard,
  type PoolBoard,
  type PoolCallOptions,
  requireAllBoards,
} from "./BoardPool.js"
// Connection strings: parse one, open the link it names.
export {
  type ConnectionDefaults,
  NoBoardFoundError,
  openConnection,
  protocolDefaultsFor,
  VIRTUAL_DEVICE_PACKAGE,
  VirtualDeviceMissingError,
} from "./Connection.js"
export {
  type Connection,
  ConnectionStringError,
  parseConnectionString,
  splitCommandLine,
} from "./ConnectionString.js"
// Promises, for code that does not use Effect.
export {
  Belay,
  BelayError,
  type BelaySession,
  type ConnectOptions,
  connect,
  type PromiseFileSystem,
} from "./Facade.js"
// Is the board there?
export { checkHealth, type HealthReport } from "./HealthCheck.js"
// How long a round trip takes: measured, and summed up.
export {
  type LatencyMeasurement,
  type LatencyOptions,
  measureLatency,
  measureRoundTrips,
} from "./Latency.js"
export {
  type HistogramBin,
  type LatencyStatistics,
  latencyHistogram,
  latencyStatistics,
  percentile,
  type Samples,
} from "./LatencyStatistics.js"
// A pool of boards for Promise code.
export { BelayPool, type BoardOutcome, type ConnectPoolOptions, connectPool } from "./PoolFacade.js"
// Board objects for Promise code.
export {
  type RemoteMember,
  type RemoteObject,
  type RemoteObjectMembers,
  type RemoteShape,
  type RemoteValue,
  type RunEffect,
  remoteObject,
} from "./RemoteObject.js"

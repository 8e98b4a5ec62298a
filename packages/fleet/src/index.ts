/**
 * `@belay/fleet`: many MicroPython boards on many hosts. Each host runs a fleet runner that serves
 * its boards as Effect Cluster entities; runners and clients meet through PostgreSQL.
 *
 * @since 0.1.0
 */

// Boards as cluster entities: ids, pinning to their runner, the RPCs.
export {
  BoardEntity,
  type BoardId,
  BoardInfo,
  FLEET_FILE_OPERATIONS,
  FLEET_SHARDS_PER_GROUP,
  FLEET_WIRE_PROTOCOL,
  type FleetFileOperation,
  fleetSerialization,
  formatBoardId,
  isFleetName,
  parseBoardId,
  runnerShardGroup,
} from "./BoardEntity.js"
// A board's link lent to one client, for the commands the RPCs do not carry.
export { type FleetLentLink, openLentLink, readTokenLine, tokenLine } from "./BoardLending.js"
// Typed errors.
export {
  FleetBoardCallError,
  FleetBoardGoneError,
  FleetBoardIdError,
  FleetBoardReservedError,
  FleetCallRepeatedError,
  FleetDatabaseError,
  FleetRunnerStartError,
  FleetRunnerUnreachableError,
} from "./errors.js"
// A client: board handles whose calls go through the cluster.
export {
  type FleetBoard,
  type FleetBoardEntry,
  type FleetCallError,
  type FleetCallOptions,
  FleetClient,
  type FleetClientOptions,
  type FleetReservation,
  type FleetRunnerUnreachable,
  type FleetTask,
} from "./FleetClient.js"
// The database: connection, the fleet's tables.
export { type FleetDatabaseOptions, fleetDatabaseLayer, redactUrl } from "./FleetDatabase.js"
// A board's files through the fleet.
export type { FleetFileSystem } from "./FleetFiles.js"
// Reservations: one holder's exclusive use of boards.
export type { FleetBoardReservation, FleetReservationInfo, FleetReserveOptions } from "./FleetReservations.js"
// A runner: one host's boards in the fleet.
export { type FleetBoardSpec, type FleetRunnerOptions, makeFleetRunner } from "./FleetRunner.js"

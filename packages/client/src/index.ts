/**
 * `@tillsync/client`: the device side of Tillsync. A till, tablet or desktop app embeds it around its
 * local SQLite file; `createSyncClient` is the entry point.
 */
export {
  createSyncClient,
  SyncClient,
  CLIENT_VERSION,
  type SyncClientOptions,
  type SyncClientEvents,
  type PairOptions,
  type PairResult,
  type DeviceIdentity,
  type PendingChange,
} from './sync-client.js';
export {
  SyncWorker,
  type SyncWorkerClient,
  type SyncWorkerConfig,
  type SyncWorkerEvents,
  type SyncWorkerOptions,
  type WorkerStatus,
} from './sync-worker.js';
export { pillText, pulledText, formatAge, type PillStatus } from '@tillsync/protocol';
export { systemScheduler, backoffDelay, type Scheduler } from './scheduler.js';
export { silentLogger, type DeviceLogger } from './logger.js';
export { CHANGES_EVENT, readServerEvents, type ServerEvent } from './server-events.js';
export {
  SyncCycle,
  STOPPED_MESSAGE,
  toSummary,
  type SyncSummary,
  type SyncCycleOptions,
  type SyncCycleRequest,
  type SyncProgress,
} from './cycle.js';
export { readStatus, type SyncState, type SyncStatus } from './status.js';
export {
  SyncLog,
  SYNC_LOG_SIZE,
  type SyncLogEntry,
  type SyncMode,
  type SyncOutcome,
  type SyncTrigger,
  type TableRepair,
} from './sync-log.js';
export type { RejectedRow } from './apply-push.js';
export type { ConflictRecord, RowVersion, SetAsideRow } from './conflicts.js';
export type { ConflictRow, LostEdit } from './lost-edits.js';
export {
  HttpTransport,
  normalizeServerUrl,
  type DeviceCallContext,
  type FetchFunction,
  type HttpTransportOptions,
  type Transport,
} from './transport.js';
export { LocalStore, type LocalStoreOptions } from './local-store.js';
export { searchedColumns, searchIndexName, trigramQuery } from './search-index.js';
export {
  AuthError,
  NotPairedError,
  OfflineError,
  PairingConflictError,
  SyncBusyError,
  type AuthErrorCode,
} from './errors.js';
export {
  attachLegacyDatabase,
  detachLegacyDatabase,
  generateAdoptMap,
  withLegacyBridge,
  LegacyBridgeRunner,
  AdoptMapError,
  parseAdoptMap,
  readLegacyStatus,
  type LegacyRefusal,
  type LegacyStatus,
  type AdoptMap,
  type AttachedTable,
  type AttachOptions,
  type AttachResult,
  type GeneratedAdoptFiles,
  type GenerateMapOptions,
  type KeyStrategy,
  type ColumnBinding,
  type Conversion,
  type DetachOptions,
  type DetachResult,
  type LegacyBridgeRunnerOptions,
  type LegacyLocation,
  type TableBinding,
} from './adopt/index.js';

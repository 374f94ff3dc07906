export { startServer, type RunningServer } from './server.js';
export { resolveServerConfig, type RateLimits, type ServerConfig, type ServerOptions } from './config.js';
export type { RateLimit } from './storage/rate-limiter.js';
export { Accounts, type DeviceCaller, type OwnerCaller } from './accounts.js';
export { applyPush, MAX_CLOCK_SKEW_MS, type PushOptions } from './push.js';
export { buildApp } from './http/app.js';
export type { DemoCloudSwitch } from './config.js';
export type { AppContext } from './http/app-context.js';
// The public storage is the server's: the stores and the job store on one engine.
export {
  openServerStorage as openStorage,
  serverStorageOn as storageOn,
  type ServerStorage as Storage,
} from './server-storage.js';
export type { StorageLocation, StorageOptions } from './storage/storage.js';
export type { SqlEngine } from './storage/sql-engine.js';
export { openPgliteEngine } from './storage/postgres/pglite-engine.js';
export { parsePgliteUrl, type PgliteLocation } from './storage/postgres/pglite-url.js';
export type {
  SyncStore,
  TenantSyncStore,
  PushTransaction,
  StoredRow,
  RowWrite,
  ConflictRecord,
  ConflictFilter,
  StoredConflict,
  PullPage,
} from './storage/sync-store.js';
export { rowKey } from './storage/sync-store.js';
export { readStaticFile, type StaticFile } from './http/static-files.js';
export type { AccountStore, DeviceRecord } from './storage/account-store.js';
export { MIN_PASSWORD_LENGTH } from './credentials.js';
export { SqlJobStore, type SqlJobStoreOptions } from './jobs/sql-job-store.js';
export {
  ServerJobs,
  jobTypesFor,
  resolveJobsConfig,
  syncJobTriggers,
  type ServerJobsConfig,
  type ServerJobsOptions,
} from './jobs/server-jobs.js';
export {
  builtinJobTypes,
  categoryProductsUnlink,
  dailySalesId,
  productWebCatalog,
  saleDailySales,
  saleDay,
} from './jobs/builtin-job-types.js';
export { startJobWorker, type JobWorkerOptions, type RunningJobWorker } from './jobs/job-worker.js';
export { OfflineSyncJobs } from './jobs/offline-sync-jobs.js';

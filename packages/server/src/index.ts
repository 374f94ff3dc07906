export { startServer, type RunningServer } from './server.js';
export { resolveServerConfig, type ServerConfig, type ServerOptions } from './config.js';
export { Accounts, type DeviceCaller, type OwnerCaller } from './accounts.js';
export { applyPush, MAX_CLOCK_SKEW_MS, type PushOptions } from './push.js';
export { buildApp, type AppContext } from './http/app.js';
export { openStorage, type Storage, type StorageLocation } from './storage/storage.js';
export type {
  SyncStore,
  TenantSyncStore,
  PushTransaction,
  StoredRow,
  RowWrite,
  ConflictRecord,
  PullPage,
} from './storage/sync-store.js';
export type { AccountStore, DeviceRecord } from './storage/account-store.js';
export { MIN_PASSWORD_LENGTH } from './credentials.js';

import { jobTablesOn } from './jobs/row-changes.js';
import { SqlJobStore, type SqlJobStoreOptions } from './jobs/sql-job-store.js';
import type { SqlEngine } from './storage/sql-engine.js';
import {
  openStorage,
  storageOn,
  type Storage,
  type StorageLocation,
  type StorageOptions,
} from './storage/storage.js';

/**
 * The server's storage with the sync jobs on its engine: what the server, the job workers and the
 * `tillsync` commands open. Storage knows nothing of jobs; the jobs' store is built here, on its engine.
 */
export interface ServerStorage extends Storage {
  /** Sync jobs on the same engine (their target writes are checked against `options.schema`). */
  createJobStore(options: SqlJobStoreOptions): SqlJobStore;
}

/**
 * Opens and migrates the database (see `openStorage`) and adds the job store on its engine.
 *
 * @example
 * const storage = await openServerStorage({ dbPath: './data/cloud.db' });
 * const jobs = storage.createJobStore({ schema: new CompiledSchema(SHOP_SCHEMA) });
 */
export async function openServerStorage(
  location: StorageLocation,
  options: StorageOptions = {},
): Promise<ServerStorage> {
  return withJobStore(await openStorage(location, { ...options, jobTables: jobTablesOn }));
}

/** Migrates the database under `engine` (see `storageOn`) and adds the job store on it. */
export async function serverStorageOn(
  engine: SqlEngine,
  options: StorageOptions = {},
): Promise<ServerStorage> {
  return withJobStore(await storageOn(engine, { ...options, jobTables: jobTablesOn }));
}

/** `storage`, and job stores built on its engine. */
export function withJobStore(storage: Storage): ServerStorage {
  return { ...storage, createJobStore: (options) => new SqlJobStore(storage.engine, options) };
}

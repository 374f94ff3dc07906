import { sql } from 'kysely';
import { SqlAccountStore } from './sql-account-store.js';
import { migrateToLatest, type SqlEngine } from './sql-engine.js';
import { SqlSyncStore, type JobTablesOn } from './sql-sync-store.js';
import { openPgliteEngine } from './postgres/pglite-engine.js';
import { parsePgliteUrl } from './postgres/pglite-url.js';
import { openPostgresEngine } from './postgres/postgres-engine.js';
import { RateLimiter } from './rate-limiter.js';
import { openSqliteEngine } from './sqlite/sqlite-engine.js';
import type { AccountStore } from './account-store.js';
import type { ServedSchemaStore } from './served-schema-store.js';
import { SqlServedSchemaStore } from './sql-served-schema-store.js';
import type { SyncStore } from './sync-store.js';

/**
 * The server's storage: synced rows and accounts, on one engine. The sync jobs build their store on the same
 * engine (`server-storage.ts`): storage knows nothing of jobs.
 */
export interface Storage {
  readonly kind: SqlEngine['kind'];
  /** The engine under the stores, for other stores on the same database (the sync jobs'). */
  readonly engine: SqlEngine;
  readonly sync: SyncStore;
  readonly accounts: AccountStore;
  /** The schema last served, and a start's move to another one (`serve --schema`). */
  readonly servedSchema: ServedSchemaStore;
  /** Rate-limit counters shared by every process on this database. */
  readonly rateLimiter: RateLimiter;
  /** Fails when the database does not answer (the readiness check). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Where the server keeps its data: an embedded SQLite file, or a PostgreSQL database (`postgres://…`, or
 * `pglite:DIR` / `pglite:memory` for PostgreSQL inside this process).
 */
export type StorageLocation = { readonly dbPath: string } | { readonly databaseUrl: string };

/** What a caller passes to {@link openStorage} and {@link storageOn}. */
export interface StorageOptions {
  /** Times tombstones and push answers for their retention. @defaultValue `Date.now` */
  readonly now?: () => number;
}

/** {@link StorageOptions}, and what a write of synced rows changes in the sync jobs' tables. */
export interface StorageWiring extends StorageOptions {
  readonly jobTables: JobTablesOn;
}

/**
 * Opens and migrates the database: the SQLite file at `dbPath` (created if need be), or the PostgreSQL
 * database at `databaseUrl`. Several processes may start on one PostgreSQL at once: the migrator takes a lock.
 * `now` is the clock that times tombstones and push answers for their retention (the server passes its own).
 */
export async function openStorage(location: StorageLocation, wiring: StorageWiring): Promise<Storage> {
  return storageOn(openEngine(location), wiring);
}

/** Migrates the database under `engine` and builds the storage on it; closing the storage closes the engine. */
export async function storageOn(engine: SqlEngine, wiring: StorageWiring): Promise<Storage> {
  try {
    await migrateToLatest(engine);
  } catch (error) {
    await engine.close();
    throw error;
  }
  return {
    kind: engine.kind,
    engine,
    sync: new SqlSyncStore(engine, wiring),
    accounts: new SqlAccountStore(engine),
    servedSchema: new SqlServedSchemaStore(engine),
    rateLimiter: new RateLimiter(engine),
    ping: async () => {
      await sql`select 1`.execute(engine.db);
    },
    close: () => engine.close(),
  };
}

function openEngine(location: StorageLocation): SqlEngine {
  if (!('databaseUrl' in location)) return openSqliteEngine(location.dbPath);
  const pglite = parsePgliteUrl(location.databaseUrl);
  return pglite ? openPgliteEngine(pglite) : openPostgresEngine(location.databaseUrl);
}

import { sql } from 'kysely';
import { SqlAccountStore } from './sql-account-store.js';
import { migrateToLatest, type SqlEngine } from './sql-engine.js';
import { SqlSyncStore } from './sql-sync-store.js';
import { openPostgresEngine } from './postgres.js';
import { openSqliteEngine } from './sqlite.js';
import type { AccountStore } from './account-store.js';
import type { SyncStore } from './sync-store.js';

/** The server's storage: synced rows and accounts, on one engine. */
export interface Storage {
  readonly kind: SqlEngine['kind'];
  readonly sync: SyncStore;
  readonly accounts: AccountStore;
  /** Fails when the database does not answer (the readiness check). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Where the server keeps its data: an embedded SQLite file, or a PostgreSQL database. */
export type StorageLocation = { readonly dbPath: string } | { readonly databaseUrl: string };

/**
 * Opens and migrates the database: the SQLite file at `dbPath` (created if need be), or the PostgreSQL
 * database at `databaseUrl`. Several processes may start on one PostgreSQL at once: the migrator takes a lock.
 */
export async function openStorage(location: StorageLocation): Promise<Storage> {
  const engine =
    'databaseUrl' in location ? openPostgresEngine(location.databaseUrl) : openSqliteEngine(location.dbPath);
  try {
    await migrateToLatest(engine);
  } catch (error) {
    await engine.close();
    throw error;
  }
  return {
    kind: engine.kind,
    sync: new SqlSyncStore(engine),
    accounts: new SqlAccountStore(engine),
    ping: async () => {
      await sql`select 1`.execute(engine.db);
    },
    close: () => engine.close(),
  };
}

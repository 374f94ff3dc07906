import { SqlAccountStore } from './sql-account-store.js';
import { migrateToLatest, type SqlEngine } from './sql-engine.js';
import { SqlSyncStore } from './sql-sync-store.js';
import { openSqliteEngine } from './sqlite.js';
import type { AccountStore } from './account-store.js';
import type { SyncStore } from './sync-store.js';

/** The server's storage: synced rows and accounts, on one engine. */
export interface Storage {
  readonly kind: SqlEngine['kind'];
  readonly sync: SyncStore;
  readonly accounts: AccountStore;
  close(): Promise<void>;
}

/** Opens (creating if need be) and migrates the embedded SQLite database at `dbPath`. */
export async function openStorage(options: { dbPath: string }): Promise<Storage> {
  const engine = openSqliteEngine(options.dbPath);
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
    close: () => engine.close(),
  };
}

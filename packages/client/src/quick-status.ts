import Database from 'better-sqlite3';
import { STORE_VERSION, StateKey, stateReader } from './device-state.js';
import { readStatus, type SyncStatus } from './status.js';

/**
 * `tillsync status` on a device file that is set up: the status read over a bare connection, loading neither
 * the sync nor the protocol's schemas, so the whole command takes little more than Node.js starting.
 *
 * `null` when the file needs the whole client: it is missing, not SQLite, not yet a device file of this
 * version (the client sets it up or migrates it), or has a shop program's database attached (whose status
 * the adopt code reads). The caller then goes the long way, which answers the same, or fails as it would have.
 */
export function readQuickStatus(dbPath: string, now: number = Date.now()): SyncStatus | null {
  let db: Database.Database;
  try {
    db = new Database(dbPath, { fileMustExist: true });
  } catch {
    return null;
  }
  try {
    db.pragma('busy_timeout = 10000');
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('_sync_state', '_sync_adopt')",
      )
      .pluck()
      .all();
    if (!tables.includes('_sync_state') || tables.includes('_sync_adopt')) return null;
    const reader = stateReader((sql) => db.prepare(sql));
    if (reader.getState(StateKey.storeVersion) !== String(STORE_VERSION)) return null;
    return readStatus(reader, { now });
  } catch {
    return null;
  } finally {
    db.close();
  }
}

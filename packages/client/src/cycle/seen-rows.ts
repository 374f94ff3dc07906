import type Database from 'better-sqlite3';
import type { LocalStore } from '../local-store.js';

/**
 * The rows a snapshot holds, noted in a temporary table (`temp._sync_seen`, this connection's only) while
 * its pages are applied; at its end, the rows of the repaired tables that it did not hold are not on the
 * server, and are swept.
 */

/** Creates the table when missing and empties it: a snapshot starts with nothing seen. */
export function resetSeenRows(store: LocalStore): void {
  store.db.exec(
    'CREATE TEMP TABLE IF NOT EXISTS _sync_seen (tbl TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (tbl, id)) WITHOUT ROWID',
  );
  clearSeenRows(store);
}

/** Empties the table once the snapshot has been swept. */
export function clearSeenRows(store: LocalStore): void {
  store.db.exec('DELETE FROM temp._sync_seen');
}

/** The statement that notes one row as seen: `run(table, id)`. */
export function noteSeenStatement(store: LocalStore): Database.Statement {
  return store.statement('INSERT OR IGNORE INTO temp._sync_seen (tbl, id) VALUES (?, ?)');
}

/**
 * After a snapshot: the rows of `table` it did not hold are not on the server, or (`outOfScope`: the device
 * was moved to another store, PROTOCOL.md §7) not in the device's scope any more. Local rows go unless they
 * are pending; the server's row list forgets them.
 *
 * A pending row stays, and what it says depends on why the snapshot lacked it. Not on the server: a pending
 * upsert recreates its row, counters as starting values, and a pending delete has nothing left to delete.
 * Out of scope: the row lives on in the old store, so the pending change stays an edit of it (its counter
 * base and the server's stamp kept, so a sale sends its delta, never a starting value); the server refuses
 * it while the device belongs to the other store (`OUT_OF_SCOPE`), and takes it if the device is moved back.
 * A pending row whose store column names another store than the snapshot's (`scope`) is out of scope too,
 * even when the device's store did not change from the last snapshot it finished: it may hold another
 * store's rows from a snapshot it was moved in the middle of (its pages applied, its end never reached).
 * Call it inside an applying transaction.
 */
export function sweepUnseen(
  store: LocalStore,
  table: string,
  outOfScope = false,
  scope: { readonly storeColumn: string; readonly storeId: string } | null = null,
): void {
  const t = `"${table}"`;
  const notSeen = (alias: string): string =>
    `NOT EXISTS (SELECT 1 FROM temp._sync_seen AS s WHERE s.tbl = @table AND s.id = ${alias}.id)`;
  const notPending = (alias: string): string =>
    `NOT EXISTS (SELECT 1 FROM _sync_pending AS p WHERE p.tbl = @table AND p.id = ${alias}.id)`;
  store.db.prepare(`DELETE FROM ${t} WHERE ${notSeen(t)} AND ${notPending(t)}`).run({ table });
  if (outOfScope) {
    store.db
      .prepare(
        `DELETE FROM _sync_rows WHERE tbl = @table AND ${notSeen('_sync_rows')} AND ${notPending('_sync_rows')}`,
      )
      .run({ table });
    return;
  }
  // A local row of another store: out of scope, not gone from the server.
  const inScope = (alias: string): string =>
    scope === null
      ? '1'
      : `NOT EXISTS (SELECT 1 FROM ${t} AS r WHERE r.id = ${alias}.id AND r."${scope.storeColumn}" <> @storeId)`;
  const parameters = { table, storeId: scope?.storeId ?? null };
  // The deltas of a refused delete waiting for a row the server no longer has: nothing left to add them to.
  store.db
    .prepare(
      `DELETE FROM _sync_pending WHERE tbl = @table AND op = 'upsert' AND gone IS NOT NULL AND ${notSeen('_sync_pending')} AND ${inScope('_sync_pending')}`,
    )
    .run(parameters);
  store.db
    .prepare(
      `UPDATE _sync_pending SET base = NULL WHERE tbl = @table AND op = 'upsert' AND ${notSeen('_sync_pending')} AND ${inScope('_sync_pending')}`,
    )
    .run(parameters);
  store.db
    .prepare(`DELETE FROM _sync_pending WHERE tbl = @table AND op = 'delete' AND ${notSeen('_sync_pending')}`)
    .run({ table });
  store.db
    .prepare(
      `DELETE FROM _sync_rows WHERE tbl = @table AND ${notSeen('_sync_rows')} AND ${inScope('_sync_rows')}`,
    )
    .run(parameters);
}

import type Database from 'better-sqlite3';
import { quoteIdentifier } from '../capture/triggers.js';
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

/**
 * The tables a snapshot began with nothing of: no row in the table, none of its rows in `_sync_rows`, none
 * pending. Nothing but the snapshot writes their server rows while it runs (the cycle pushes before it, not
 * during it), so every row of theirs in `_sync_rows` at its end is one it brought, and so is every local row
 * that is not pending: the sweep has nothing to find among them, and their checksum, kept row by row from
 * zero, is exact without being computed again. The applier notes a row of theirs as seen only when the
 * snapshot removes it after bringing it (see {@link noteAsSeen}), and needs no lookup of its stamp for an id
 * above every id of the table the snapshot applied so far (a snapshot brings each table in key order).
 *
 * Kept in memory for one snapshot: a snapshot begun again after a crash finds rows and notes every row.
 */
export class FreshTables {
  /** Per fresh table, the highest id the snapshot has applied, `''` before any. */
  readonly #highest = new Map<string, string>();

  constructor(tables: Iterable<string>) {
    for (const table of tables) this.#highest.set(table, '');
  }

  /** The tables of `schemaTables` that hold no row, no server row and no pending row. */
  static of(store: LocalStore, schemaTables: readonly string[]): FreshTables {
    store.settleCaptured();
    const serverRows = store.statement('SELECT 1 FROM _sync_rows WHERE tbl = ? LIMIT 1');
    const pending = store.statement('SELECT 1 FROM _sync_pending WHERE tbl = ? LIMIT 1');
    return new FreshTables(
      schemaTables.filter(
        (table) =>
          serverRows.get(table) === undefined &&
          pending.get(table) === undefined &&
          store.statement(`SELECT 1 FROM ${quoteIdentifier(table)} LIMIT 1`).get() === undefined,
      ),
    );
  }

  has(table: string): boolean {
    return this.#highest.has(table);
  }

  /** The highest id of a fresh table applied so far (`''` before any), or `null` for another table. */
  highest(table: string): string | null {
    return this.#highest.get(table) ?? null;
  }

  /** Notes that the snapshot applied ids of a fresh table up to `id`, in a transaction that committed. */
  applied(table: string, id: string): void {
    const highest = this.#highest.get(table);
    if (highest !== undefined && id > highest) this.#highest.set(table, id);
  }
}

/**
 * Whether the applier notes a snapshot's change of a row as seen: every upsert, but of a fresh table only a
 * removal of a row the snapshot had brought (`previous`, its server stamp so far, is not null): the rows it
 * brought and kept are the table's rows in `_sync_rows` at the end.
 */
export function noteAsSeen(
  fresh: boolean,
  op: 'upsert' | 'delete' | 'evict',
  previous: string | null,
): boolean {
  return fresh ? op !== 'upsert' && previous !== null : op === 'upsert';
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
 *
 * A `fresh` table (see {@link FreshTables}) was noted as such: its rows in `_sync_rows` count as seen, and
 * only its pending rows are looked at. Call it inside an applying transaction.
 */
export function sweepUnseen(
  store: LocalStore,
  table: string,
  outOfScope = false,
  scope: { readonly storeColumn: string; readonly storeId: string } | null = null,
  fresh = false,
): void {
  const t = `"${table}"`;
  const notSeen = (alias: string): string =>
    `NOT EXISTS (SELECT 1 FROM temp._sync_seen AS s WHERE s.tbl = @table AND s.id = ${alias}.id)` +
    (fresh
      ? ` AND NOT EXISTS (SELECT 1 FROM _sync_rows AS k WHERE k.tbl = @table AND k.id = ${alias}.id)`
      : '');
  const notPending = (alias: string): string =>
    `NOT EXISTS (SELECT 1 FROM _sync_pending AS p WHERE p.tbl = @table AND p.id = ${alias}.id)`;
  // A fresh table's local rows are the snapshot's or pending, and its server rows all the snapshot's.
  if (!fresh) store.db.prepare(`DELETE FROM ${t} WHERE ${notSeen(t)} AND ${notPending(t)}`).run({ table });
  if (outOfScope) {
    if (fresh) return;
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
  if (fresh) return;
  store.db
    .prepare(
      `DELETE FROM _sync_rows WHERE tbl = @table AND ${notSeen('_sync_rows')} AND ${inScope('_sync_rows')}`,
    )
    .run(parameters);
}

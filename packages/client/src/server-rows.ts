import {
  addToChecksum,
  checksumTerm,
  formatChecksum,
  parseChecksum,
  type TableChecksum,
} from '@tillsync/protocol';
import type { LocalStore } from './local-store.js';
import { MultiRowStatement } from './multi-row-statement.js';

/** A row the server holds, as {@link ServerRows.setMany} records it. */
export interface ServerRowStamp {
  readonly id: string;
  readonly stamp: string;
  /** Its stamp as the device knew it so far (from `stampsOf`), or `null`. */
  readonly previous: string | null;
}

/**
 * What the device knows of the server's rows: for each live row on the server, the `updatedAt` it last
 * learnt (`_sync_rows`), and per table the checksum of those (`_sync_checksums`, PROTOCOL.md §2). It says
 * whether a row exists on the server (a counter then travels as a delta) and lets the device compare its
 * view with the checksums of the last pull page. Beside it, the stamp of the row as the device last received
 * it, where its own push moved `updatedAt` on (see {@link ServerRows.setPushed}): the base of its writes.
 *
 * Every change goes through {@link set}, {@link setPushed} or {@link remove} inside a write transaction, and
 * {@link flush} writes the checksum changes before that transaction commits, so the two never disagree.
 */
export class ServerRows {
  readonly #store: LocalStore;
  readonly #pending = new Map<string, { count: number; sum: bigint }>();
  readonly #setMany: MultiRowStatement;

  constructor(store: LocalStore) {
    this.#store = store;
    this.#setMany = new MultiRowStatement(
      store.db,
      3,
      (rows) =>
        `INSERT INTO _sync_rows (tbl, id, stamp) VALUES ${MultiRowStatement.placeholders(rows, 3)} ON CONFLICT (tbl, id) DO UPDATE SET stamp = excluded.stamp, received = NULL`,
    );
  }

  /**
   * The server's `updatedAt` of a row as last learnt (its own pushed stamp, once the server took its write),
   * or `null` when the row is not on the server.
   */
  stampOf(table: string, id: string): string | null {
    const row = this.#store
      .statement('SELECT stamp FROM _sync_rows WHERE tbl = ? AND id = ?')
      .get(table, id) as { stamp: string } | undefined;
    return row?.stamp ?? null;
  }

  /** {@link stampOf} for many rows of one table in one query: the rows that are on the server. */
  stampsOf(table: string, ids: readonly string[]): Map<string, string> {
    // A table the device holds nothing of yet (a first sync): no lookup per id.
    if (this.#store.statement('SELECT 1 FROM _sync_rows WHERE tbl = ? LIMIT 1').get(table) === undefined) {
      return new Map();
    }
    const rows = this.#store
      .statement(
        // IN (subquery) makes SQLite look each id up in the primary key; a join may scan the table per id.
        'SELECT id, stamp FROM _sync_rows WHERE tbl = @table AND id IN (SELECT value FROM json_each(@ids))',
      )
      .all({ table, ids: JSON.stringify(ids) }) as { id: string; stamp: string }[];
    return new Map(rows.map((row) => [row.id, row.stamp]));
  }

  /**
   * The row's stamp as the device last received it from the server, with every column (a pull, or the
   * `current` of a push's answer): the base of its next writes (PROTOCOL.md §1). It differs from
   * {@link stampOf} once an answer that took this device's own write has moved that (see {@link setPushed});
   * `null` when the row is not on the server.
   */
  receivedOf(table: string, id: string): string | null {
    const row = this.#store
      .statement('SELECT coalesce(received, stamp) AS received FROM _sync_rows WHERE tbl = ? AND id = ?')
      .get(table, id) as { received: string } | undefined;
    return row?.received ?? null;
  }

  /**
   * Records that the device received the row from the server with `stamp` (a pulled change, or the `current`
   * of a push's answer): the row as it knows it now. `previous` is its stamp so far (from stampOf).
   */
  set(table: string, id: string, stamp: string, previous: string | null): void {
    if (previous === stamp) {
      // Its own push's stamp, received back with the row's other columns (an echo): received now.
      this.#store
        .statement('UPDATE _sync_rows SET received = NULL WHERE tbl = ? AND id = ? AND received IS NOT NULL')
        .run(table, id);
      return;
    }
    const delta = this.#delta(table);
    if (previous === null) {
      this.#store.statement('INSERT INTO _sync_rows (tbl, id, stamp) VALUES (?, ?, ?)').run(table, id, stamp);
      delta.count += 1;
    } else {
      this.#store
        .statement('UPDATE _sync_rows SET stamp = ?, received = NULL WHERE tbl = ? AND id = ?')
        .run(stamp, table, id);
      delta.sum -= checksumTerm(id, previous);
    }
    delta.sum += checksumTerm(id, stamp);
  }

  /**
   * Records that the server took this device's own write of the row, stamped `stamp` (a push's answer
   * `applied`, without `current`): the row's stamp there, which the checksums compare, but not a receipt of
   * the row. The answer does not say what the row's other columns hold (another device's edit the device
   * never pulled may be among them), so the stamp as last received stays the base of the row's next writes
   * (see {@link receivedOf}); a base of the device's own stamp would pass for an edit over values it never saw
   * (PROTOCOL.md §1 `base`, §5). A row this device made has no earlier receipt: its own first write stands
   * for it, and no other device's write can be older than that. `previous` as for {@link set}.
   */
  setPushed(table: string, id: string, stamp: string, previous: string | null): void {
    if (previous === stamp) return;
    if (previous === null) {
      this.set(table, id, stamp, previous);
      return;
    }
    // SQLite reads `stamp` on the right as it was before this update.
    this.#store
      .statement(
        'UPDATE _sync_rows SET stamp = ?, received = coalesce(received, stamp) WHERE tbl = ? AND id = ?',
      )
      .run(stamp, table, id);
    const delta = this.#delta(table);
    delta.sum += checksumTerm(id, stamp) - checksumTerm(id, previous);
  }

  /**
   * {@link set} for many rows of one table, in their order, with few statements: a first sync records
   * every row it pulls, and one statement per row would cost as much as writing the rows themselves.
   */
  setMany(table: string, rows: readonly ServerRowStamp[]): void {
    const changed = rows.filter((row) => row.previous !== row.stamp);
    if (changed.length < rows.length) {
      // Rows received with the stamp the device had (see set): what it knows of them is the server's now.
      this.#store
        .statement(
          'UPDATE _sync_rows SET received = NULL WHERE tbl = ? AND id IN (SELECT value FROM json_each(?)) AND received IS NOT NULL',
        )
        .run(table, JSON.stringify(rows.filter((row) => row.previous === row.stamp).map((row) => row.id)));
    }
    const delta = this.#delta(table);
    for (const row of changed) {
      if (row.previous === null) delta.count += 1;
      else delta.sum -= checksumTerm(row.id, row.previous);
      delta.sum += checksumTerm(row.id, row.stamp);
    }
    this.#setMany.run(changed.length, (index, params, offset) => {
      const row = changed[index]!;
      params[offset] = table;
      params[offset + 1] = row.id;
      params[offset + 2] = row.stamp;
    });
  }

  /** Records that the row is not (or no longer) on the server; `previous` as for {@link set}. */
  remove(table: string, id: string, previous: string | null): void {
    if (previous === null) return;
    this.#store.statement('DELETE FROM _sync_rows WHERE tbl = ? AND id = ?').run(table, id);
    const delta = this.#delta(table);
    delta.count -= 1;
    delta.sum -= checksumTerm(id, previous);
  }

  /** Writes the checksum changes made since the last flush. Call it before the transaction commits. */
  flush(): void {
    for (const [table, delta] of this.#pending) {
      const current = this.checksum(table);
      this.#store
        .statement(
          'INSERT INTO _sync_checksums (tbl, count, sum) VALUES (?, ?, ?) ON CONFLICT (tbl) DO UPDATE SET count = excluded.count, sum = excluded.sum',
        )
        .run(
          table,
          current.count + delta.count,
          formatChecksum(addToChecksum(parseChecksum(current.sum), delta.sum)),
        );
    }
    this.#pending.clear();
  }

  /** Forgets changes not flushed: the transaction they belonged to rolled back. */
  discard(): void {
    this.#pending.clear();
  }

  /** A table's checksum as last flushed. */
  checksum(table: string): TableChecksum {
    const row = this.#store.statement('SELECT count, sum FROM _sync_checksums WHERE tbl = ?').get(table) as
      { count: number; sum: string } | undefined;
    return row ?? { count: 0, sum: formatChecksum(0n) };
  }

  /** Computes a table's checksum again from `_sync_rows` and stores it (after a repair). */
  recompute(table: string): TableChecksum {
    let count = 0;
    let sum = 0n;
    for (const row of this.#store
      .statement('SELECT id, stamp FROM _sync_rows WHERE tbl = ?')
      .iterate(table) as Iterable<{
      id: string;
      stamp: string;
    }>) {
      count += 1;
      sum = addToChecksum(sum, checksumTerm(row.id, row.stamp));
    }
    const checksum = { count, sum: formatChecksum(sum) };
    this.#store
      .statement(
        'INSERT INTO _sync_checksums (tbl, count, sum) VALUES (?, ?, ?) ON CONFLICT (tbl) DO UPDATE SET count = excluded.count, sum = excluded.sum',
      )
      .run(table, checksum.count, checksum.sum);
    this.#pending.delete(table);
    return checksum;
  }

  /**
   * Runs `fn` (which calls set and remove) and flushes, or discards its checksum changes when it throws. Call
   * it inside the write transaction.
   */
  batch<T>(fn: () => T): T {
    try {
      const result = fn();
      this.flush();
      return result;
    } catch (error) {
      this.discard();
      throw error;
    }
  }

  #delta(table: string): { count: number; sum: bigint } {
    let delta = this.#pending.get(table);
    if (!delta) {
      delta = { count: 0, sum: 0n };
      this.#pending.set(table, delta);
    }
    return delta;
  }
}

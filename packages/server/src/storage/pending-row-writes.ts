import { rowKey, uniqueKeyId, type RowWrite, type StoredRow, type UniqueKey } from './sync-store.js';

/**
 * The rows the pieces of one tenant write transaction (`TenantWriteBatches`) have written but not yet
 * stored: their writes are kept here and stored in one go before the transaction commits, so a batch of
 * pushes costs the database one write of rows instead of one per push. Every read of a later piece goes
 * through here first ({@link state}, {@link holder}, {@link referencing}), so each piece still sees the
 * rows of the pieces before it exactly as if they had been stored.
 *
 * A row written by several pieces is stored once, as its last state, in the place of its last write (the
 * sequence number it would have ended with had each piece stored its own), replacing the state the database
 * holds: its checksum term, its keys under unique rules and its move to another store are taken from that
 * state, so what is stored is what the writes one after the other would have left.
 */
export class PendingRowWrites {
  /** Per row key, the row's last state, its `previous` the state stored before this transaction. */
  readonly #rows = new Map<string, RowWrite>();
  /** The keys under unique rules the pending live rows hold: key id → row id. */
  readonly #uniqueHolders = new Map<string, string>();

  /** Whether nothing is pending. */
  get empty(): boolean {
    return this.#rows.size === 0;
  }

  /** Keeps writes, in order, as `RowWriteTransaction.writeRows` would store them. */
  add(rows: readonly RowWrite[]): void {
    for (const row of rows) {
      const key = rowKey(row.table, row.id);
      const earlier = this.#rows.get(key);
      if (earlier) this.#forgetKeys(earlier);
      // Deleted and set again, so the map's order is the order of each row's last write.
      this.#rows.delete(key);
      this.#rows.set(
        key,
        earlier
          ? {
              ...row,
              previous: earlier.previous,
              keepsUniqueValues: earlier.keepsUniqueValues === true && row.keepsUniqueValues === true,
            }
          : row,
      );
      if (row.values !== null)
        for (const unique of row.uniqueValues)
          this.#uniqueHolders.set(uniqueKeyId({ table: row.table, ...unique }), row.id);
    }
  }

  /**
   * The pending state of the row under `key` (by {@link rowKey}) as a stored row would be read, or undefined
   * when no piece wrote it. Its sequence number is 0: it has none until it is stored.
   */
  state(key: string): StoredRow | undefined {
    const row = this.#rows.get(key);
    if (!row) return undefined;
    return {
      table: row.table,
      id: row.id,
      values: row.values,
      updatedAt: row.updatedAt,
      seq: 0,
      deviceId: row.deviceId,
      stamps: row.values === null ? null : row.stamps,
      scope: row.scope,
      heldBy: row.heldBy ?? null,
    };
  }

  /** The holder of a unique key, given `stored`, its holder in the database (null: none). */
  holder(key: UniqueKey, stored: string | null): string | null {
    const pending = this.#uniqueHolders.get(uniqueKeyId(key));
    if (pending !== undefined) return pending;
    if (stored === null) return null;
    // A stored holder a piece has written since holds the key only if its new state still does.
    const row = this.#rows.get(rowKey(key.table, stored));
    if (!row) return stored;
    const holds =
      row.values !== null &&
      row.uniqueValues.some((unique) => unique.column === key.column && unique.value === key.value);
    return holds ? stored : null;
  }

  /**
   * The live rows of `table` whose `column` holds one of `targets`, given `stored`, those the database
   * holds: a stored row a piece has written since counts as its new state does, and pending rows are added.
   */
  referencing(
    table: string,
    column: string,
    targets: readonly string[],
    stored: ReadonlyArray<{ readonly id: string; readonly target: string; readonly scope: string }>,
  ): Array<{ readonly id: string; readonly target: string; readonly scope: string }> {
    const found = stored.filter((row) => !this.#rows.has(rowKey(table, row.id)));
    const wanted = new Set(targets);
    for (const row of this.#rows.values()) {
      if (row.table !== table || row.values === null) continue;
      const target = row.values[column];
      if (typeof target === 'string' && wanted.has(target))
        found.push({ id: row.id, target, scope: row.scope });
    }
    return found;
  }

  /** Every pending row's last state, in the order of their last writes; nothing is pending after. */
  take(): RowWrite[] {
    const rows = [...this.#rows.values()];
    this.#rows.clear();
    this.#uniqueHolders.clear();
    return rows;
  }

  #forgetKeys(row: RowWrite): void {
    if (row.values === null) return;
    for (const unique of row.uniqueValues) {
      const id = uniqueKeyId({ table: row.table, ...unique });
      if (this.#uniqueHolders.get(id) === row.id) this.#uniqueHolders.delete(id);
    }
  }
}

import { checksumTerm } from '@tillsync/protocol';
import type { RowWrite } from './sync-store.js';

/**
 * A row of `sync_rows` as a push writes it: table, id, data, updated_at, deleted, its position in the push
 * (from 1; its sequence number is the tenant's last one before the push plus this), device_id, stamps,
 * scope, held_by.
 */
export type SyncRowValues = [
  string,
  string,
  string | null,
  string,
  number,
  number,
  string | null,
  string | null,
  string,
  string | null,
];

/**
 * The columns of `sync_rows` in the order a push writes them: a {@link SyncRowValues} up to its scope, then
 * the tenant and when, then its held_by.
 */
export const INSERT_ROW =
  'insert into sync_rows (tbl, id, data, updated_at, deleted, seq, device_id, stamps, scope, tenant_id, stored_at, held_by)';

/** What follows {@link INSERT_ROW} for rows that replace the ones stored under their keys. */
export const REPLACE_ROW = `on conflict (tenant_id, tbl, id) do update set data = excluded.data,
  updated_at = excluded.updated_at, deleted = excluded.deleted, seq = excluded.seq, device_id = excluded.device_id,
  stamps = excluded.stamps, scope = excluded.scope, stored_at = excluded.stored_at, held_by = excluded.held_by`;

/**
 * How a push changes a table's checksum in one scope (a store, or '' for the tenant's rows): its live rows
 * counted and its sum of terms, not yet brought into range.
 */
export interface ChecksumChange {
  readonly scope: string;
  readonly table: string;
  count: number;
  sum: bigint;
}

/**
 * A push's rows as each engine writes them in one go: the tenant's sequence moved on by their number, the
 * rows, and each table's checksum change (see `SqlDialect.writeSyncRows`).
 */
export interface SyncRowsWrite {
  readonly tenantId: string;
  /** Rows the server did not hold: inserted. */
  readonly fresh: readonly SyncRowValues[];
  /** Rows that replace the stored ones under their keys. */
  readonly replacing: readonly SyncRowValues[];
  readonly storedAt: number;
  readonly checksums: readonly ChecksumChange[];
  /**
   * Entries of `sync_unique_values` to add with the rows: table, rule, key, row id. None of their keys is
   * held by an entry left in the table (the caller has deleted the old ones first).
   */
  readonly uniqueValues: ReadonlyArray<readonly [string, string, string, string]>;
}

/**
 * Each table's checksum change in each scope from these writes: a replaced state's term out of its scope,
 * the new one into its own (a row that moves to another store leaves one scope's sum for the other's).
 */
export function checksumChanges(rows: readonly RowWrite[]): ChecksumChange[] {
  const changes = new Map<string, ChecksumChange>();
  const changeOf = (scope: string, table: string): ChecksumChange => {
    const key = `${scope}\u0000${table}`;
    let change = changes.get(key);
    if (!change) {
      change = { scope, table, count: 0, sum: 0n };
      changes.set(key, change);
    }
    return change;
  };
  for (const row of rows) {
    const previous = row.previous;
    if (previous && previous.values !== null) {
      const change = changeOf(previous.scope, row.table);
      change.count -= 1;
      change.sum -= checksumTerm(previous.id, previous.updatedAt);
    }
    if (row.values !== null) {
      const change = changeOf(row.scope, row.table);
      change.count += 1;
      change.sum += checksumTerm(row.id, row.updatedAt);
    }
  }
  return [...changes.values()];
}

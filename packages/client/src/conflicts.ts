import type { RowValues } from '@tillsync/protocol';
import type { LocalStore } from './local-store.js';

/** One version of a row in a conflict: a write with its stamp, or a delete. */
export interface RowVersion {
  readonly op: 'upsert' | 'delete';
  readonly values: RowValues | null;
  readonly stamp: string;
}

/** A write that last-write-wins overrode on this device, kept so that "where did my edit go?" has an answer. */
export interface ConflictRecord {
  readonly id: number;
  readonly table: string;
  readonly rowId: string;
  readonly winner: 'server' | 'local';
  /** Where the device learnt of the other version: a push's `stale` answer, or a pull. */
  readonly source: 'push' | 'pull';
  readonly local: RowVersion;
  readonly server: RowVersion;
  /** When the device recorded it (ISO time). */
  readonly at: string;
}

/** Rows replaced by a force pull with discard-local, kept where they can still be found. */
export interface SetAsideRow {
  readonly id: number;
  readonly table: string;
  readonly rowId: string;
  readonly op: 'upsert' | 'delete';
  readonly values: RowValues | null;
  readonly stamp: string;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly setAsideAt: string;
}

/** The conflicts (`_sync_conflicts`) and set-aside rows (`_sync_set_aside`) of the device. */
export class ConflictLog {
  readonly #store: LocalStore;
  readonly #now: () => number;

  constructor(store: LocalStore, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  record(conflict: Omit<ConflictRecord, 'id' | 'at'>): void {
    this.#store
      .statement(
        `INSERT INTO _sync_conflicts (tbl, row_id, winner, source, local_op, local_values, local_stamp, server_op, server_values, server_stamp, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        conflict.table,
        conflict.rowId,
        conflict.winner,
        conflict.source,
        conflict.local.op,
        conflict.local.values === null ? null : JSON.stringify(conflict.local.values),
        conflict.local.stamp,
        conflict.server.op,
        conflict.server.values === null ? null : JSON.stringify(conflict.server.values),
        conflict.server.stamp,
        new Date(this.#now()).toISOString(),
      );
  }

  setAside(row: Omit<SetAsideRow, 'id' | 'setAsideAt'>): void {
    this.#store
      .statement(
        `INSERT INTO _sync_set_aside (tbl, row_id, op, local_values, stamp, error_code, error_message, set_aside_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        row.table,
        row.rowId,
        row.op,
        row.values === null ? null : JSON.stringify(row.values),
        row.stamp,
        row.errorCode,
        row.errorMessage,
        new Date(this.#now()).toISOString(),
      );
  }

  /** The latest conflicts, newest first. */
  conflicts(limit = 100): ConflictRecord[] {
    const rows = this.#store
      .statement('SELECT * FROM _sync_conflicts ORDER BY id DESC LIMIT ?')
      .all(limit) as {
      id: number;
      tbl: string;
      row_id: string;
      winner: 'server' | 'local';
      source: 'push' | 'pull';
      local_op: 'upsert' | 'delete';
      local_values: string | null;
      local_stamp: string;
      server_op: 'upsert' | 'delete';
      server_values: string | null;
      server_stamp: string;
      at: string;
    }[];
    return rows.map((row) => ({
      id: row.id,
      table: row.tbl,
      rowId: row.row_id,
      winner: row.winner,
      source: row.source,
      local: { op: row.local_op, values: parseValues(row.local_values), stamp: row.local_stamp },
      server: { op: row.server_op, values: parseValues(row.server_values), stamp: row.server_stamp },
      at: row.at,
    }));
  }

  /** The latest set-aside rows, newest first. */
  setAsideRows(limit = 100): SetAsideRow[] {
    const rows = this.#store
      .statement('SELECT * FROM _sync_set_aside ORDER BY id DESC LIMIT ?')
      .all(limit) as {
      id: number;
      tbl: string;
      row_id: string;
      op: 'upsert' | 'delete';
      local_values: string | null;
      stamp: string;
      error_code: string | null;
      error_message: string | null;
      set_aside_at: string;
    }[];
    return rows.map((row) => ({
      id: row.id,
      table: row.tbl,
      rowId: row.row_id,
      op: row.op,
      values: parseValues(row.local_values),
      stamp: row.stamp,
      errorCode: row.error_code,
      errorMessage: row.error_message,
      setAsideAt: row.set_aside_at,
    }));
  }
}

function parseValues(json: string | null): RowValues | null {
  return json === null ? null : (JSON.parse(json) as RowValues);
}

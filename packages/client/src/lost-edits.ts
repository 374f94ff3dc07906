import type { CellValue, ConflictRow, LostEdit, SchemaTable } from '@tillsync/protocol';
import type { LocalStore } from './local-store.js';

/**
 * This device's own edits that lost (`_sync_lost_edits`, PROTOCOL.md §5 "a device tells the person who works
 * on it when one of its own writes lost a conflict"), and the agent API's types for them.
 *
 * What the device can know: a value it pushed that the server's answer (`stale`, or `applied` with
 * `current`) shows overridden. Such a value lost to a write with a larger stamp that the server already had
 * when this push came, and that write cannot have known the value, which had never left this device: so it
 * is a conflict, never a plain later edit. A later edit made elsewhere after this device's value reached the
 * server comes to this device by pull, over no pending column of its own, and is not recorded. A write
 * of this device and a delete made elsewhere meet the same way, in a push's answer or in a pull over a
 * pending row.
 */
export type { ConflictRow, LostEdit };

/** How many lost edits the device keeps, newest first. */
export const LOST_EDITS_KEPT = 500;

/** A lost edit as recorded (its id and time are the log's). */
export type NewLostEdit = Omit<LostEdit, 'id' | 'at'>;

/** The list of this device's edits that lost. */
export class LostEdits {
  readonly #store: LocalStore;
  readonly #now: () => number;

  constructor(store: LocalStore, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  /** Records lost edits (inside the transaction that applies what showed them), and drops the oldest past the limit. */
  record(edits: readonly NewLostEdit[]): void {
    if (edits.length === 0) return;
    const insert = this.#store.statement(
      `INSERT INTO _sync_lost_edits (tbl, row_id, row_name, kind, col, mine, winning, my_stamp, winning_stamp, at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const at = new Date(this.#now()).toISOString();
    for (const edit of edits) {
      insert.run(
        edit.table,
        edit.rowId,
        edit.rowName,
        edit.kind,
        edit.column,
        JSON.stringify(edit.mine),
        JSON.stringify(edit.winning),
        edit.myStamp,
        edit.winningStamp,
        at,
      );
    }
    this.#store
      .statement('DELETE FROM _sync_lost_edits WHERE id <= (SELECT max(id) FROM _sync_lost_edits) - ?')
      .run(LOST_EDITS_KEPT);
  }

  /** The latest lost edits, newest first. */
  list(limit = 100): LostEdit[] {
    const rows = this.#store
      .statement('SELECT * FROM _sync_lost_edits ORDER BY id DESC LIMIT ?')
      .all(limit) as {
      id: number;
      tbl: string;
      row_id: string;
      row_name: string | null;
      kind: LostEdit['kind'];
      col: string | null;
      mine: string | null;
      winning: string | null;
      my_stamp: string;
      winning_stamp: string;
      at: string;
    }[];
    return rows.map((row) => ({
      id: row.id,
      table: row.tbl,
      rowId: row.row_id,
      rowName: row.row_name,
      kind: row.kind,
      column: row.col,
      mine: parseCell(row.mine),
      winning: parseCell(row.winning),
      myStamp: row.my_stamp,
      winningStamp: row.winning_stamp,
      at: row.at,
    }));
  }
}

/** The name a person knows a row by: its `name` column where its table has one. */
export function rowNameOf(
  table: SchemaTable,
  ...versions: (Readonly<Record<string, unknown>> | null | undefined)[]
): string | null {
  if (!table.columnsByName.has('name')) return null;
  for (const values of versions) {
    const name = values?.name;
    if (typeof name === 'string' && name !== '') return name;
  }
  return null;
}

/** The rows of some lost edits, each once, in their order: what a cycle's log line names. */
export function conflictRowsOf(edits: readonly NewLostEdit[]): ConflictRow[] {
  const rows = new Map<string, ConflictRow>();
  for (const edit of edits) {
    const key = `${edit.table}\u0000${edit.rowId}`;
    if (!rows.has(key)) rows.set(key, { table: edit.table, id: edit.rowId, name: edit.rowName });
  }
  return [...rows.values()];
}

function parseCell(json: string | null): CellValue {
  return json === null ? null : (JSON.parse(json) as CellValue);
}

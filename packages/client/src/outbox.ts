import { formatStamp, type Change, type CompiledSchema, type SchemaTable } from '@tillsync/protocol';
import { columnsOfMask, hasColumn } from './capture/column-mask.js';
import { NEXT_HLC_SQL, quoteIdentifier, quoteLiteral } from './capture/triggers.js';
import type { LocalStore } from './local-store.js';

/** Per counter column: the value last received from the server; `null` while the row is not on the server. */
export type CounterBase = Record<string, number | null>;

/** A row of the outbox: a local change not yet confirmed by the server. */
export interface PendingRow {
  readonly table: string;
  readonly id: string;
  readonly op: 'upsert' | 'delete';
  /** The HLC stamp of the last local write to the row. */
  readonly stamp: string;
  /** Grows with every captured write; tells a push's answer whether the row changed while on the wire. */
  readonly revision: number;
  readonly base: CounterBase | null;
  /**
   * For a delete of a row with counters: their values when the row was deleted here. Less the base, the
   * delta of this device's writes before the delete, which the delete carries.
   */
  readonly gone: CounterBase | null;
  /**
   * The synced columns its pending writes set and the server has not taken yet: those not yet pushed and
   * those on the wire, as a mask (`capture/column-mask.ts`); `null`: every column.
   */
  readonly columns: number | null;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
}

/** What a push carries for one row, kept with the push so its answer can be applied after a crash. */
export interface PushCover {
  readonly table: string;
  readonly id: string;
  readonly op: 'upsert' | 'delete';
  readonly stamp: string;
  readonly revision: number;
  /**
   * Per counter column, its local value when the push was built: once the server has the push, that is the
   * value the server's copy of the row includes, and so the base of the next delta. For a delete, its
   * counters as deleted, when it carries deltas.
   */
  readonly counters?: Record<string, number>;
  /**
   * The columns this write set, for an upsert of a row the server had: what the answer's `current` is
   * compared with to tell which of them lost. Absent: every column it carries (a new row, or a delete).
   */
  readonly columns?: readonly string[];
}

/** Options for {@link Outbox.nextBatch}. */
export interface NextBatchOptions {
  /**
   * Send only the columns a write set, for a row the server has (protocol 2). Off for a server of
   * protocol 1, which takes every upsert as the whole row.
   */
  readonly columnLevel: boolean;
}

/** The columns of a pending row as read, its stamp in parts (see `LocalClock`). */
const PENDING_COLUMNS = `p.tbl AS tbl, p.id AS id, p.op AS op, p.hlc >> 16 AS ms, p.hlc & 65535 AS counter,
  (SELECT node FROM _sync_clock) AS node, p.revision AS revision, p.base AS base,
  p.gone AS gone, p.cols | p.wire_cols AS columns, p.error_code AS error_code, p.error_message AS error_message`;

interface PendingRecord {
  tbl: string;
  id: string;
  op: 'upsert' | 'delete';
  ms: number;
  counter: number;
  node: string;
  revision: number;
  base: string | null;
  gone: string | null;
  columns: number | null;
  error_code: string | null;
  error_message: string | null;
}

function toPendingRow(record: PendingRecord): PendingRow {
  return {
    table: record.tbl,
    id: record.id,
    op: record.op,
    stamp: formatStamp({ ms: record.ms, counter: record.counter, nodeId: record.node }),
    revision: record.revision,
    base: record.base === null ? null : (JSON.parse(record.base) as CounterBase),
    gone: record.gone === null ? null : (JSON.parse(record.gone) as CounterBase),
    columns: record.columns,
    errorCode: record.error_code,
    errorMessage: record.error_message,
  };
}

/**
 * The outbox (`_sync_pending`), filled from the capture triggers' log (capture/fold.ts): reads pending rows
 * into changes in dependency order, and records what the server answered. Its reads fold the log first.
 */
export class Outbox {
  readonly #store: LocalStore;

  constructor(store: LocalStore) {
    this.#store = store;
  }

  count(): number {
    return this.#store.pendingCount();
  }

  /** Whether any row is pending: checked once per pull page, so clean devices skip the per-row lookups. */
  any(): boolean {
    this.#store.settleCaptured();
    return this.#store.statement('SELECT 1 FROM _sync_pending LIMIT 1').get() !== undefined;
  }

  /** Whether any row of `table` is pending. */
  anyIn(table: string): boolean {
    this.#store.settleCaptured();
    return (
      this.#store.statement('SELECT 1 FROM _sync_pending WHERE tbl = ? LIMIT 1').get(table) !== undefined
    );
  }

  /** The tables that have pending rows. */
  tablesWithPending(): Set<string> {
    this.#store.settleCaptured();
    const rows = this.#store.statement('SELECT DISTINCT tbl FROM _sync_pending').all() as { tbl: string }[];
    return new Set(rows.map((row) => row.tbl));
  }

  get(table: string, id: string): PendingRow | null {
    this.#store.settleCaptured();
    const record = this.#store
      .statement(`SELECT ${PENDING_COLUMNS} FROM _sync_pending AS p WHERE p.tbl = ? AND p.id = ?`)
      .get(table, id) as PendingRecord | undefined;
    return record ? toPendingRow(record) : null;
  }

  /**
   * The revisions of the pending rows among `ids` in `table`, by id, in one query: what a push's answer
   * compares to tell a row written again while on the wire. Rows not pending are absent.
   */
  revisionsOf(table: string, ids: readonly string[]): Map<string, number> {
    this.#store.settleCaptured();
    const records = this.#store
      .statement(
        'SELECT id, revision FROM _sync_pending WHERE tbl = ? AND id IN (SELECT value FROM json_each(?))',
      )
      .all(table, JSON.stringify(ids)) as { id: string; revision: number }[];
    return new Map(records.map((record) => [record.id, record.revision]));
  }

  /** Pending rows, oldest write first (for listing; the push reads them in batches). */
  list(limit = 1000): PendingRow[] {
    this.#store.settleCaptured();
    const records = this.#store
      .statement(`SELECT ${PENDING_COLUMNS} FROM _sync_pending AS p ORDER BY p.hlc LIMIT ?`)
      .all(limit) as PendingRecord[];
    return records.map(toPendingRow);
  }

  remove(table: string, id: string): void {
    this.#store.statement('DELETE FROM _sync_pending WHERE tbl = ? AND id = ?').run(table, id);
  }

  /** {@link remove} for many rows of one table, in one statement. */
  removeMany(table: string, ids: readonly string[]): void {
    if (ids.length === 0) return;
    this.#store
      .statement('DELETE FROM _sync_pending WHERE tbl = ? AND id IN (SELECT value FROM json_each(?))')
      .run(table, JSON.stringify(ids));
  }

  setBase(table: string, id: string, base: CounterBase | null): void {
    this.#store
      .statement('UPDATE _sync_pending SET base = ? WHERE tbl = ? AND id = ?')
      .run(base === null ? null : JSON.stringify(base), table, id);
  }

  /**
   * Turns a pending delete that lost to a later write into a change of the row's counters alone: the
   * deltas of this device's writes before the delete, on top of `base` (the server's values).
   */
  keepCounters(table: string, id: string, base: CounterBase): void {
    this.#store
      .statement(
        "UPDATE _sync_pending SET op = 'upsert', cols = 0, gone = NULL, base = ? WHERE tbl = ? AND id = ?",
      )
      .run(JSON.stringify(base), table, id);
  }

  /**
   * Makes the row pending as a write of the whole row, stamped now: the device writes its copy again (a row
   * deleted elsewhere that rows made here still need, see `PullApplier.merge`). Not on the server, it goes
   * whole, counters as starting values. Its columns are not edits of this device (those made before the
   * delete lost to it, PROTOCOL.md §5), so none is marked as set, and each counter's base is its value now:
   * should another device bring the row back first, this device takes that row as it is, and pushes only
   * what it writes from here on (a sale's delta). Before, every column was marked as set, and such a device
   * pushed its old copy over the row brought back a cycle later, after the devices that synced first.
   */
  addWhole(table: SchemaTable, id: string): void {
    const counters =
      table.counterColumns.length === 0
        ? 'NULL'
        : `(SELECT json_object(${table.counterColumns
            .map((column) => `${quoteLiteral(column.name)}, t.${quoteIdentifier(column.name)}`)
            .join(', ')}) FROM ${quoteIdentifier(table.name)} AS t WHERE t.id = @id)`;
    this.#store
      .statement(
        `INSERT INTO _sync_pending (tbl, id, op, hlc, revision, base, cols) SELECT @table, @id, 'upsert', ${NEXT_HLC_SQL}, 1, ${counters}, 0 FROM _sync_clock WHERE true
         ON CONFLICT (tbl, id) DO UPDATE SET op = 'upsert', hlc = max(excluded.hlc, hlc + 1), revision = revision + 1, base = excluded.base, gone = NULL, cols = 0, wire_cols = 0`,
      )
      .run({ table: table.name, id });
  }

  /**
   * A delete the server refused (rows still need the row) that carried counter deltas: the delete is given
   * up, its deltas are not. The entry waits, as a change of the counters alone (`gone` less `base`), for
   * the row to come back from the server (the table's restore); the pull's merge then puts the deltas on
   * top of the server's values, and the next push sends them. Not pushed while the row is away.
   */
  awaitRow(table: string, id: string): void {
    this.#store
      .statement("UPDATE _sync_pending SET op = 'upsert', cols = 0 WHERE tbl = ? AND id = ?")
      .run(table, id);
  }

  /**
   * Keeps, as the base of the row's next push, the server stamp the device had received before a pull
   * moved it: the row's pending writes were made knowing that one, not the newer (PROTOCOL.md §1, `base`).
   * Only the first move counts.
   */
  keepBaseStamp(table: string, id: string, stamp: string | null): void {
    if (stamp === null) return;
    this.#store
      .statement('UPDATE _sync_pending SET base_stamp = coalesce(base_stamp, ?) WHERE tbl = ? AND id = ?')
      .run(stamp, table, id);
  }

  /**
   * The server took a push of the row (applied, or answered with its newer version) while the row was
   * written again: the columns it carried are settled, and the writes still pending keep as their base
   * `received`, the server stamp the device had received before this answer (see `ServerRows.receivedOf`),
   * or the one a pull moved it from. They were made knowing the row as last received, not as the push left
   * it: an answer tells that the device's own write is stored, not what the row's other columns hold
   * (PROTOCOL.md §1, `base`), and a later push based on its own stamp would pass for an edit over values it
   * never saw.
   */
  settlePushed(table: string, id: string, received: string | null): void {
    this.#store
      .statement(
        'UPDATE _sync_pending SET wire_cols = 0, base_stamp = coalesce(base_stamp, ?) WHERE tbl = ? AND id = ?',
      )
      .run(received, table, id);
  }

  setError(table: string, id: string, code: string, message: string): void {
    this.#store
      .statement('UPDATE _sync_pending SET error_code = ?, error_message = ? WHERE tbl = ? AND id = ?')
      .run(code, message, table, id);
  }

  clearError(table: string, id: string): void {
    this.#store
      .statement(
        'UPDATE _sync_pending SET error_code = NULL, error_message = NULL WHERE tbl = ? AND id = ? AND error_code IS NOT NULL',
      )
      .run(table, id);
  }

  /** Adds a pending delete of a row, stamped now (the sync noticed a delete the triggers could not record). */
  addDelete(table: string, id: string): void {
    this.#store
      .statement(
        `INSERT INTO _sync_pending (tbl, id, op, hlc, revision, base, cols) SELECT ?, ?, 'delete', ${NEXT_HLC_SQL}, 1, NULL, 0 FROM _sync_clock WHERE true
         ON CONFLICT (tbl, id) DO UPDATE SET op = 'delete', hlc = max(excluded.hlc, hlc + 1), revision = revision + 1`,
      )
      .run(table, id);
  }

  /**
   * Marks the end of a push: its rows are not on the wire any more (another push's may be). The columns
   * it carried that the server did not take (see {@link settlePushed}) are pending again.
   */
  endPush(covers: Iterable<{ readonly table: string; readonly id: string }>): void {
    const unmark = this.#store.statement(
      'UPDATE _sync_pending SET in_push = 0, cols = cols | wire_cols, wire_cols = 0 WHERE tbl = ? AND id IN (SELECT value FROM json_each(?)) AND in_push = 1',
    );
    for (const [table, ids] of idsByTable(covers)) unmark.run(table, JSON.stringify(ids));
  }

  /**
   * Reads the next pending rows into changes, at most `max`, skipping the rows on the wire (in a stored push
   * not yet answered; not even read, so a push built while the previous one is on the wire costs no more)
   * and the rows in `sent` (this cycle's earlier batches): upserts of parents before children, then deletes of children before parents. Each
   * batch starts again from the first table, so a parent written while the push runs still goes before
   * its children. Marks the rows as on the wire and adds them to `sent`. Call it inside the write
   * transaction that also stores the push.
   *
   * An upsert of a row not on the server yet carries the whole row as it is now, each counter as its
   * starting value. For a row the server has it carries the columns its pending writes set (with
   * `columnLevel`; else the whole row), each counter as `{"delta": current - base}`, and `base`: the
   * server's stamp of the row as the device had received it when those writes began (never a stamp its own
   * push's answer put in `_sync_rows`, see `ServerRows.setPushed`). The columns pushed move from
   * the row's `cols` to `wire_cols` until the answer.
   */
  nextBatch(
    schema: CompiledSchema,
    sent: Set<string>,
    max: number,
    options: NextBatchOptions = { columnLevel: true },
  ): { changes: Change[]; covers: PushCover[] } {
    const changes: Change[] = [];
    const covers: PushCover[] = [];
    const nodeId = (
      this.#store.statement('SELECT node FROM _sync_clock WHERE id = 1').get() as { node: string }
    ).node;
    const order: [SchemaTable, 'upsert' | 'delete'][] = [
      ...schema.tables.map((table): [SchemaTable, 'upsert'] => [table, 'upsert']),
      ...[...schema.tables].reverse().map((table): [SchemaTable, 'delete'] => [table, 'delete']),
    ];
    for (const [table, op] of order) {
      let afterId = '';
      while (changes.length < max) {
        const room = max - changes.length;
        const rows =
          op === 'upsert' ? this.#upserts(table, afterId, room) : this.#deletes(table, afterId, room);
        for (const row of rows) {
          afterId = row.id;
          const key = sentKey(table.name, row.id);
          if (sent.has(key) || changes.length >= max) continue;
          // Deltas of a refused delete, waiting for their row to come back (see `awaitRow`).
          if (row.op === 'upsert' && row.present === null && row.gone !== null) continue;
          let built = buildChange(table, row, nodeId, options.columnLevel);
          // Deleted locally and never on the server: there is nothing to tell it, unless rows here still
          // name it. Then the server hears of the delete as of any other, so it clears their optional
          // references (PROTOCOL.md §2 push) instead of refusing them for naming a row it never had.
          if (built === null && this.#stillNamed(schema, table.name, row.id))
            built = deleteChange(table, row, nodeId, {}, false);
          if (built === null) {
            this.remove(table.name, row.id);
            continue;
          }
          sent.add(key);
          changes.push(built.change);
          covers.push(built.cover);
          if (built.change.op === 'upsert') this.#tellDeletedParents(table, built.change.values ?? {});
        }
        if (rows.length < room) break;
      }
      if (changes.length >= max) break;
    }
    const mark = this.#store.statement(
      'UPDATE _sync_pending SET in_push = 1, wire_cols = cols, cols = 0 WHERE tbl = ? AND id IN (SELECT value FROM json_each(?))',
    );
    for (const [table, ids] of idsByTable(covers)) mark.run(table, JSON.stringify(ids));
    return { changes, covers };
  }

  #upserts(table: SchemaTable, afterId: string, limit: number): OutboxRead[] {
    const t = quoteIdentifier(table.name);
    const columns = table.columns
      .map((column, index) => `, t.${quoteIdentifier(column.name)} AS c${index}`)
      .join('');
    const sql = `SELECT p.id AS id, p.op AS op, p.hlc >> 16 AS ms, p.hlc & 65535 AS counter, p.revision AS revision,
        p.base AS base, p.gone AS gone, p.cols AS cols, r.stamp AS server_stamp, coalesce(p.base_stamp, r.received, r.stamp) AS base_stamp, t.id AS present${columns}
      FROM _sync_pending AS p
      LEFT JOIN _sync_rows AS r ON r.tbl = p.tbl AND r.id = p.id
      LEFT JOIN ${t} AS t ON t.id = p.id
      WHERE p.tbl = ? AND p.op = 'upsert' AND p.in_push = 0 AND p.id > ? ORDER BY p.id LIMIT ?`;
    return this.#store.statement(sql).all(table.name, afterId, limit) as OutboxRead[];
  }

  /**
   * For each optional reference of an upsert to a row this device neither has nor knows on the server: a row
   * made here and deleted before it was pushed (the capture forgot its insert). Its delete is made pending,
   * so the server hears of it and clears the reference, as it clears one to a row deleted elsewhere.
   */
  #tellDeletedParents(table: SchemaTable, values: Readonly<Record<string, unknown>>): void {
    for (const column of table.references) {
      const target = values[column.name];
      const parent = column.references;
      if (column.required === true || parent === undefined || typeof target !== 'string') continue;
      const known = this.#store
        .statement(
          `SELECT 1 FROM ${quoteIdentifier(parent)} WHERE id = ? UNION ALL SELECT 1 FROM _sync_rows WHERE tbl = ? AND id = ? LIMIT 1`,
        )
        .get(target, parent, target);
      if (known === undefined) this.addDelete(parent, target);
    }
  }

  /** Whether a row of this device names row `id` of `table` through a reference. */
  #stillNamed(schema: CompiledSchema, table: string, id: string): boolean {
    for (const child of schema.tables)
      for (const column of child.references) {
        if (column.references !== table) continue;
        const found = this.#store
          .statement(
            `SELECT 1 FROM ${quoteIdentifier(child.name)} WHERE ${quoteIdentifier(column.name)} = ? LIMIT 1`,
          )
          .get(id);
        if (found !== undefined) return true;
      }
    return false;
  }

  #deletes(table: SchemaTable, afterId: string, limit: number): OutboxRead[] {
    const sql = `SELECT p.id AS id, p.op AS op, p.hlc >> 16 AS ms, p.hlc & 65535 AS counter, p.revision AS revision,
        p.base AS base, p.gone AS gone, p.cols AS cols, r.stamp AS server_stamp, coalesce(p.base_stamp, r.received, r.stamp) AS base_stamp, NULL AS present
      FROM _sync_pending AS p
      LEFT JOIN _sync_rows AS r ON r.tbl = p.tbl AND r.id = p.id
      WHERE p.tbl = ? AND p.op = 'delete' AND p.in_push = 0 AND p.id > ? ORDER BY p.id LIMIT ?`;
    return this.#store.statement(sql).all(table.name, afterId, limit) as OutboxRead[];
  }
}

/** The ids of `rows` grouped by table, for statements that take one table's ids at once. */
export function idsByTable(
  rows: Iterable<{ readonly table: string; readonly id: string }>,
): Map<string, string[]> {
  const grouped = new Map<string, string[]>();
  for (const row of rows) {
    let ids = grouped.get(row.table);
    if (!ids) grouped.set(row.table, (ids = []));
    ids.push(row.id);
  }
  return grouped;
}

/** The key of a row in the set of rows a cycle has sent. */
export function sentKey(table: string, id: string): string {
  return `${table}\u0000${id}`;
}

/** A pending row joined with its table row and its server stamp. Table columns come as c0, c1, …. */
interface OutboxRead {
  readonly id: string;
  readonly op: 'upsert' | 'delete';
  readonly ms: number;
  readonly counter: number;
  readonly revision: number;
  readonly base: string | null;
  /** A delete's counters as deleted (see {@link PendingRow.gone}). */
  readonly gone: string | null;
  readonly cols: number | null;
  /** The row's stamp on the server as last learnt; `null`: not on the server. */
  readonly server_stamp: string | null;
  /** The push's base: the server's stamp of the row as the device had received it when its writes began. */
  readonly base_stamp: string | null;
  readonly present: string | null;
  readonly [column: `c${number}`]: string | number | null;
}

/**
 * The delete of a pending row, with its `base` if the server had the row, and for a row the server has the
 * deltas of this device's writes to its counters before the delete: the server adds them even where the
 * delete loses to a later write and the row lives on (PROTOCOL.md §5), as it does for a stale upsert.
 */
function deleteChange(
  table: SchemaTable,
  row: OutboxRead,
  nodeId: string,
  base: { readonly base?: string },
  onServer: boolean,
): { change: Change; cover: PushCover } {
  const stamp = formatStamp({ ms: row.ms, counter: row.counter, nodeId });
  const gone = onServer && row.gone !== null ? (JSON.parse(row.gone) as CounterBase) : null;
  const from = row.base === null ? null : (JSON.parse(row.base) as CounterBase);
  const values: Record<string, { delta: number }> = {};
  const counters: Record<string, number> = {};
  let carries = false;
  for (const column of gone ? table.counterColumns : []) {
    const last = gone?.[column.name];
    const first = from?.[column.name];
    if (typeof last !== 'number') continue;
    counters[column.name] = last;
    if (typeof first !== 'number' || last === first) continue;
    values[column.name] = { delta: last - first };
    carries = true;
  }
  return {
    change: {
      table: table.name,
      id: row.id,
      op: 'delete',
      updatedAt: stamp,
      ...base,
      ...(carries ? { values } : {}),
    },
    cover: {
      table: table.name,
      id: row.id,
      op: 'delete',
      stamp,
      revision: row.revision,
      ...(carries ? { counters } : {}),
    },
  };
}

function buildChange(
  table: SchemaTable,
  row: OutboxRead,
  nodeId: string,
  columnLevel: boolean,
): { change: Change; cover: PushCover } | null {
  const onServer = row.server_stamp !== null;
  const stamp = formatStamp({ ms: row.ms, counter: row.counter, nodeId });
  const base = onServer && row.base_stamp !== null ? { base: row.base_stamp } : {};
  if (row.op === 'delete' || row.present === null) {
    if (!onServer) return null;
    return deleteChange(table, row, nodeId, base, true);
  }
  const counterBase = row.base === null ? null : (JSON.parse(row.base) as CounterBase);
  const setColumns = onServer ? columnsOfMask(table, row.cols).map((column) => column.name) : null;
  const values: Record<string, unknown> = {};
  const counters: Record<string, number> = {};
  table.columns.forEach((column, index) => {
    const value = row[`c${index}`] ?? null;
    // A column this write did not set stays out, for a row the server has: its value there may be newer.
    const wasSet = row.cols === null || hasColumn(row.cols, index);
    if (column.merge !== 'counter') {
      if (!onServer || !columnLevel || wasSet) values[column.name] = value;
      return;
    }
    const current = typeof value === 'number' ? value : Number(value ?? 0);
    counters[column.name] = current;
    if (!onServer) {
      values[column.name] = value;
    } else {
      // No base while on the server can only come from a write the triggers could not see the old value
      // of; sending no change to the counter is the one choice that cannot double count.
      const delta = current - (counterBase?.[column.name] ?? current);
      if (!columnLevel || wasSet || delta !== 0) values[column.name] = { delta };
    }
  });
  return {
    change: { table: table.name, id: row.id, op: 'upsert', updatedAt: stamp, values, ...base },
    cover: {
      table: table.name,
      id: row.id,
      op: 'upsert',
      stamp,
      revision: row.revision,
      counters,
      ...(setColumns ? { columns: setColumns } : {}),
    },
  };
}

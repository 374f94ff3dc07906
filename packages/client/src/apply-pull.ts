import type {
  CompiledSchema,
  EvictChange,
  PulledChange,
  RowValues,
  SchemaTable,
  StoredChange,
} from '@tillsync/protocol';
import { columnBit, hasColumn } from './capture/column-mask.js';
import { quoteIdentifier } from './capture/triggers.js';
import type { ConflictLog } from './conflicts.js';
import { noteAsSeen, noteSeenStatement, type FreshTables } from './cycle/seen-rows.js';
import type { LocalClock } from './local-clock.js';
import { StateKey, type LocalStore } from './local-store.js';
import {
  conflictRowsOf,
  rowNameOf,
  type ConflictRow,
  type LostEdits,
  type NewLostEdit,
} from './lost-edits.js';
import type { CounterBase, Outbox, PendingRow } from './outbox.js';
import type { ServerRowStamp, ServerRows } from './server-rows.js';
import type { RowToWrite, SyncedTables } from './synced-tables.js';

/** What the applier needs: the device file and its parts. */
export interface ApplierParts {
  readonly store: LocalStore;
  readonly schema: CompiledSchema;
  readonly tables: SyncedTables;
  readonly outbox: Outbox;
  readonly serverRows: ServerRows;
  readonly conflicts: ConflictLog;
  readonly lostEdits: LostEdits;
  readonly clock: LocalClock;
}

/** Options for {@link PullApplier.applyPage}. */
export interface ApplyPageOptions {
  /** The page's cursor, stored in the same transaction as its rows so a crash never skips or repeats a row. */
  readonly cursor?: string;
  /** Apply only the changes of these tables (a repair); the others are left for the regular pull. */
  readonly only?: ReadonlySet<string>;
  /** Note the live rows of the page in `temp._sync_seen`, for the sweep that ends a snapshot. */
  readonly noteSeen?: boolean;
  /** The device's store as the page says it, stored with the cursor. */
  readonly storeId?: string | undefined;
  /** The tables the snapshot being applied began with nothing of (with `noteSeen`). */
  readonly fresh?: FreshTables | undefined;
}

/** What applying a page uses of one of its tables. */
interface PageTable {
  readonly table: SchemaTable;
  /** The server stamps the device knows of the page's rows of the table, kept up to date as they apply. */
  readonly stamps: Map<string, string>;
  /** Whether any row of the table is pending. */
  readonly pending: boolean;
  /** Whether the table is one of `ApplyPageOptions.fresh`. */
  readonly fresh: boolean;
}

/** What applying a page did. */
export interface ApplyPageOutcome {
  readonly applied: number;
  readonly conflicts: number;
  /** The rows whose pending edits lost (to a later delete made elsewhere, or a delete of theirs to a later write). */
  readonly conflictRows: readonly ConflictRow[];
}

/**
 * Applies the server's changes to the device: pull pages, and the `current` of a push's answers.
 *
 * A row with no local change takes the server's state, whatever its stamp (the server's copy is the latest;
 * a counter's summed value may change under an unchanged stamp). A row with a local change not yet
 * confirmed is merged per column (PROTOCOL.md §5): the columns its pending writes set keep the device's
 * values (the device pushes them next, and the server's answer says if one lost), the others take the
 * server's, and a counter is the server's value plus the delta not yet sent. A delete meets a write by
 * stamp: the later one wins (a later write only if it sets every required column, as on the server), and a
 * pending write or delete of this device that loses is a lost edit.
 *
 * Writes happen with capture off, and foreign keys are never checked: a child may come before its parent.
 */
export class PullApplier {
  readonly #parts: ApplierParts;

  constructor(parts: ApplierParts) {
    this.#parts = parts;
  }

  /** Applies one pull page in one short transaction, together with its cursor. */
  applyPage(changes: readonly PulledChange[], options: ApplyPageOptions = {}): ApplyPageOutcome {
    const { store, schema, outbox, serverRows, clock } = this.#parts;
    // An empty page at the cursor the device already has (an idle cycle): nothing to write.
    if (
      changes.length === 0 &&
      (options.cursor === undefined || store.getState(StateKey.cursor) === options.cursor) &&
      (options.storeId === undefined || store.getState(StateKey.storeId) === options.storeId)
    ) {
      return { applied: 0, conflicts: 0, conflictRows: [] };
    }
    const fresh = options.fresh;
    const highest = new Map<string, string>();
    const outcome = store.applying(() =>
      serverRows.batch(() => {
        // The server stamps the device knows of the page's rows, looked up in one query per table: none for
        // an id of a fresh table above every id the snapshot applied to it so far (see FreshTables).
        const lookups = new Map<string, string[]>();
        for (const change of changes) {
          if (options.only && !options.only.has(change.table)) continue;
          let top = highest.get(change.table) ?? fresh?.highest(change.table) ?? null;
          if (top !== null && change.id > top) {
            highest.set(change.table, (top = change.id));
            if (!lookups.has(change.table)) lookups.set(change.table, []);
            continue;
          }
          let ids = lookups.get(change.table);
          if (!ids) lookups.set(change.table, (ids = []));
          ids.push(change.id);
        }
        const byTable = new Map<string, PageTable>();
        for (const [name, ids] of lookups) {
          const table = schema.table(name);
          if (!table) continue;
          byTable.set(name, {
            table,
            stamps: ids.length > 0 ? serverRows.stampsOf(name, ids) : new Map<string, string>(),
            // A table none of whose rows is pending (the till writes other tables meanwhile): no lookup per row.
            pending: outbox.anyIn(name),
            fresh: fresh?.has(name) ?? false,
          });
        }
        const seen = options.noteSeen ? noteSeenStatement(store) : null;

        let applied = 0;
        const lost: NewLostEdit[] = [];
        let latest = '';
        const cleanRows = new CleanRows(this.#parts);
        for (const change of changes) {
          const page = byTable.get(change.table);
          if (!page) continue;
          const { table, stamps } = page;
          const previous = stamps.get(change.id) ?? null;
          const pending = page.pending ? outbox.get(change.table, change.id) : null;
          if (seen && noteAsSeen(page.fresh, change.op, previous)) seen.run(change.table, change.id);
          if (change.op === 'evict') {
            cleanRows.write();
            lost.push(...this.evict(table, change, previous, pending));
            stamps.delete(change.id);
            if (change.updatedAt > latest) latest = change.updatedAt;
            applied += 1;
            continue;
          }
          // A row with no local change takes the server's state (see merge); most of a pull is such rows,
          // written together. Anything else is merged alone, after the rows before it.
          if (pending === null && change.op === 'upsert') cleanRows.add(table, change, previous);
          else {
            cleanRows.write();
            lost.push(...this.merge(table, change, previous, pending, 'pull'));
          }
          if (change.op === 'upsert') stamps.set(change.id, change.updatedAt);
          else stamps.delete(change.id);
          if (change.updatedAt > latest) latest = change.updatedAt;
          applied += 1;
        }
        cleanRows.write();
        this.#parts.tables.indexWritten();
        if (latest !== '') clock.receive(latest);
        if (options.cursor !== undefined) store.setState(StateKey.cursor, options.cursor);
        if (options.storeId !== undefined) store.setState(StateKey.storeId, options.storeId);
        const conflictRows = conflictRowsOf(lost);
        return { applied, conflicts: conflictRows.length, conflictRows };
      }),
    );
    // Only once the page has committed: a page that rolled back applied none of its ids.
    if (fresh) for (const [table, id] of highest) fresh.applied(table, id);
    return outcome;
  }

  /**
   * Merges one server change into the device. `previous` is the server stamp the device knew for the row,
   * `pending` its local change if any. Returns the lost edits it recorded (a pending write or delete of
   * this device that a later delete or write overrides). Call it inside an applying transaction, within
   * `serverRows.batch`.
   */
  merge(
    table: SchemaTable,
    change: StoredChange,
    previous: string | null,
    pendingRow: PendingRow | null,
    source: 'pull' | 'push',
  ): NewLostEdit[] {
    let pending = pendingRow;
    const { tables, outbox, serverRows } = this.#parts;
    const serverValues = change.op === 'upsert' ? (change.values ?? {}) : null;
    // What the pending writes were made knowing: the row as last received, not as this change has it.
    const received = pending !== null ? serverRows.receivedOf(table.name, change.id) : null;
    if (serverValues) serverRows.set(table.name, change.id, change.updatedAt, previous);
    else serverRows.remove(table.name, change.id, previous);

    // The same stamp: the server holds this very write (pushed, its answer applied or not), deltas included.
    if (pending !== null && change.updatedAt === pending.stamp) {
      outbox.remove(table.name, change.id);
      pending = null;
    }
    if (pending === null) {
      if (serverValues) tables.upsert(table, change.id, serverValues);
      else if (pendingRow === null && tables.read(table, change.id) !== null)
        this.#deletedElsewhere(table, change);
      else tables.remove(table, change.id);
      return [];
    }
    // The pending writes were made knowing the row as it was when last received, not as it is now (the row
    // coming back with this device's own pushed stamp brings the other columns it had not received).
    if (received !== change.updatedAt) outbox.keepBaseStamp(table.name, change.id, received);

    const local = pending.op === 'upsert' ? tables.read(table, change.id) : null;
    const later = change.updatedAt > pending.stamp;
    if (!serverValues) {
      // Deleted after this device's write, while rows made here need it: as for a row with no change here.
      if (pending.op === 'upsert' && later && local !== null && this.#deletedElsewhere(table, change))
        return [];
      if (
        pending.op === 'upsert' &&
        !later &&
        (bringsBack(table, pending) || this.#required(table, change.id))
      ) {
        // Deleted on the server before this device's later write of every required column, or of a row
        // that rows of this device need (a product sold here meanwhile, whose sale item the server would
        // refuse for good): the push recreates the row whole, with its counters as starting values.
        if (table.counterColumns.length > 0) outbox.setBase(table.name, change.id, null);
        return [];
      }
      // Deleted on both sides, deleted after this device's write, or before a write of only some of its
      // required columns: the delete wins, as it does on the server whichever reaches it first (PROTOCOL.md
      // §5: a later write brings a deleted row back only if it carries every required column).
      tables.remove(table, change.id);
      outbox.remove(table.name, change.id);
      if (pending.op === 'delete') return [];
      return this.#lost(table, change, pending, local, source, 'their-delete');
    }
    if (pending.op === 'delete') {
      // This device's delete is the later: it stays pending. Otherwise a later write keeps the row, and
      // the sales made here before the delete still count: their deltas go on top of the server's value
      // and stay pending, to be pushed as a change of the counters alone.
      if (!later) return [];
      const deltas = deletedDeltas(table, pending);
      if (deltas === null) {
        tables.upsert(table, change.id, serverValues);
        outbox.remove(table.name, change.id);
      } else {
        const row: Record<string, unknown> = { ...serverValues };
        const base: CounterBase = {};
        for (const column of table.counterColumns) {
          const server = toNumber(serverValues[column.name]);
          row[column.name] = server + (deltas[column.name] ?? 0);
          base[column.name] = server;
        }
        tables.upsert(table, change.id, row);
        outbox.keepCounters(table.name, change.id, base);
      }
      return this.#lost(table, change, pending, null, source, 'my-delete');
    }

    // Both write the row: the pending columns keep this device's values, the others take the server's.
    const row: Record<string, unknown> = { ...serverValues };
    let pendingColumns = false;
    const base: CounterBase = {};
    let unsent = false;
    table.columns.forEach((column, index) => {
      if (column.merge === 'counter') {
        // Sales made here and not yet pushed still count: they go on top of the server's value and stay
        // pending, to be pushed as a delta (the server adds it even where the row's other columns lose).
        // A row away (the deltas of a refused delete waiting for it) counts with its values as deleted.
        const server = toNumber(serverValues[column.name]);
        const from = pending.base?.[column.name];
        const mine = local ? toNumber(local[column.name]) : pending.gone?.[column.name];
        const delta = typeof mine === 'number' && typeof from === 'number' ? mine - from : 0;
        row[column.name] = server + delta;
        base[column.name] = server;
        if (delta !== 0) unsent = true;
      } else if (local && (pending.columns === null || hasColumn(pending.columns, index))) {
        row[column.name] = local[column.name] ?? null;
        pendingColumns = true;
      }
    });
    tables.upsert(table, change.id, row);
    if (!pendingColumns && !unsent) outbox.remove(table.name, change.id);
    else if (local === null && pending.gone !== null) outbox.keepCounters(table.name, change.id, base);
    else if (table.counterColumns.length > 0) outbox.setBase(table.name, change.id, base);
    return [];
  }

  /**
   * Whether a row of this device names row `id` of `table` through a required reference: one the server
   * would refuse while the row is deleted (it would have refused the delete, had that row reached it first).
   */
  #required(table: SchemaTable, id: string): boolean {
    const { schema, store } = this.#parts;
    for (const child of schema.tables)
      for (const column of child.references) {
        if (column.references !== table.name || column.required !== true) continue;
        const sql = `SELECT 1 FROM ${quoteIdentifier(child.name)} WHERE ${quoteIdentifier(column.name)} = ? LIMIT 1`;
        if (store.statement(sql).get(id) !== undefined) return true;
      }
    return false;
  }

  /**
   * A row this device holds, deleted elsewhere, while rows made here and not yet on the server need it
   * through a required reference (a sale of the product): the server would have refused the delete had
   * they reached it first, and refuses them for good while it stands. This device keeps its copy and writes
   * it again, whole and later than the delete, which brings it back (PROTOCOL.md §5), so the sale is not
   * lost. Returns whether it did; otherwise the delete is the caller's to apply.
   */
  #deletedElsewhere(table: SchemaTable, change: StoredChange): boolean {
    if (!this.#neededByUnsent(table, change.id)) {
      this.#parts.tables.remove(table, change.id);
      return false;
    }
    this.#parts.clock.receive(change.updatedAt);
    this.#parts.outbox.addWhole(table, change.id);
    return true;
  }

  /**
   * Whether a pending write of this device, one the server does not have, names row `id` of `table`
   * through a required reference: a row made here and not yet pushed, or one whose pending write set that
   * reference. (A row the server has and that names it already would have made the server refuse the delete,
   * unless that delete removed it too, and then its own delete follows.)
   */
  #neededByUnsent(table: SchemaTable, id: string): boolean {
    const { schema, store } = this.#parts;
    for (const child of schema.tables) {
      for (const [index, column] of child.columns.entries()) {
        if (column.references !== table.name || column.required !== true) continue;
        const sql = `SELECT 1 FROM ${quoteIdentifier(child.name)} AS c
          JOIN _sync_pending AS p ON p.tbl = ? AND p.id = c.id AND p.op = 'upsert'
          WHERE c.${quoteIdentifier(column.name)} = ?
            AND (p.cols IS NULL OR ((p.cols | p.wire_cols) & ?) != 0
              OR NOT EXISTS (SELECT 1 FROM _sync_rows AS r WHERE r.tbl = p.tbl AND r.id = p.id))
          LIMIT 1`;
        if (store.statement(sql).get(child.name, id, columnBit(index)) !== undefined) return true;
      }
    }
    return false;
  }

  /**
   * Drops the device's copy of a row that moved to another store (PROTOCOL.md §7): the row leaves this
   * device's scope, not the server, so nothing of it is a delete: no pending change is made, nothing is
   * pushed, and the server's row list and checksums simply no longer hold it.
   *
   * A pending change to the row can no longer be pushed: the server refuses every write of this device to
   * another store's row (`OUT_OF_SCOPE`), and the cycle applies a pull only once every push it sent is
   * answered, so no push of this change can still be on the wire with an answer to come (one the server
   * took before the move was answered, and settled, before this pull). So the change is dropped with the
   * row, and told to the cashier as a lost edit (`moved-away`), as any edit of theirs that did not stick.
   * Rows of this store that the device made and never pushed are never evicted (the server has no copy to
   * move), so a sale rung up here stays until the server has it. Call it as {@link merge}.
   */
  evict(
    table: SchemaTable,
    change: EvictChange,
    previous: string | null,
    pending: PendingRow | null,
  ): NewLostEdit[] {
    const { tables, outbox, serverRows } = this.#parts;
    serverRows.remove(table.name, change.id, previous);
    const local = pending?.op === 'upsert' ? tables.read(table, change.id) : null;
    tables.remove(table, change.id);
    if (pending === null) return [];
    outbox.remove(table.name, change.id);
    return this.#recordRowLost(table, change, pending, rowNameOf(table, local), 'moved-away');
  }

  /** Records that a pending write or delete of this device lost to `change` (a delete, or a write). */
  #lost(
    table: SchemaTable,
    change: StoredChange,
    pending: PendingRow,
    local: Readonly<Record<string, unknown>> | null,
    source: 'pull' | 'push',
    kind: 'my-delete' | 'their-delete',
  ): NewLostEdit[] {
    const { conflicts } = this.#parts;
    conflicts.record({
      table: table.name,
      rowId: change.id,
      winner: 'server',
      source,
      local: { op: pending.op, values: local as RowValues | null, stamp: pending.stamp },
      server: { op: change.op, values: change.values ?? null, stamp: change.updatedAt },
    });
    return this.#recordRowLost(table, change, pending, rowNameOf(table, change.values, local), kind);
  }

  /** Keeps, in the device's list of edits that lost, that a pending write of a whole row lost to `change`. */
  #recordRowLost(
    table: SchemaTable,
    change: { readonly id: string; readonly updatedAt: string },
    pending: PendingRow,
    rowName: string | null,
    kind: NewLostEdit['kind'],
  ): NewLostEdit[] {
    const edit: NewLostEdit = {
      table: table.name,
      rowId: change.id,
      rowName,
      kind,
      column: null,
      mine: null,
      winning: null,
      myStamp: pending.stamp,
      winningStamp: change.updatedAt,
    };
    this.#parts.lostEdits.record([edit]);
    return [edit];
  }
}

/** A clean row of a pull: what its table and its `_sync_rows` entry are written with. */
interface CleanRow extends RowToWrite, ServerRowStamp {}

/**
 * The upserts of rows with no local change, held until {@link write} and then written table by table with
 * multi-row statements: as {@link PullApplier.merge} writes them, in their order, with fewer statements.
 */
class CleanRows {
  readonly #parts: ApplierParts;
  readonly #byTable = new Map<string, { table: SchemaTable; rows: CleanRow[] }>();

  constructor(parts: ApplierParts) {
    this.#parts = parts;
  }

  add(table: SchemaTable, change: StoredChange, previous: string | null): void {
    let held = this.#byTable.get(table.name);
    if (!held) this.#byTable.set(table.name, (held = { table, rows: [] }));
    held.rows.push({ id: change.id, values: change.values ?? {}, stamp: change.updatedAt, previous });
  }

  /**
   * Writes the rows held. Call it before any other write of the page, and at its end. Rows of a table that
   * the device had no server stamp of, all of them (a first sync's), are inserted with their search index
   * written in bulk.
   */
  write(): void {
    for (const { table, rows } of this.#byTable.values()) {
      this.#parts.serverRows.setMany(table.name, rows);
      // In the page's order: a row held twice (a later change of it in the same page) must end as the later.
      if (rows.every((row) => row.previous === null)) this.#parts.tables.insertNew(table, rows);
      else this.#parts.tables.upsertMany(table, rows);
    }
    this.#byTable.clear();
  }
}

/**
 * Whether the pending writes of a row set every required column that has no default: a write that could
 * bring the row back over an earlier delete. Only such a write does on the server (a partial one is `stale`
 * there, and an earlier delete that meets it later wins over it), so the device recreates the row only then.
 */
function bringsBack(table: SchemaTable, pending: PendingRow): boolean {
  const columns = pending.columns;
  if (columns === null) return true;
  return table.columns.every(
    (column, index) =>
      column.required !== true || (column.default ?? null) !== null || hasColumn(columns, index),
  );
}

/**
 * The deltas a pending delete carries (its counters as deleted, less their base), by column; null when
 * they are all 0, or the delete noted no counters.
 */
export function deletedDeltas(table: SchemaTable, pending: PendingRow): Record<string, number> | null {
  if (pending.op !== 'delete' || pending.gone === null || pending.base === null) return null;
  const deltas: Record<string, number> = {};
  let any = false;
  for (const column of table.counterColumns) {
    const last = pending.gone[column.name];
    const first = pending.base[column.name];
    if (typeof last !== 'number' || typeof first !== 'number' || last === first) continue;
    deltas[column.name] = last - first;
    any = true;
  }
  return any ? deltas : null;
}

function toNumber(value: unknown): number {
  return typeof value === 'number' ? value : Number(value ?? 0) || 0;
}

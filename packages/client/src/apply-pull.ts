import type { CompiledSchema, RowValues, SchemaTable, StoredChange } from '@tillsync/protocol';
import type { ConflictLog } from './conflicts.js';
import { noteSeenStatement } from './cycle/seen-rows.js';
import type { LocalClock } from './local-clock.js';
import { StateKey, type LocalStore } from './local-store.js';
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
}

/** What applying a page did. */
export interface ApplyPageOutcome {
  readonly applied: number;
  readonly conflicts: number;
}

/**
 * Applies the server's changes to the device: pull pages, and the `current` of a push's `stale` answers.
 *
 * A row with no local change takes the server's state, whatever its stamp (the server's copy is the latest;
 * a counter's summed value may change under an unchanged stamp). A row with a local change not yet
 * confirmed is merged by stamp: a later server write replaces it (the local version goes to the conflict
 * log, and an unsent counter delta is kept on top), an earlier one only moves its counters' bases.
 *
 * Writes happen with capture off, and foreign keys are never checked: a child may come before its parent.
 */
export class PullApplier {
  readonly #parts: ApplierParts;

  constructor(parts: ApplierParts) {
    this.#parts = parts;
  }

  /** Applies one pull page in one short transaction, together with its cursor. */
  applyPage(changes: readonly StoredChange[], options: ApplyPageOptions = {}): ApplyPageOutcome {
    const { store, schema, outbox, serverRows, clock } = this.#parts;
    // An empty page at the cursor the device already has (an idle cycle): nothing to write.
    if (
      changes.length === 0 &&
      (options.cursor === undefined || store.getState(StateKey.cursor) === options.cursor)
    ) {
      return { applied: 0, conflicts: 0 };
    }
    return store.applying(() =>
      serverRows.batch(() => {
        const hasPending = outbox.any();
        const idsByTable = new Map<string, string[]>();
        for (const change of changes) {
          if (options.only && !options.only.has(change.table)) continue;
          let ids = idsByTable.get(change.table);
          if (!ids) idsByTable.set(change.table, (ids = []));
          ids.push(change.id);
        }
        const stampsByTable = new Map<string, Map<string, string>>();
        for (const [table, ids] of idsByTable) stampsByTable.set(table, serverRows.stampsOf(table, ids));
        const seen = options.noteSeen ? noteSeenStatement(store) : null;

        let applied = 0;
        let conflicts = 0;
        let latest = '';
        const cleanRows = new CleanRows(this.#parts);
        for (const change of changes) {
          const stamps = stampsByTable.get(change.table);
          const table = schema.table(change.table);
          if (!stamps || !table) continue;
          const previous = stamps.get(change.id) ?? null;
          const pending = hasPending ? outbox.get(change.table, change.id) : null;
          // A row with no local change takes the server's state (see merge); most of a pull is such rows,
          // written together. Anything else is merged alone, after the rows before it.
          if (pending === null && change.op === 'upsert') cleanRows.add(table, change, previous);
          else {
            cleanRows.write();
            if (this.merge(table, change, previous, pending, 'pull')) conflicts += 1;
          }
          if (change.op === 'upsert') stamps.set(change.id, change.updatedAt);
          else stamps.delete(change.id);
          if (seen && change.op === 'upsert') seen.run(change.table, change.id);
          if (change.updatedAt > latest) latest = change.updatedAt;
          applied += 1;
        }
        cleanRows.write();
        if (latest !== '') clock.receive(latest);
        if (options.cursor !== undefined) store.setState(StateKey.cursor, options.cursor);
        return { applied, conflicts };
      }),
    );
  }

  /**
   * Merges one server change into the device. `previous` is the server stamp the device knew for the row,
   * `pending` its local change if any. Returns whether a conflict was recorded. Call it inside an applying
   * transaction, within `serverRows.batch`.
   */
  merge(
    table: SchemaTable,
    change: StoredChange,
    previous: string | null,
    pendingRow: PendingRow | null,
    source: 'pull' | 'push',
  ): boolean {
    let pending = pendingRow;
    const { tables, outbox, serverRows, conflicts } = this.#parts;
    const serverValues = change.op === 'upsert' ? (change.values ?? {}) : null;
    if (serverValues) serverRows.set(table.name, change.id, change.updatedAt, previous);
    else serverRows.remove(table.name, change.id, previous);

    // The same stamp: the server holds this very write (pushed, its answer applied or not), deltas included.
    if (pending !== null && change.updatedAt === pending.stamp) {
      outbox.remove(table.name, change.id);
      pending = null;
    }
    if (pending === null) {
      if (serverValues) tables.upsert(table, change.id, serverValues);
      else tables.remove(table, change.id);
      return false;
    }

    const local = pending.op === 'upsert' ? tables.read(table, change.id) : null;
    const counters = table.counterColumns;

    if (change.updatedAt > pending.stamp) {
      let conflict = false;
      if (overrides(table, pending.op, local, change.op, serverValues)) {
        conflicts.record({
          table: table.name,
          rowId: change.id,
          winner: 'server',
          source,
          local: { op: pending.op, values: local, stamp: pending.stamp },
          server: { op: change.op, values: serverValues, stamp: change.updatedAt },
        });
        conflict = true;
      }
      if (!serverValues) {
        tables.remove(table, change.id);
        outbox.remove(table.name, change.id);
        return conflict;
      }
      // Sales made here and not yet pushed still count: they go on top of the server's value and stay
      // pending, to be pushed as a delta (the server adds it even though the row's other columns lost).
      const row: Record<string, unknown> = { ...serverValues };
      const base: CounterBase = {};
      let unsent = false;
      for (const column of counters) {
        const server = toNumber(serverValues[column.name]);
        const from = pending.base?.[column.name];
        const delta = local && from !== undefined && from !== null ? toNumber(local[column.name]) - from : 0;
        row[column.name] = server + delta;
        base[column.name] = server;
        if (delta !== 0) unsent = true;
      }
      tables.upsert(table, change.id, row);
      if (unsent) outbox.setBase(table.name, change.id, base);
      else outbox.remove(table.name, change.id);
      return conflict;
    }

    // The local change is the later one: it stays pending; only the counters follow the server.
    if (serverValues) {
      if (counters.length > 0) {
        const base: CounterBase = {};
        const update: Record<string, number> = {};
        for (const column of counters) {
          const server = toNumber(serverValues[column.name]);
          const from = pending.base?.[column.name];
          if (local && from !== undefined && from !== null) {
            update[column.name] = server + (toNumber(local[column.name]) - from);
          }
          base[column.name] = server;
        }
        if (local) tables.update(table, change.id, update);
        outbox.setBase(table.name, change.id, base);
      }
    } else if (pending.op === 'delete') {
      // Deleted on both sides: nothing left to tell the server.
      outbox.remove(table.name, change.id);
    } else if (counters.length > 0) {
      // The server deleted the row before this device's later write: the push recreates it, with its
      // counters as starting values.
      outbox.setBase(table.name, change.id, null);
    }
    return false;
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

  /** Writes the rows held. Call it before any other write of the page, and at its end. */
  write(): void {
    for (const { table, rows } of this.#byTable.values()) {
      this.#parts.serverRows.setMany(table.name, rows);
      this.#parts.tables.upsertMany(table, rows);
    }
    this.#byTable.clear();
  }
}

/** Whether the server's version overrides something of the local one (counters merge, so they never do). */
function overrides(
  table: SchemaTable,
  localOp: 'upsert' | 'delete',
  local: RowValues | null,
  serverOp: 'upsert' | 'delete',
  server: Readonly<Record<string, unknown>> | null,
): boolean {
  if (localOp !== serverOp) return true;
  if (localOp === 'delete') return false;
  if (!local || !server) return true;
  return table.columns.some(
    (column) => column.merge !== 'counter' && (local[column.name] ?? null) !== (server[column.name] ?? null),
  );
}

function toNumber(value: unknown): number {
  return typeof value === 'number' ? value : Number(value ?? 0) || 0;
}

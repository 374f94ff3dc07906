/**
 * The merge rules of PROTOCOL.md §5, for one change against a row's state: last write wins per column (each
 * column keeps the value of the write with the largest stamp that set it), counters add, a delete wins over
 * every write with a smaller stamp, and a conflict is an overridden value its winner had not received. Pure:
 * the push (`push.ts`) runs these over its rows in memory, then writes what they leave.
 */
import {
  isCounterDelta,
  type Change,
  type CompiledSchema,
  type ErrorDetail,
  type RowValues,
  type SchemaTable,
  type StoredChange,
} from '@tillsync/protocol';
import type { ColumnStamp, ColumnStamps, ConflictRecord } from '../storage/sync-store.js';

/** A row's state as the merge sees it: values (null: a tombstone), the largest stamp, column stamps. */
export interface MergeState {
  readonly values: RowValues | null;
  /** The largest stamp of the row's columns; a tombstone's is its delete's. */
  readonly updatedAt: string;
  /** The device whose write made `updatedAt`; null: the server. */
  readonly deviceId: string | null;
  /** The columns last written before `updatedAt` (see {@link ColumnStamps}). */
  readonly stamps: ColumnStamps | null;
}

/** What one change does to a row. */
export type Merge =
  | { readonly status: 'rejected'; readonly error: ErrorDetail }
  | {
      readonly status: 'applied' | 'stale';
      /** The row's new state; null when the change leaves it as it was. */
      readonly next: MergeState | null;
      /** Whether the answer carries the row as stored: some column the change carried lost. */
      readonly withCurrent: boolean;
      /** The columns the change wrote; null: the whole row (it created the row, or deleted it). */
      readonly written: ReadonlySet<string> | null;
      readonly conflicts: readonly ConflictRecord[];
    };

/** Who wrote a change being merged, and the row's table. */
export interface MergeContext {
  readonly schema: CompiledSchema;
  readonly table: SchemaTable;
  readonly deviceId: string;
}

/** The stamp of a column no write has set: lower than every stamp. */
const NEVER_SET: ColumnStamp = ['', null];

/** The stamp and writer of a row's column. */
export function stampOf(state: MergeState, column: string): ColumnStamp {
  return state.stamps?.[column] ?? [state.updatedAt, state.deviceId];
}

/**
 * Judges one change against the row's state (undefined: the server holds no row). A change whose stamp the
 * row already holds is that very write sent again: it was applied, and its counter deltas were counted.
 */
export function mergeChange(context: MergeContext, state: MergeState | undefined, change: Change): Merge {
  if (state && holdsStamp(state, change.updatedAt)) return unchanged('applied');
  if (change.op === 'delete') return mergeDelete(context, state, change);
  if (state && state.values !== null) return mergeIntoRow(context, state, state.values, change);
  return createRow(context, state, change);
}

function holdsStamp(state: MergeState, stamp: string): boolean {
  if (state.updatedAt === stamp) return true;
  if (state.stamps === null) return false;
  for (const column in state.stamps) if (state.stamps[column]?.[0] === stamp) return true;
  return false;
}

function unchanged(status: 'applied' | 'stale', withCurrent = status === 'stale'): Merge {
  return { status, next: null, withCurrent, written: null, conflicts: [] };
}

/** An upsert of a live row: each column it carries judged on its own against the column's stamp. */
function mergeIntoRow(context: MergeContext, state: MergeState, stored: RowValues, change: Change): Merge {
  const check = checkCarried(context, change.values ?? {}, true);
  if (!check.ok) return { status: 'rejected', error: { code: check.code, message: check.message } };
  const stamp = change.updatedAt;
  const values: Record<string, string | number | null> = { ...stored };
  const written: string[] = [];
  const conflicts: ConflictRecord[] = [];
  let lost = false;
  let added = false;
  for (const column in check.values) {
    const value = check.values[column] ?? null;
    // A column the stored row lacks (added to the schema after the row was written) was never set: any
    // write of it wins, and overrides nothing.
    const neverSet = !(column in stored);
    const [columnStamp, writer] = neverSet ? NEVER_SET : stampOf(state, column);
    const later = stamp > columnStamp;
    if (value !== null && typeof value === 'object') {
      // A counter adds its delta whatever the stamps say; its stamp moves only forward.
      values[column] = Number(stored[column] ?? 0) + value.delta;
      added ||= value.delta !== 0;
      if (later) written.push(column);
      continue;
    }
    const before = stored[column] ?? null;
    if (later) {
      written.push(column);
      values[column] = value;
      if (!neverSet && isConflict(writer, before, value, context.deviceId, change.base, columnStamp))
        conflicts.push(
          columnConflict(change, column, {
            winner: { updatedAt: stamp, value, deviceId: context.deviceId },
            loser: { updatedAt: columnStamp, value: before, deviceId: writer },
          }),
        );
    } else {
      lost = true;
      // The value the server holds was written later; its writer cannot have received this one, which the
      // server had never seen.
      if (writer !== context.deviceId && !sameValue(before, value))
        conflicts.push(
          columnConflict(change, column, {
            winner: { updatedAt: columnStamp, value: before, deviceId: writer },
            loser: { updatedAt: stamp, value, deviceId: context.deviceId },
          }),
        );
    }
  }
  const next = written.length > 0 || added ? restamp(state, values, written, stamp, context.deviceId) : null;
  const status = written.length > 0 ? 'applied' : 'stale';
  return { status, next, withCurrent: lost || status === 'stale', written: new Set(written), conflicts };
}

/** An upsert of a row the server does not hold live: it creates the row, or brings it back over a delete. */
function createRow(context: MergeContext, tombstone: MergeState | undefined, change: Change): Merge {
  const given = change.values ?? {};
  const stamp = change.updatedAt;
  const check = context.schema.checkValues(context.table, given, false);
  if (tombstone && (stamp < tombstone.updatedAt || (!check.ok && lacksRequired(context.table, given)))) {
    // The delete wins over an earlier write, and over a later one that does not carry the whole row.
    const carried = checkCarried(context, given, false);
    if (!carried.ok) return { status: 'rejected', error: { code: carried.code, message: carried.message } };
    const conflicts =
      tombstone.deviceId === context.deviceId
        ? []
        : [
            rowConflict(change, {
              winner: {
                op: 'delete',
                updatedAt: tombstone.updatedAt,
                values: null,
                deviceId: tombstone.deviceId,
              },
              loser: {
                op: 'upsert',
                updatedAt: stamp,
                values: withCounters(carried.values, null),
                deviceId: context.deviceId,
              },
            }),
          ];
    return { status: 'stale', next: null, withCurrent: true, written: null, conflicts };
  }
  if (!check.ok) return { status: 'rejected', error: { code: check.code, message: check.message } };
  const values = withCounters(check.values, null);
  const conflicts =
    tombstone && tombstone.deviceId !== context.deviceId && !knew(change.base, tombstone.updatedAt)
      ? [
          rowConflict(change, {
            winner: { op: 'upsert', updatedAt: stamp, values, deviceId: context.deviceId },
            loser: {
              op: 'delete',
              updatedAt: tombstone.updatedAt,
              values: null,
              deviceId: tombstone.deviceId,
            },
          }),
        ]
      : [];
  return {
    status: 'applied',
    next: { values, updatedAt: stamp, deviceId: context.deviceId, stamps: null },
    withCurrent: false,
    written: null,
    conflicts,
  };
}

/**
 * A delete: it wins over every write with a smaller stamp. Against a row with later column writes it loses
 * only where those writes set every required column, as a write that brings a deleted row back must.
 */
function mergeDelete(context: MergeContext, state: MergeState | undefined, change: Change): Merge {
  const stamp = change.updatedAt;
  const tombstone: MergeState = { values: null, updatedAt: stamp, deviceId: context.deviceId, stamps: null };
  const deleted: Merge = {
    status: 'applied',
    next: tombstone,
    withCurrent: false,
    written: null,
    conflicts: [],
  };
  const deltas = deletedDeltas(context.table, change);
  if (!state) return deleted;
  const stored = state.values;
  if (stored === null) return stamp > state.updatedAt ? deleted : unchanged('stale');
  const survives =
    stamp < state.updatedAt &&
    context.table.columns.every((column) => !column.required || stampOf(state, column.name)[0] > stamp);
  if (survives) {
    // The row lives on: the deltas the delete carries (the sender's sales before it) still count.
    let next: MergeState | null = null;
    if (deltas.added) {
      const values: Record<string, string | number | null> = { ...stored };
      for (const [column, delta] of Object.entries(deltas.values))
        values[column] = Number(stored[column] ?? 0) + delta;
      next = restamp(state, values, [], stamp, context.deviceId);
    }
    const conflicts =
      state.deviceId === context.deviceId
        ? []
        : [
            rowConflict(change, {
              winner: { op: 'upsert', updatedAt: state.updatedAt, values: stored, deviceId: state.deviceId },
              loser: { op: 'delete', updatedAt: stamp, values: null, deviceId: context.deviceId },
            }),
          ];
    return { status: 'stale', next, withCurrent: true, written: null, conflicts };
  }
  const conflicts: ConflictRecord[] = [];
  for (const column in stored) {
    const value = stored[column] ?? null;
    const [columnStamp, writer] = stampOf(state, column);
    if (value !== null && isConflict(writer, value, null, context.deviceId, change.base, columnStamp))
      conflicts.push(
        columnConflict(change, column, {
          winner: { updatedAt: stamp, value: null, deviceId: context.deviceId, deleted: true },
          loser: { updatedAt: columnStamp, value, deviceId: writer },
        }),
      );
  }
  return { ...deleted, conflicts };
}

/**
 * The counter deltas a delete carries in `values` (a device's writes to the row's counters before it
 * deleted the row), each as `{"delta": n}` on a counter column. Anything else a delete carries is ignored,
 * as a delete's values always were (a client may send the row's last state with it).
 */
function deletedDeltas(
  table: SchemaTable,
  change: Change,
): { readonly values: Record<string, number>; readonly added: boolean } {
  const values: Record<string, number> = {};
  let added = false;
  for (const name in change.values ?? {}) {
    const value = change.values?.[name];
    if (table.columnsByName.get(name)?.merge !== 'counter' || !isCounterDelta(value)) continue;
    values[name] = value.delta;
    added ||= value.delta !== 0;
  }
  return { values, added };
}

/**
 * A value overridden by another device's write is a conflict unless that write's `base` shows its writer
 * had received the value (an edit), or the value did not change.
 */
function isConflict(
  writer: string | null,
  before: string | number | null,
  after: string | number | null,
  deviceId: string,
  base: string | undefined,
  stamp: string,
): boolean {
  return writer !== deviceId && !sameValue(before, after) && !knew(base, stamp);
}

function knew(base: string | undefined, stamp: string): boolean {
  return base !== undefined && base >= stamp;
}

function sameValue(a: string | number | null, b: string | number | null): boolean {
  return a === b;
}

/** Whether an upsert leaves out a required column that has no default: it cannot be the whole row. */
function lacksRequired(table: SchemaTable, given: Record<string, unknown>): boolean {
  return table.columns.some(
    (column) =>
      column.required === true && (column.default ?? null) === null && given[column.name] === undefined,
  );
}

/**
 * The values the change carries, checked column by column (types, allowed values, counters); the columns it
 * leaves out are not looked at. Unknown columns are refused.
 */
function checkCarried(
  context: MergeContext,
  given: Record<string, unknown>,
  exists: boolean,
): ReturnType<CompiledSchema['checkValues']> {
  const { table } = context;
  let carried = 0;
  for (const name in given) if (name !== 'id') carried += 1;
  // A whole row is checked against the table itself; a part of one against a view of the table with only
  // the columns it carries (its names map stays whole, so an unknown column is still refused).
  const view: SchemaTable =
    carried === table.columns.length
      ? table
      : { ...table, columns: table.columns.filter((column) => given[column.name] !== undefined) };
  return context.schema.checkValues(view, given, exists);
}

/** Checked values with each counter delta added to the row's current value (0 for a new row). */
export function withCounters(
  checked: Readonly<Record<string, string | number | null | { delta: number }>>,
  current: RowValues | null,
): RowValues {
  const values: RowValues = {};
  for (const column in checked) {
    const value = checked[column];
    if (value === undefined) continue;
    values[column] = isCounterDelta(value) ? Number(current?.[column] ?? 0) + value.delta : value;
  }
  return values;
}

/**
 * The row with `written` columns stamped `stamp` by `deviceId`: the row's stamp becomes the largest of its
 * columns', and the columns last written before it are listed in `stamps`.
 */
export function restamp(
  state: MergeState,
  values: RowValues,
  written: readonly string[],
  stamp: string,
  deviceId: string | null,
): MergeState {
  if (written.length === 0) return { ...state, values };
  const stamps: Record<string, ColumnStamp> = {};
  if (stamp > state.updatedAt) {
    const stamped = new Set(written);
    for (const column in values) {
      if (stamped.has(column)) continue;
      stamps[column] = stampOf(state, column);
    }
    return { values, updatedAt: stamp, deviceId, stamps: nonEmpty(stamps) };
  }
  Object.assign(stamps, state.stamps);
  for (const column of written) stamps[column] = [stamp, deviceId];
  return { values, updatedAt: state.updatedAt, deviceId: state.deviceId, stamps: nonEmpty(stamps) };
}

function nonEmpty(stamps: Record<string, ColumnStamp>): ColumnStamps | null {
  for (const _ in stamps) return stamps;
  return null;
}

/** One side of a column conflict. */
interface ColumnSide {
  readonly updatedAt: string;
  readonly value: string | number | null;
  readonly deviceId: string | null;
  /** The side is a delete (the value is then null). */
  readonly deleted?: boolean;
}

function columnConflict(
  change: Change,
  column: string,
  sides: { readonly winner: ColumnSide; readonly loser: ColumnSide },
): ConflictRecord {
  const version = (side: ColumnSide): StoredChange =>
    side.deleted === true
      ? { table: change.table, id: change.id, op: 'delete', updatedAt: side.updatedAt }
      : {
          table: change.table,
          id: change.id,
          op: 'upsert',
          updatedAt: side.updatedAt,
          values: { [column]: side.value },
        };
  return {
    table: change.table,
    id: change.id,
    column,
    winner: version(sides.winner),
    loser: version(sides.loser),
    winnerDeviceId: sides.winner.deviceId,
    loserDeviceId: sides.loser.deviceId,
  };
}

/** One side of a conflict of the row as a whole. */
interface RowSide {
  readonly op: 'upsert' | 'delete';
  readonly updatedAt: string;
  readonly values: RowValues | null;
  readonly deviceId: string | null;
}

function rowConflict(
  change: Change,
  sides: { readonly winner: RowSide; readonly loser: RowSide },
): ConflictRecord {
  const version = (side: RowSide): StoredChange =>
    side.op === 'delete' || side.values === null
      ? { table: change.table, id: change.id, op: 'delete', updatedAt: side.updatedAt }
      : { table: change.table, id: change.id, op: 'upsert', updatedAt: side.updatedAt, values: side.values };
  return {
    table: change.table,
    id: change.id,
    column: null,
    winner: version(sides.winner),
    loser: version(sides.loser),
    winnerDeviceId: sides.winner.deviceId,
    loserDeviceId: sides.loser.deviceId,
  };
}

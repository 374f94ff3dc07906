import type { CompiledSchema, ErrorDetail, RowValues, SchemaTable } from '@tillsync/protocol';
import { rowKey, uniqueKeyId, type RowWriteTransaction, type StoredRow } from '../storage/sync-store.js';
import { ruleTouched, uniqueKeyOf, uniqueProblem } from './unique-rules.js';

/** An upsert a write applied, numbered by the write (a push numbers its changes by their index). */
export interface AppliedUpsert {
  readonly index: number;
  readonly table: SchemaTable;
  readonly id: string;
  /** {@link rowKey} of the row. */
  readonly key: string;
  /**
   * The columns it wrote, when it wrote only some of a row that exists; absent: the whole row. Only the
   * rules of the columns it wrote are judged: the others were judged when they were written.
   */
  readonly columns?: ReadonlySet<string>;
}

/** A row's state after the write; `lastIndex` is the upsert or delete that made it, if the write made it. */
export interface OutcomeState {
  readonly values: RowValues | null;
  readonly lastIndex: number | null;
}

/**
 * An optional reference a write makes to a row that was deleted (the server holds its tombstone): not a
 * problem, but a reference the server clears, as it would have had the write come before the delete.
 */
export interface DeletedTarget {
  readonly upsert: AppliedUpsert;
  readonly column: string;
  readonly target: string;
}

/** What a write leaves, judged before it is stored. */
export interface WriteOutcome {
  readonly applied: readonly AppliedUpsert[];
  /** Every row the write changes, by {@link rowKey}. */
  readonly states: ReadonlyMap<string, OutcomeState>;
}

/**
 * Foreign keys and unique values, judged on a write's outcome: a reference may point at a row the same write
 * creates, in any order; a unique value may move from one row to another within the write. Answers a problem
 * per upsert that breaks a rule, by its index. `stored` holds the rows read before the write; the rows that
 * references point at are added to it as they are read. A device's write gives its store as `writerScope`:
 * a reference to another store's row is judged as one to a row that does not exist. Given `deletedTargets`,
 * an optional reference to a deleted row is no problem: it goes there, for the writer to clear (PROTOCOL.md
 * §2 push).
 */
export async function checkAcrossRows(
  tx: Pick<RowWriteTransaction, 'getRows' | 'findUniqueHolders'>,
  outcome: WriteOutcome,
  stored: Map<string, StoredRow>,
  schema: CompiledSchema,
  writerScope?: string,
  deletedTargets?: DeletedTarget[],
  knownHolders?: ReadonlyMap<string, string | null>,
): Promise<Map<number, ErrorDetail>> {
  const problems = new Map<number, ErrorDetail>();
  const finalValues = (upsert: AppliedUpsert): RowValues | null => {
    const state = outcome.states.get(upsert.key);
    return state?.lastIndex === upsert.index ? state.values : null;
  };

  // References to rows the write does not touch are looked up once, together.
  const missing = new Map<string, { table: string; id: string }>();
  for (const { table, target, key } of references(outcome.applied, finalValues)) {
    if (!outcome.states.has(key) && !stored.has(key)) missing.set(key, { table, id: target });
  }
  if (missing.size > 0)
    for (const [key, row] of await tx.getRows([...missing.values()])) stored.set(key, row);

  for (const { upsert, column, required, table, target, key } of references(outcome.applied, finalValues)) {
    const targetState = outcome.states.get(key) ?? visible(stored.get(key), writerScope);
    if (deletedTargets && targetState && targetState.values === null && !required) {
      deletedTargets.push({ upsert, column, target });
      continue;
    }
    if (!targetState || targetState.values === null) {
      problems.set(upsert.index, {
        code: 'FK_VIOLATION',
        message: `${upsert.table.name}.${column} points at ${table} ${target} which does not exist`,
      });
    }
  }

  for (const table of schema.tables) {
    for (const rule of table.uniqueRules) {
      const claims = new Map<string, AppliedUpsert>();
      for (const upsert of outcome.applied) {
        if (upsert.table !== table || problems.has(upsert.index)) continue;
        if (!ruleTouched(rule, upsert.columns)) continue;
        const values = finalValues(upsert);
        const key = values === null ? null : uniqueKeyOf(rule, values);
        if (key === null) continue;
        const earlier = claims.get(key);
        if (earlier && earlier.id !== upsert.id) {
          problems.set(upsert.index, uniqueProblem(table, rule, key, earlier.id));
        } else {
          claims.set(key, upsert);
        }
      }
      // A row that keeps the key it was stored with holds it already (every live row's keys are noted, those
      // of a rule added later too): only the keys that move are looked up.
      const moving = [...claims].filter(([key, upsert]) => {
        const before = stored.get(upsert.key)?.values;
        return !before || uniqueKeyOf(rule, before) !== key;
      });
      if (moving.length === 0) continue;
      // Holders read before, in the write's transaction, are as they are now: nothing was written since.
      const known = (key: string): string | null | undefined =>
        knownHolders?.get(uniqueKeyId({ table: table.name, column: rule.name, value: key }));
      let holders = new Map<string, string>();
      if (moving.every(([key]) => known(key) !== undefined))
        for (const [key] of moving) {
          const holder = known(key);
          if (typeof holder === 'string') holders.set(key, holder);
        }
      else
        holders = await tx.findUniqueHolders(
          table.name,
          rule.name,
          moving.map(([key]) => key),
        );
      for (const [key, upsert] of claims) {
        const holderId = holders.get(key);
        if (holderId === undefined || holderId === upsert.id) continue;
        // The holder may give the value up in this same write.
        const holderState = outcome.states.get(rowKey(table.name, holderId));
        if (holderState && (holderState.values === null || uniqueKeyOf(rule, holderState.values) !== key))
          continue;
        problems.set(upsert.index, uniqueProblem(table, rule, key, holderId));
      }
    }
  }
  return problems;
}

/**
 * A stored row as a writer of `writerScope` (a device's store; undefined: the server) sees it: a row of
 * another store does not exist for a device, as a row of another tenant does not (PROTOCOL.md §7).
 */
export function visible(row: StoredRow | undefined, writerScope: string | undefined): StoredRow | undefined {
  if (row === undefined || writerScope === undefined || row.scope === '' || row.scope === writerScope)
    return row;
  return undefined;
}

/** Each reference the upserts' final values make: the row (table, id and key) it points at. */
function* references(
  applied: readonly AppliedUpsert[],
  finalValues: (upsert: AppliedUpsert) => RowValues | null,
): Generator<{
  upsert: AppliedUpsert;
  column: string;
  required: boolean;
  table: string;
  target: string;
  key: string;
}> {
  for (const upsert of applied) {
    const values = finalValues(upsert);
    if (!values) continue;
    for (const column of upsert.table.references) {
      if (upsert.columns && !upsert.columns.has(column.name)) continue;
      const target = values[column.name];
      if (typeof target !== 'string') continue;
      const table = column.references ?? '';
      yield {
        upsert,
        column: column.name,
        required: column.required === true,
        table,
        target,
        key: rowKey(table, target),
      };
    }
  }
}

/**
 * {@link checkAcrossRows} for a write of one live row (a sync job's target write): its problem, if it has one.
 * `stored` is the row's state before the write (or a map of stored rows read before, holding it if it
 * exists, and maybe rows it references).
 */
export async function checkOneRow(
  tx: Pick<RowWriteTransaction, 'getRows' | 'findUniqueHolders'>,
  schema: CompiledSchema,
  row: { readonly table: SchemaTable; readonly id: string; readonly values: RowValues },
  stored: StoredRow | ReadonlyMap<string, StoredRow> | undefined,
): Promise<ErrorDetail | undefined> {
  const key = rowKey(row.table.name, row.id);
  const read = new Map<string, StoredRow>();
  if (stored !== undefined && 'table' in stored) read.set(key, stored);
  else if (stored !== undefined) for (const [at, row] of stored) read.set(at, row);
  const problems = await checkAcrossRows(
    tx,
    {
      applied: [{ index: 0, table: row.table, id: row.id, key }],
      states: new Map([[key, { values: row.values, lastIndex: 0 }]]),
    },
    read,
    schema,
  );
  return problems.get(0);
}

/**
 * The one row writer: every path that writes synced rows (a device's push, a sync job's target write) builds
 * its rows here and does what follows a write here, through the write transaction's port
 * ({@link RowWriteTransaction}). The merge rules per column are in `column-merge.ts`; the rules across rows
 * are in `cross-row-checks.ts` (foreign keys, unique values) and `delete-references.ts` (what a delete leaves
 * to the rows that reference it); sequence numbers and checksums are kept by the port's `writeRows`.
 */
import type { SyncJobOperation, RowValues, SchemaTable } from '@tillsync/protocol';
import {
  planTriggeredJobs,
  type JobTypeRegistry,
  type NewJobRecord,
  type TriggeringChange,
} from '@tillsync/jobs';
import type { DeletedRowState, RowWrite, RowWriteTransaction } from '../storage/sync-store.js';
import { uniqueKeyOf } from './unique-rules.js';

export {
  checkAcrossRows,
  checkOneRow,
  visible,
  type AppliedUpsert,
  type DeletedTarget,
  type OutcomeState,
  type WriteOutcome,
} from './cross-row-checks.js';
export {
  mergeChange,
  restamp,
  stampOf,
  withCounters,
  type Merge,
  type MergeContext,
  type MergeState,
} from './column-merge.js';
export { DeletedRowReferences, type DeleteJudgement, type ReferenceToClear } from './delete-references.js';

/** A row's new state, before its scope and its keys under unique rules are found. */
export type RowState = Omit<RowWrite, 'uniqueValues' | 'scope'>;

/**
 * A row's new state as it is written: with its scope (PROTOCOL.md §7: the store its store column names, ''
 * for a table of the whole tenant; a tombstone stays where its row was, or goes to `writerScope`, the
 * writer's store, for a row the server never held) and its keys under its table's unique rules while it is
 * live.
 */
export function toRowWrite(table: SchemaTable | undefined, state: RowState, writerScope = ''): RowWrite {
  const values: RowValues | null = state.values;
  const before = state.previous?.values ?? null;
  return {
    ...state,
    scope: scopeOf(table, values, state.previous?.scope ?? writerScope),
    uniqueValues:
      values === null || !table
        ? []
        : table.uniqueRules.flatMap((rule) => {
            const key = uniqueKeyOf(rule, values);
            return key === null ? [] : [{ column: rule.name, value: key }];
          }),
    keepsUniqueValues:
      values !== null &&
      before !== null &&
      table !== undefined &&
      table.uniqueRules.every((rule) => uniqueKeyOf(rule, values) === uniqueKeyOf(rule, before)),
  };
}

/** The store whose devices receive a row of `table` with these values; `otherwise` for a tombstone. */
export function scopeOf(table: SchemaTable | undefined, values: RowValues | null, otherwise: string): string {
  if (values === null) return otherwise;
  const storeColumn = table?.storeColumn ?? null;
  if (storeColumn === null) return '';
  const store = values[storeColumn];
  return typeof store === 'string' ? store : otherwise;
}

/** When rows were written, and by which job if one did. */
export interface RowChangeContext {
  /** The job types that may be triggered; null: none are. */
  readonly types: JobTypeRegistry | null;
  readonly now: number;
  readonly writtenBy?: TriggeringChange['writtenBy'];
}

/**
 * What follows a write of synced rows, in the same transaction: a row that is deleted keeps its last state
 * (a job whose source was deleted can still read it), and the job types that name the table and the event
 * are enqueued. Insert: the row was not live before; update: it was; delete: a tombstone replaced a live
 * row. Returns the ids of the jobs enqueued.
 */
export async function afterRowsWritten(
  tx: RowWriteTransaction,
  context: RowChangeContext,
  writes: readonly RowWrite[],
): Promise<NewJobRecord[]> {
  const changes: TriggeringChange[] = [];
  const deleted: DeletedRowState[] = [];
  for (const write of writes) {
    const before = write.previous?.values ?? null;
    const event: SyncJobOperation | null =
      before === null
        ? write.values === null
          ? null
          : 'insert'
        : write.values === null
          ? 'delete'
          : 'update';
    if (event === null) continue;
    changes.push({
      table: write.table,
      id: write.id,
      event,
      before,
      after: write.values,
      deviceId: write.deviceId,
      writtenBy: context.writtenBy ?? null,
    });
    if (event === 'delete' && before !== null)
      deleted.push({
        table: write.table,
        id: write.id,
        values: before,
        updatedAt: write.previous?.updatedAt ?? '',
        deletedAt: context.now,
      });
  }
  if (deleted.length > 0) await tx.keepDeletedRows(deleted);
  const types = context.types;
  if (!types || !changes.some((change) => types.triggeredBy(change.table).length > 0)) return [];
  const jobs = planTriggeredJobs({
    tenantId: tx.tenantId,
    types,
    settings: await tx.readJobTypeSettings(),
    changes,
    now: context.now,
  });
  await tx.insertJobs(jobs);
  return jobs;
}

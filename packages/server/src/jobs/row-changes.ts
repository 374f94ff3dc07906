import type { Kysely } from 'kysely';
import type { SyncJobOperation } from '@tillsync/protocol';
import { planTriggeredJobs, type JobTypeRegistry, type TriggeringChange } from '@tillsync/jobs';
import type { RowWrite } from '../storage/sync-store.js';
import type { JobsDatabase } from './job-tables.js';
import { insertJobs } from './store/insert-jobs.js';
import { readTypeSettings } from './store/type-settings.js';

/** Where rows were written, and by which job if one did. */
export interface RowChangeContext {
  readonly tenantId: string;
  readonly types: JobTypeRegistry | null;
  readonly now: number;
  readonly writtenBy?: { readonly jobId: string; readonly jobType: string } | null;
}

/**
 * What follows a write of synced rows, in the same transaction: a row that is deleted keeps its last state
 * (a job whose source was deleted can still read it), and the job types that name the table and the event
 * are enqueued. Insert: the row was not live before; update: it was; delete: a tombstone replaced a live
 * row. Returns the ids of the jobs enqueued.
 */
export async function afterRowsWritten(
  trx: Kysely<JobsDatabase>,
  context: RowChangeContext,
  writes: readonly RowWrite[],
): Promise<string[]> {
  const changes: TriggeringChange[] = [];
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
  }
  const deleted = changes.filter((change) => change.event === 'delete');
  for (const change of deleted) {
    const row = {
      tenant_id: context.tenantId,
      tbl: change.table,
      id: change.id,
      data: JSON.stringify(change.before),
      updated_at:
        writes.find((write) => write.table === change.table && write.id === change.id)?.previous?.updatedAt ??
        '',
      deleted_at: context.now,
    };
    await trx
      .insertInto('sync_deleted_rows')
      .values(row)
      .onConflict((conflict) =>
        conflict
          .columns(['tenant_id', 'tbl', 'id'])
          .doUpdateSet({ data: row.data, updated_at: row.updated_at, deleted_at: row.deleted_at }),
      )
      .execute();
  }
  const types = context.types;
  if (!types || !changes.some((change) => types.triggeredBy(change.table).length > 0)) return [];
  const jobs = planTriggeredJobs({
    tenantId: context.tenantId,
    types,
    settings: await readTypeSettings(trx, context.tenantId),
    changes,
    now: context.now,
  });
  await insertJobs(trx, context.tenantId, jobs);
  return jobs.map((job) => job.id);
}

import type { Kysely } from 'kysely';
import type { CompiledSchema, HybridClock, RowValues, SyncJobQueue } from '@tillsync/protocol';
import type { JobTypeRegistry, TargetWrite, TargetWriteResult } from '@tillsync/jobs';
import { afterRowsWritten, checkOneRow, toRowWrite } from '../rows/row-writer.js';
import { SqlPushTransaction } from '../storage/sql-sync-store.js';
import { rowKey } from '../storage/sync-store.js';
import type { WriteBatch } from '../storage/tenant-write-batches.js';
import { withServerTables, type JobsDatabase } from './job-tables.js';
import { jobTablesOn } from './row-changes.js';

/** What a target write needs: the job's transaction and the rules of the synced tables. */
export interface TargetWriterContext {
  readonly trx: Kysely<JobsDatabase>;
  readonly tenantId: string;
  readonly schema: CompiledSchema;
  /** Stamps the rows jobs write, past the stamp of the row each replaces. */
  readonly clock: HybridClock;
  readonly now: () => number;
  readonly types: JobTypeRegistry | null;
  /** Where the scopes of the rows it writes (and of the states they replace) are gathered. */
  readonly writtenScopes?: Set<string>;
  /** Where the queues of the jobs its write triggers are gathered. */
  readonly enqueuedQueues?: Set<SyncJobQueue>;
  /**
   * The tenant's write transaction the job's end shares with pushes (`SqlEngine.tenantWrite`): its rows are
   * then stored with theirs, once for all, before it commits, and read through theirs meanwhile.
   */
  readonly batch?: WriteBatch;
}

/**
 * Writes a job's target row the way a push writes a device's: checked against the schema (values, foreign
 * keys, unique values), stamped by the server's clock, given the tenant's next sequence number, counted in
 * the table checksums, so devices pull it like any change. The job's changes are laid over the row as it is
 * now: fields the job left alone keep what a device may have pushed meanwhile, and a counter gets the job's
 * difference added (PROTOCOL.md §5). A problem throws, and the job's transaction rolls back whole.
 */
export async function writeTarget(
  context: TargetWriterContext,
  write: TargetWrite,
): Promise<TargetWriteResult> {
  const { trx, tenantId, schema } = context;
  const table = schema.table(write.table);
  if (!table)
    throw new Error(`there is no table "${write.table}" in the schema, so the job cannot write to it`);
  const rows = new SqlPushTransaction(
    withServerTables(trx),
    tenantId,
    { now: context.now, jobTables: jobTablesOn },
    context.batch,
  );
  // The rows the job's values reference are read with its target, so its foreign keys need no read of
  // their own while the tenant is locked.
  const read = await rows.getRows([
    { table: write.table, id: write.id },
    ...table.references.flatMap((column) => {
      const target = write.values?.[column.name];
      return typeof target === 'string' && column.references
        ? [{ table: column.references, id: target }]
        : [];
    }),
  ]);
  const stored = read.get(rowKey(write.table, write.id));
  const live = stored && stored.values !== null ? stored.values : null;

  let values: RowValues | null = null;
  if (write.values !== null) {
    const seen = write.seen?.values ?? null;
    const merged: Record<string, unknown> = live ? { ...live } : {};
    for (const column of new Set([...Object.keys(write.values), ...Object.keys(seen ?? {})])) {
      if (column === 'id') continue;
      const next = write.values[column] ?? null;
      const was = seen?.[column] ?? null;
      if (live && seen && JSON.stringify(next) === JSON.stringify(was)) continue;
      const spec = table.columnsByName.get(column);
      merged[column] =
        spec?.merge === 'counter' && live && seen && typeof next === 'number'
          ? Number(live[column] ?? 0) + (next - Number(was ?? 0))
          : next;
    }
    // Judged as a whole row (counters as plain values), the way a device's first push of a row is.
    const check = schema.checkValues(table, merged, false);
    if (!check.ok) throw new Error(`the job's ${write.table} ${write.id} is not valid: ${check.message}`);
    values = check.values as RowValues;
  } else if (live === null) {
    return { before: null, after: null };
  }

  if (values !== null) {
    const problem = await checkOneRow(rows, schema, { table, id: write.id, values }, read);
    if (problem) throw new Error(problem.message);
  }

  // Past the stamp it replaces, even one from a device whose clock runs ahead, so the job's write wins.
  if (stored) context.clock.receive(stored.updatedAt);
  const rowWrite = toRowWrite(table, {
    table: write.table,
    id: write.id,
    values,
    updatedAt: context.clock.issue(),
    deviceId: null,
    // A job writes the whole row with one stamp: every column carries it, so none is listed apart.
    stamps: null,
    previous: stored,
  });
  await rows.writeRows([rowWrite]);
  context.writtenScopes?.add(rowWrite.scope);
  if (stored) context.writtenScopes?.add(stored.scope);
  const enqueued = await afterRowsWritten(
    rows,
    {
      types: context.types,
      now: context.now(),
      writtenBy: { jobId: write.jobId, jobType: write.jobType, source: write.jobSource },
    },
    [rowWrite],
  );
  for (const job of enqueued) context.enqueuedQueues?.add(job.settings.queue);
  return { before: live, after: values };
}

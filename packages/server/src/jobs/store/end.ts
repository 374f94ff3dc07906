// The end of claimed jobs: their final status written, if their claim is still current, and their locks
// released. A job that also writes rows ends in its own transaction (./job-transaction.ts) with updateClaimed.
import { CompiledQuery, type Kysely } from 'kysely';
import type { SyncJobStatus } from '@tillsync/protocol';
import { ownLockKey, type JobClaim, type JobPatch } from '@tillsync/jobs';
import { toJobUpdate, type JobsDatabase } from '../job-tables.js';
import { byCodeUnits, chunks, rowsTable } from './job-rows.js';

/** An end of a claimed job that writes nothing else. */
export interface EndAsked {
  readonly claim: JobClaim;
  readonly from: readonly SyncJobStatus[];
  readonly patch: JobPatch;
  readonly signal: AbortSignal | null;
}

/**
 * Ends claimed jobs, an answer per end: false for a claim that is no longer current, `aborted` for one whose
 * signal was aborted before its write. Ends that set the same columns (every end a worker writes does)
 * take one update for all of them, each row's values from one bound JSON array and each row's claim checked
 * in the same statement, then one delete of their locks.
 */
export async function endClaimedJobs(
  trx: Kysely<JobsDatabase>,
  asked: readonly EndAsked[],
): Promise<Array<boolean | 'aborted'>> {
  const answers: Array<boolean | 'aborted'> = asked.map((end) => (end.signal?.aborted ? 'aborted' : false));
  const alike = new Map<string, Array<{ end: EndAsked; index: number; update: Record<string, unknown> }>>();
  asked.forEach((end, index) => {
    if (answers[index] === 'aborted') return;
    const update: Record<string, unknown> = toJobUpdate(end.patch);
    const key = `${end.from.join(',')}|${Object.keys(update).join(',')}`;
    const sameColumns = alike.get(key);
    if (sameColumns) sameColumns.push({ end, index, update });
    else alike.set(key, [{ end, index, update }]);
  });
  for (const ends of alike.values()) {
    const first = ends[0];
    if (!first) continue;
    const columns = Object.keys(first.update);
    // Rows in the order of their ids: two writers that lock rows of one table lock them in one order.
    ends.sort((a, b) => byCodeUnits(a.end.claim.jobId, b.end.claim.jobId));
    for (const chunk of chunks(ends)) {
      const { from } = first.end;
      const table = rowsTable(
        trx,
        chunk.map(({ end: { claim }, update }) => [
          claim.jobId,
          claim.tenantId,
          claim.attempt,
          claim.workerId,
          ...from,
          ...columns.map((column) => update[column] ?? null),
        ]),
        { padded: true },
      );
      // The statuses come from the rows too: bound as plain values, SQLite would read the jobs by status
      // (thousands queued) rather than each by its id.
      const statuses = from.map((_, position) => table.item('status', position + 4)).join(', ');
      const assignments = columns
        .map((column, position) => `"${column}" = ${table.item(column, position + 4 + from.length)}`)
        .join(', ');
      const { rows } = await trx.executeQuery<{ id: string; type: string; lock_key: string | null }>(
        CompiledQuery.raw(
          `update sync_jobs set ${assignments} from ${table.from}
          where sync_jobs.id = ${table.item('id', 0)} and sync_jobs.tenant_id = ${table.item('tenant_id', 1)}
            and sync_jobs.attempt = ${table.item('attempt', 2)}
            and sync_jobs.lease_owner = ${table.item('lease_owner', 3)} and sync_jobs.status in (${statuses})
          returning sync_jobs.id, sync_jobs.type, sync_jobs.lock_key`,
          table.parameters,
        ),
      );
      const ended = new Set(rows.map((row) => row.id));
      for (const { end, index } of chunk) answers[index] = ended.has(end.claim.jobId);
      // A job with a lock key of its own took no lock; any other may hold some (one without a known key
      // takes its target's when it starts).
      const locking = rows
        .filter((row) => row.lock_key !== ownLockKey(row.type, row.id))
        .map((row) => row.id);
      if (locking.length > 0) await trx.deleteFrom('sync_job_locks').where('job_id', 'in', locking).execute();
    }
  }
  return answers;
}

/** Writes `patch` to a claimed job if its claim is current and its status one of `from`; true if it did. */
export async function updateClaimed(
  trx: Kysely<JobsDatabase>,
  tenantId: string,
  claim: JobClaim,
  from: readonly SyncJobStatus[],
  patch: JobPatch,
): Promise<boolean> {
  const result = await trx
    .updateTable('sync_jobs')
    .set(toJobUpdate(patch))
    .where('id', '=', claim.jobId)
    .where('tenant_id', '=', tenantId)
    .where('attempt', '=', claim.attempt)
    .where('lease_owner', '=', claim.workerId)
    .where('status', 'in', [...from])
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

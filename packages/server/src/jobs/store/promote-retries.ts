// The promotion of failed jobs whose retry is due back to Queued.
import type { Kysely } from 'kysely';
import type { JobsDatabase } from '../job-tables.js';
import { hasStatus } from './job-rows.js';

/** Failed jobs whose `retryAfter` has come are queued again, as a new run. */
export async function promoteRetries(trx: Kysely<JobsDatabase>, now: number): Promise<number> {
  const result = await trx
    .updateTable('sync_jobs')
    .set((eb) => ({
      status: 'Queued',
      retry_count: eb('retry_count', '+', 1),
      retry_after: null,
      error_message: null,
      error_stack: null,
      started_at: null,
      ended_at: null,
      duration_ms: null,
      ready_at: now,
      dispatched_at: null,
    }))
    .where((eb) => hasStatus(eb, 'Failed'))
    .where('retry_after', 'is not', null)
    .where('retry_after', '<=', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

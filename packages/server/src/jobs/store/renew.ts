// The renewal of running jobs' leases, and of the locks they hold, while their worker lives.
import type { Kysely } from 'kysely';
import type { JobClaim } from '@tillsync/jobs';
import type { JobsDatabase } from '../job-tables.js';
import { chunks } from './job-rows.js';

/** Moves the lease of each claim (still its worker's) and its job's locks to `until`. */
export async function renewLeases(
  trx: Kysely<JobsDatabase>,
  claims: readonly JobClaim[],
  until: number,
): Promise<void> {
  const byWorker = new Map<string, string[]>();
  for (const claim of claims) {
    const ids = byWorker.get(claim.workerId);
    if (ids) ids.push(claim.jobId);
    else byWorker.set(claim.workerId, [claim.jobId]);
  }
  for (const [workerId, ids] of byWorker) {
    for (const chunk of chunks(ids)) {
      await trx
        .updateTable('sync_jobs')
        .set({ lease_expires_at: until })
        .where('id', 'in', chunk)
        .where('lease_owner', '=', workerId)
        .execute();
      await trx
        .updateTable('sync_job_locks')
        .set({ expires_at: until })
        .where('job_id', 'in', chunk)
        .execute();
    }
  }
}

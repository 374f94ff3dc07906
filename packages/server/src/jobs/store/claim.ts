// The claim of ready jobs by queue (the embedded queue's poll, a worker's batch).
import type { Kysely } from 'kysely';
import type { ClaimedJob, ClaimRequest } from '@tillsync/jobs';
import type { SqlEngine } from '../../storage/sql-engine.js';
import type { JobsDatabase } from '../job-tables.js';
import { JOB_COLUMNS, byLockKey, hasStatus, queuedAndReady, readJobRows } from './job-rows.js';
import { leaseJobs } from './lease.js';
import { promoteRetries } from './promote-retries.js';

/**
 * Claims up to `limit` jobs of the queues for a worker: retries that are due are queued first, then jobs
 * whose worker died (their lease ran out) are taken over, then ready jobs, oldest first; their locks are
 * taken in one order and they are leased ({@link leaseJobs}). The rows read stay held until the claim
 * commits (SQLite: the one writer; PostgreSQL: selected for update, skipping rows another claimer holds).
 */
export async function claimJobs(
  trx: Kysely<JobsDatabase>,
  engine: SqlEngine,
  request: ClaimRequest,
): Promise<ClaimedJob[]> {
  const { now, queues, limit } = request;
  await promoteRetries(trx, now);
  const recovered = await readJobRows(
    trx,
    engine,
    trx
      .selectFrom('sync_jobs')
      .select(JOB_COLUMNS)
      .where((eb) => hasStatus(eb, 'Started'))
      .where('lease_expires_at', '<', now)
      .where('queue', 'in', [...queues])
      .orderBy('lease_expires_at')
      .limit(limit)
      .$call((query) => engine.dialect.lockForUpdateSkipLocked(query)),
  );
  const ready =
    recovered.length >= limit
      ? []
      : await readJobRows(
          trx,
          engine,
          trx
            .selectFrom('sync_jobs')
            .select(JOB_COLUMNS)
            .where((eb) => queuedAndReady(eb, now))
            .where('queue', 'in', [...queues])
            // In the index's order (no sort of every waiting job): the read stops at its limit.
            .orderBy('ready_at')
            // Some may have busy locks: look a little further than asked.
            .limit((limit - recovered.length) * 2)
            // PostgreSQL: rows another claimer holds are skipped, not waited for.
            .$call((query) => engine.dialect.lockForUpdateSkipLocked(query)),
        );
  const candidates = [...recovered, ...ready].sort(byLockKey);
  return leaseJobs(trx, candidates, request, limit);
}

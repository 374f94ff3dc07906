// The start of a claimed job whose target became known after its claim: its locks taken, then Started.
import type { Kysely } from 'kysely';
import { RUNNABLE_STATUSES, type JobClaim, type StartResult } from '@tillsync/jobs';
import type { JobsDatabase } from '../job-tables.js';
import { lockId, releaseLocks, takeLocks } from './locks.js';

/** What {@link startJob} is asked: the claim, the locks it needs, when, and when to try again if busy. */
export interface StartAsked {
  readonly claim: JobClaim;
  readonly lockKeys: readonly string[];
  readonly now: number;
  /** When a job whose locks are busy is tried again. */
  readonly retryAt: number;
}

/**
 * Starts a claimed job holding `lockKeys` (the first becomes its lock key): `busy` when another job holds
 * one of them (the job lets go of its claim until `retryAt`), `lost` when the claim is no longer current.
 */
export async function startJob(trx: Kysely<JobsDatabase>, asked: StartAsked): Promise<StartResult> {
  const { claim, lockKeys, now, retryAt } = asked;
  const row = await trx
    .selectFrom('sync_jobs')
    .select(['status', 'lease_expires_at'])
    .where('id', '=', claim.jobId)
    .where('attempt', '=', claim.attempt)
    .where('lease_owner', '=', claim.workerId)
    .executeTakeFirst();
  if (!row || !RUNNABLE_STATUSES.includes(row.status)) return 'lost';
  const until = Number(row.lease_expires_at ?? now);
  const taken = await takeLocks(
    trx,
    lockKeys.map((key) => ({ tenantId: claim.tenantId, key, jobId: claim.jobId })),
    now,
    until,
  );
  if (taken.size < lockKeys.length) {
    await releaseLocks(
      trx,
      claim.jobId,
      lockKeys.filter((key) => taken.has(lockId(claim.tenantId, key))),
    );
    await trx
      .updateTable('sync_jobs')
      .set({ lease_owner: null, lease_expires_at: Math.round(retryAt), ready_at: Math.round(retryAt) })
      .where('id', '=', claim.jobId)
      .where('attempt', '=', claim.attempt)
      .execute();
    return 'busy';
  }
  const started = await trx
    .updateTable('sync_jobs')
    .set((eb) => ({
      status: 'Started',
      started_at: eb.fn.coalesce('started_at', eb.val(now)),
      lock_key: lockKeys[0] ?? null,
    }))
    .where('id', '=', claim.jobId)
    .where('attempt', '=', claim.attempt)
    .where('lease_owner', '=', claim.workerId)
    .where('status', 'in', [...RUNNABLE_STATUSES])
    .executeTakeFirst();
  if (Number(started.numUpdatedRows) !== 1) {
    await releaseLocks(trx, claim.jobId, lockKeys);
    return 'lost';
  }
  return 'started';
}

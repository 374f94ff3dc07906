// The start of a claimed job whose target became known after its claim: its locks taken, then Started.
import { sql, type Kysely, type UpdateQueryBuilder, type UpdateResult } from 'kysely';
import { RUNNABLE_STATUSES, type JobClaim, type StartResult } from '@tillsync/jobs';
import type { JobsDatabase } from '../job-tables.js';
import { lockIsFree, releaseLocks } from './locks.js';

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
 * A start that finds its locks free is two statements: the locks taken, for as long as the job's lease
 * lasts and only while its claim is current, then the job `Started`.
 */
export async function startJob(trx: Kysely<JobsDatabase>, asked: StartAsked): Promise<StartResult> {
  const { claim, lockKeys, now, retryAt } = asked;
  const taken = await takeClaimedLocks(trx, claim, lockKeys, now);
  if (taken.size < lockKeys.length) {
    await releaseLocks(trx, claim.jobId, [...taken]);
    // No lock taken may also mean the claim is gone: then this changes nothing, and the start is lost.
    const letGo = await whileClaimed(
      trx
        .updateTable('sync_jobs')
        .set({ lease_owner: null, lease_expires_at: Math.round(retryAt), ready_at: Math.round(retryAt) }),
      claim,
    ).executeTakeFirst();
    return Number(letGo.numUpdatedRows) === 1 ? 'busy' : 'lost';
  }
  const started = await whileClaimed(
    trx.updateTable('sync_jobs').set((eb) => ({
      status: 'Started',
      started_at: eb.fn.coalesce('started_at', eb.val(now)),
      lock_key: lockKeys[0] ?? null,
    })),
    claim,
  ).executeTakeFirst();
  if (Number(started.numUpdatedRows) !== 1) {
    await releaseLocks(trx, claim.jobId, lockKeys);
    return 'lost';
  }
  return 'started';
}

/** An update of the claimed job, made only while the claim is current and the job still to run. */
function whileClaimed(update: JobUpdate, claim: JobClaim): JobUpdate {
  return update
    .where('id', '=', claim.jobId)
    .where('attempt', '=', claim.attempt)
    .where('lease_owner', '=', claim.workerId)
    .where('status', 'in', [...RUNNABLE_STATUSES]);
}

type JobUpdate = UpdateQueryBuilder<JobsDatabase, 'sync_jobs', 'sync_jobs', UpdateResult>;

/**
 * Takes the job's locks (free when nobody holds them, their holder's lease ran out, or this job holds them)
 * until its lease runs out, in one statement that reads the lease from the job and takes nothing when its
 * claim is no longer current. Answers the keys taken.
 */
async function takeClaimedLocks(
  trx: Kysely<JobsDatabase>,
  claim: JobClaim,
  lockKeys: readonly string[],
  now: number,
): Promise<Set<string>> {
  if (lockKeys.length === 0) return new Set();
  const asked = sql.join(
    lockKeys.map((key) => sql`select cast(${key} as text) as lock_key`),
    sql` union all `,
  );
  const statuses = sql.join([...RUNNABLE_STATUSES]);
  const { rows } = await sql<{ lock_key: string }>`
    insert into sync_job_locks (tenant_id, lock_key, job_id, expires_at)
    select j.tenant_id, asked.lock_key, j.id, coalesce(j.lease_expires_at, ${now})
    from sync_jobs j cross join (${asked}) as asked
    where j.id = ${claim.jobId} and j.attempt = ${claim.attempt} and j.lease_owner = ${claim.workerId}
      and j.status in (${statuses})
    on conflict (tenant_id, lock_key) do update set job_id = excluded.job_id, expires_at = excluded.expires_at
      where ${lockIsFree(now)}
    returning lock_key`.execute(trx);
  return new Set(rows.map((row) => row.lock_key));
}

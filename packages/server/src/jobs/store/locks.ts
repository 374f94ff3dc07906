// The per-target locks of jobs: taken when a job starts, released when it ends (or its lock is busy).
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { JobsDatabase } from '../job-tables.js';
import { chunks } from './job-rows.js';

/** A lock a job asks for: its key within the job's tenant. */
export interface LockAsked {
  readonly tenantId: string;
  readonly key: string;
  readonly jobId: string;
}

/** How a lock is named across tenants, in what {@link takeLocks} answers: `tenant\nkey`. */
export function lockId(tenantId: string, key: string): string {
  return `${tenantId}\n${key}`;
}

/**
 * Takes locks, each for its job: a lock is free when nobody holds it, its holder's lease ran out, or the
 * same job holds it (a job taken over from a dead worker). Returns the locks taken, by {@link lockId}.
 */
export async function takeLocks(
  trx: Kysely<JobsDatabase>,
  locks: readonly LockAsked[],
  now: number,
  until: number,
): Promise<Set<string>> {
  const taken = new Set<string>();
  for (const chunk of chunks(locks, 100)) {
    const rows = await trx
      .insertInto('sync_job_locks')
      .values(
        chunk.map((lock) => ({
          tenant_id: lock.tenantId,
          lock_key: lock.key,
          job_id: lock.jobId,
          expires_at: until,
        })),
      )
      .onConflict((conflict) =>
        conflict
          .columns(['tenant_id', 'lock_key'])
          .doUpdateSet((eb) => ({
            job_id: eb.ref('excluded.job_id'),
            expires_at: eb.ref('excluded.expires_at'),
          }))
          .where(lockIsFree(now)),
      )
      .returning(['tenant_id', 'lock_key'])
      .execute();
    for (const row of rows) taken.add(lockId(row.tenant_id, row.lock_key));
  }
  return taken;
}

/**
 * When a held lock goes to the job that asks for it (`excluded`, in an insert's conflict): its holder's
 * lease ran out, or the asker holds it already (a job taken over from a dead worker).
 */
export function lockIsFree(now: number): RawBuilder<boolean> {
  return sql<boolean>`sync_job_locks.expires_at < ${now} or sync_job_locks.job_id = excluded.job_id`;
}

/** Lets go of every lock of these jobs, in statements of up to a thousand jobs. */
export async function releaseLocksOf(trx: Kysely<JobsDatabase>, jobIds: readonly string[]): Promise<void> {
  for (let start = 0; start < jobIds.length; start += 1000)
    await trx
      .deleteFrom('sync_job_locks')
      .where('job_id', 'in', jobIds.slice(start, start + 1000))
      .execute();
}

/** Lets go of some of a job's locks, by key; `keys` absent: all of them (the job ended). */
export async function releaseLocks(
  trx: Kysely<JobsDatabase>,
  jobId: string,
  keys?: readonly string[],
): Promise<void> {
  if (keys?.length === 0) return;
  let release = trx.deleteFrom('sync_job_locks').where('job_id', '=', jobId);
  if (keys) release = release.where('lock_key', 'in', [...keys]);
  await release.execute();
}

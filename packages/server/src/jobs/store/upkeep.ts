// What keeps the jobs' tables fit for years of use: the retention sweep, the counts /metrics shows, the
// ticks of job schedules and the webhook secrets of job types.
import { sql, type Kysely } from 'kysely';
import type { NewJobRecord } from '@tillsync/jobs';
import type { SyncJobQueue, SyncJobStatus } from '@tillsync/protocol';
import type { JobsDatabase } from '../job-tables.js';
import { insertJobs } from './insert-jobs.js';

/** The statuses of jobs that ended for good, but `Failed`, which counts only with no retry left. */
const ENDED_FOR_GOOD = ['Finished', 'Skipped', 'Relayed', 'No Target', 'Canceled'] as const;

/**
 * Deletes up to `limit` jobs that ended for good before `endedBefore`: `Finished`, `Skipped`, `Relayed`,
 * `No Target`, `Canceled`, and `Failed` with no retry left. A job still to run (`Pending`, `Queued`,
 * `Started`, a `Failed` one waiting for its retry) is never deleted, whatever its age. Returns how many.
 */
export async function deleteEndedJobs(
  trx: Kysely<JobsDatabase>,
  endedBefore: number,
  limit: number,
): Promise<number> {
  const endedForGood = trx
    .selectFrom('sync_jobs')
    .select('id')
    .where('ended_at', 'is not', null)
    .where('ended_at', '<', endedBefore)
    .where((eb) =>
      eb.or([
        eb('status', 'in', [...ENDED_FOR_GOOD]),
        eb.and([eb('status', '=', sql.lit('Failed')), eb('retry_after', 'is', null)]),
      ]),
    );
  const ids = (await endedForGood.limit(limit).execute()).map((row) => row.id);
  if (ids.length === 0) return 0;
  // The conditions again: on PostgreSQL a job may have been retried between the read and the delete.
  const result = await trx
    .deleteFrom('sync_jobs')
    .where('id', 'in', ids)
    .where('id', 'in', endedForGood)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Drops the ticks of schedules older than `before`: a tick that old never fires again. */
export async function deleteScheduleTicks(trx: Kysely<JobsDatabase>, before: number): Promise<void> {
  await trx.deleteFrom('sync_job_schedule_ticks').where('tick_at', '<', before).execute();
}

/** How many jobs there are, by status and queue (every tenant). */
export async function countJobs(
  db: Kysely<JobsDatabase>,
): Promise<Array<{ status: SyncJobStatus; queue: SyncJobQueue; count: number }>> {
  const rows = await db
    .selectFrom('sync_jobs')
    .select(['status', 'queue', (eb) => eb.fn.countAll<number | string>().as('count')])
    .groupBy(['status', 'queue'])
    .execute();
  return rows.map((row) => ({ status: row.status, queue: row.queue, count: Number(row.count) }));
}

/**
 * Enqueues a schedule's job for one tick, unless some process did already: the tick's row and the job are
 * inserted together, and a tick has one row. True when this call enqueued it.
 */
export async function fireScheduleTick(
  trx: Kysely<JobsDatabase>,
  tick: { readonly tenantId: string; readonly name: string; readonly at: number },
  job: NewJobRecord,
): Promise<boolean> {
  const inserted = await trx
    .insertInto('sync_job_schedule_ticks')
    .values({ tenant_id: tick.tenantId, name: tick.name, tick_at: tick.at, job_id: job.id })
    .onConflict((conflict) => conflict.columns(['tenant_id', 'name', 'tick_at']).doNothing())
    .returning('job_id')
    .executeTakeFirst();
  if (!inserted) return false;
  await insertJobs(trx, tick.tenantId, [job]);
  return true;
}

/** Saves a job type's webhook secret (its hash), replacing the one before. */
export async function saveWebhook(
  db: Kysely<JobsDatabase>,
  row: {
    readonly tenantId: string;
    readonly name: string;
    readonly secretHash: string;
    readonly now: number;
  },
): Promise<void> {
  await db
    .insertInto('sync_job_webhooks')
    .values({ tenant_id: row.tenantId, name: row.name, secret_hash: row.secretHash, created_at: row.now })
    .onConflict((conflict) =>
      conflict
        .columns(['tenant_id', 'name'])
        .doUpdateSet({ secret_hash: row.secretHash, created_at: row.now }),
    )
    .execute();
}

/** Turns a job type's webhook off. True when it had one. */
export async function deleteWebhook(
  db: Kysely<JobsDatabase>,
  tenantId: string,
  name: string,
): Promise<boolean> {
  const result = await db
    .deleteFrom('sync_job_webhooks')
    .where('tenant_id', '=', tenantId)
    .where('name', '=', name)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** The tenant whose webhook of this type has this secret hash, or null. */
export async function webhookTenant(
  db: Kysely<JobsDatabase>,
  name: string,
  secretHash: string,
): Promise<string | null> {
  const row = await db
    .selectFrom('sync_job_webhooks')
    .select('tenant_id')
    .where('secret_hash', '=', secretHash)
    .where('name', '=', name)
    .executeTakeFirst();
  return row?.tenant_id ?? null;
}

// The hand-over of ready jobs to BullMQ (marked dispatched), and when the next job will be ready.
import { sql, type Kysely } from 'kysely';
import type { SyncJobQueue } from '@tillsync/protocol';
import type { DispatchItem, JobStore } from '@tillsync/jobs';
import type { JobsDatabase } from '../job-tables.js';
import { chunks, hasStatus, queuedAndReady } from './job-rows.js';

/** What a dispatcher asks for (see `JobStore.takeForDispatch`). */
export type DispatchRequest = Parameters<JobStore['takeForDispatch']>[0];

/**
 * Marks up to `limit` jobs dispatched at `now` and returns them: with `recover`, first those BullMQ may
 * have lost (handed over longer than `redispatchAfterMs` ago and still waiting, or running under a lease
 * that ran out), then those it never had.
 */
export async function takeForDispatch(
  trx: Kysely<JobsDatabase>,
  request: DispatchRequest,
): Promise<DispatchItem[]> {
  const { now, queues, limit, recover = true } = request;
  const staleBefore = now - request.redispatchAfterMs;
  // Three reads, each a range of an index, rather than one that goes through every Queued job (those
  // handed over stay Queued until claimed): first what BullMQ may have lost, then what it never had.
  const waiting = trx
    .selectFrom('sync_jobs')
    .select(['id'])
    .where('queue', 'in', [...queues])
    .where((eb) => queuedAndReady(eb, now));
  // In the order of the index that holds them (by ready time, SQLite would read every Queued job).
  const stale = recover
    ? await waiting.where('dispatched_at', '<', staleBefore).orderBy('dispatched_at').limit(limit).execute()
    : [];
  const dead = recover
    ? await trx
        .selectFrom('sync_jobs')
        .select(['id'])
        .where('queue', 'in', [...queues])
        // A running job whose worker died and whose delivery BullMQ may have lost: hand it over again.
        .where((eb) => hasStatus(eb, 'Started'))
        .where('lease_expires_at', '<', now)
        .where((eb) =>
          eb.or([eb('dispatched_at', 'is', null), eb('dispatched_at', '<', eb.ref('lease_expires_at'))]),
        )
        .orderBy('lease_expires_at')
        .limit(limit - stale.length)
        .execute()
    : [];
  const fresh =
    stale.length + dead.length >= limit
      ? []
      : await waiting
          .where('dispatched_at', 'is', null)
          .orderBy('ready_at')
          .limit(limit - stale.length - dead.length)
          .execute();
  const rows = [...stale, ...dead, ...fresh];
  if (rows.length === 0) return [];
  const items: DispatchItem[] = [];
  for (const chunk of chunks(rows.map((row) => row.id))) {
    const marked = await trx
      .updateTable('sync_jobs')
      .set({ dispatched_at: now })
      .where('id', 'in', chunk)
      .returning(['id', 'queue', 'retry_count'])
      .execute();
    for (const row of marked)
      items.push({ jobId: row.id, queue: row.queue, retryCount: Number(row.retry_count) });
  }
  return items;
}

/** When a job of the queues is next ready to run (queued, a retry due, a lease running out); null if never. */
export async function nextReadyAt(
  db: Kysely<JobsDatabase>,
  queues: readonly SyncJobQueue[],
): Promise<number | null> {
  // One statement (an idle queue asks at every poll), each part a range of an index.
  const queued = db
    .selectFrom('sync_jobs')
    .select(
      sql<
        number | null
      >`min(case when lease_expires_at is not null and lease_expires_at > ready_at then lease_expires_at else ready_at end)`.as(
        'at',
      ),
    )
    .where((eb) => hasStatus(eb, 'Queued'))
    .where('queue', 'in', [...queues]);
  const retries = db
    .selectFrom('sync_jobs')
    .select((eb) => eb.fn.min('retry_after').as('at'))
    .where((eb) => hasStatus(eb, 'Failed'))
    .where('retry_after', 'is not', null)
    .where('queue', 'in', [...queues]);
  const leases = db
    .selectFrom('sync_jobs')
    .select((eb) => eb.fn.min('lease_expires_at').as('at'))
    .where((eb) => hasStatus(eb, 'Started'))
    .where('queue', 'in', [...queues]);
  const next = await db
    .selectFrom(queued.unionAll(retries).unionAll(leases).as('next'))
    .select((eb) => eb.fn.min('at').as('at'))
    .executeTakeFirst();
  return next?.at === null || next?.at === undefined ? null : Number(next.at);
}

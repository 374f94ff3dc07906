// The lease of claimed jobs to a worker, the last step of both claims (by queue, ./claim.ts; by id,
// ./claim-by-id.ts): their locks taken, then one update that leases them and starts those holding their lock.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { ownLockKey, type ClaimedJob, type ClaimRequest } from '@tillsync/jobs';
import { paddedToPowerOfTwo } from '../../storage/sql-values.js';
import type { JobRow, JobsDatabase } from '../job-tables.js';
import { chunks, claimedJob } from './job-rows.js';
import { lockRetryAt } from './lock-retry.js';
import { lockId, takeLocks } from './locks.js';

/** What a worker asks of a claim: its id, when, and for how long. */
export type LeaseRequest = Omit<ClaimRequest, 'limit' | 'queues'>;

/**
 * Leases candidate jobs to a worker, at most `limit`, in a few statements for the whole batch: one insert
 * of the locks of the jobs whose lock is known (the job is ours, so taking over a lock its dead worker held
 * is safe), one that lets go of those whose lock is busy, to wait a moment, and one update that leases the
 * others and starts those holding their lock. The candidates must have been read in this transaction, which
 * holds them (see {@link leaseReady}), so two workers that picked the same job never both get it. A job whose
 * lock is not known is leased only: it starts once its controller has found its target.
 */
export async function leaseJobs(
  trx: Kysely<JobsDatabase>,
  candidates: readonly JobRow[],
  request: LeaseRequest,
  limit: number,
): Promise<ClaimedJob[]> {
  const { now, workerId, leaseMs } = request;
  const until = now + leaseMs;
  const picked: JobRow[] = [];
  const seenLocks = new Set<string>();
  for (const row of candidates) {
    if (picked.length >= limit) break;
    if (row.lock_key !== null) {
      // Two candidates on one target: only the first may start now.
      const lock = lockId(row.tenant_id, row.lock_key);
      if (seenLocks.has(lock)) continue;
      seenLocks.add(lock);
    }
    picked.push(row);
  }
  // The candidates stay as read until this transaction ends (SQLite: it is the one writer; PostgreSQL: their
  // rows were selected for update), so their locks are taken first, and each job is leased and, holding
  // its lock, started, in one update. A lock key of the job's own is nobody else's: no lock to take.
  const locking = picked.filter(
    (row) => row.lock_key !== null && row.lock_key !== ownLockKey(row.type, row.id),
  );
  const taken = await takeLocks(
    trx,
    locking.map((row) => ({ tenantId: row.tenant_id, key: row.lock_key ?? '', jobId: row.id })),
    now,
    until,
  );
  const busy = new Set(
    locking.filter((row) => !taken.has(lockId(row.tenant_id, row.lock_key ?? ''))).map((row) => row.id),
  );
  for (const chunk of chunks([...busy])) {
    const retryAt = Math.round(lockRetryAt(request));
    await trx
      .updateTable('sync_jobs')
      // A lease that ends soon, owned by nobody: a Queued job waits until then, and a Started one (taken
      // over from a dead worker) is claimable again then.
      .set({ lease_owner: null, lease_expires_at: retryAt, ready_at: retryAt })
      .where('id', 'in', chunk)
      .execute();
  }
  const leased = await leaseReady(
    trx,
    picked.filter((row) => !busy.has(row.id)),
    workerId,
    now,
    until,
  );
  return leased.map((row) => claimedJob(row, workerId, row.lock_key !== null));
}

/**
 * What a lease returns of each job: the columns a claim changes, and those that may have changed since the
 * candidate was read (its other columns stay as they were while the job waits to run).
 */
const LEASE_COLUMNS = [
  'id',
  'status',
  'attempt',
  'recoveries',
  'lease_owner',
  'lease_expires_at',
  'ready_at',
  'started_at',
  'retry_count',
  'lock_key',
  'dispatched_at',
] as const;
const LEASE_RETURNING = sql.join(LEASE_COLUMNS.map((column) => sql.ref(column)));
type LeasedColumns = Pick<JobRow, (typeof LEASE_COLUMNS)[number]>;

/**
 * What a lease sets: the worker and the end of its lease, one more attempt (and one more recovery for a job
 * taken over from a dead worker). A job whose lock is known starts with its lease: the lock is its own, or
 * was taken before.
 */
export function leaseAssignments(workerId: string, now: number, until: number): RawBuilder<unknown> {
  return sql`lease_owner = ${workerId}, lease_expires_at = ${until}, attempt = attempt + 1,
    recoveries = case when status = 'Started' then recoveries + 1 else recoveries end,
    status = case when lock_key is null then status else 'Started' end,
    started_at = case when lock_key is null then started_at else coalesce(started_at, ${now}) end`;
}

/**
 * Leases jobs in one update per chunk, by id alone. The rows must be held by this transaction since they
 * were read and found claimable (SQLite: it is the one writer; PostgreSQL: they were selected for update),
 * so no other worker can have leased them meanwhile. Checking their state again in the update would let
 * SQLite read them through a status index, every waiting job, instead of each by its id. Returns the
 * leased rows in the order given.
 */
async function leaseReady(
  trx: Kysely<JobsDatabase>,
  rows: readonly JobRow[],
  workerId: string,
  now: number,
  until: number,
): Promise<JobRow[]> {
  const leased = new Map<string, LeasedColumns>();
  for (const chunk of chunks(rows.map((row) => row.id))) {
    // A raw statement rather than Kysely's builder, which would build and compile it inside the write lock
    // each time; its list of ids padded, so that SQLite keeps the statement prepared.
    const { rows: updated } =
      await sql<LeasedColumns>`update sync_jobs set ${leaseAssignments(workerId, now, until)}
      where id in (${sql.join(paddedToPowerOfTwo(chunk))})
      returning ${LEASE_RETURNING}`.execute(trx);
    for (const row of updated) leased.set(row.id, row);
  }
  return rows.flatMap((row) => {
    const done = leased.get(row.id);
    return done ? [{ ...row, ...done }] : [];
  });
}

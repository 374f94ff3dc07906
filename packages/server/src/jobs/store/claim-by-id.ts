// The claim of single jobs by id (BullMQ deliveries): the claims asked for at one moment by one worker,
// answered together in one write.
import { sql, type Kysely } from 'kysely';
import { RUNNABLE_STATUSES, type ClaimByIdResult, type ClaimedJob } from '@tillsync/jobs';
import { queryRows, type SqlEngine } from '../../storage/sql-engine.js';
import { paddedToPowerOfTwo } from '../../storage/sql-values.js';
import type { JobRow, JobsDatabase } from '../job-tables.js';
import {
  JOB_COLUMNS,
  JOB_RETURNING,
  byLockKey,
  chunks,
  claimedJob,
  readJobRows,
  toJobRowFromValues,
} from './job-rows.js';
import { leaseAssignments, leaseJobs, type LeaseRequest } from './lease.js';
import { lockRetryAt } from './lock-retry.js';

/** A claim of one job by id. */
export interface ClaimByIdAsked {
  readonly jobId: string;
  readonly request: LeaseRequest;
}

/**
 * Claims jobs by id, an answer per claim asked for, in a few statements for all of them:
 *
 * 1. Most jobs take no lock of a shared target and are free to run: one update leases those, checking in
 *    itself that they may be leased ({@link leaseFreeJobs}).
 * 2. The others are read (held until the claim commits), each judged ({@link judgeClaim}), and those that
 *    may run are leased with their locks ({@link leaseJobs}).
 *
 * A job asked for twice is claimed once; the other claim hears `later`, like any claim of a job whose lease
 * is live. The asks of one write are one worker's, with one lease length (see `SqlJobStore.claimById`).
 */
export async function claimByIds(
  trx: Kysely<JobsDatabase>,
  asked: readonly ClaimByIdAsked[],
  engine: SqlEngine,
): Promise<ClaimByIdResult[]> {
  const first = asked[0];
  if (!first) return [];
  // The lease counts from the latest of their moments.
  const request = asked.reduce(
    (latest, claim) => (claim.request.now > latest.now ? claim.request : latest),
    first.request,
  );
  const results: Array<ClaimByIdResult | undefined> = asked.map(() => undefined);
  /** The ask that claims each job: another ask of the same job hears `later`. */
  const claiming = new Set<string>();
  const claimsFirst = (claim: ClaimByIdAsked, index: number): boolean => {
    if (!claiming.has(claim.jobId)) {
      claiming.add(claim.jobId);
      return true;
    }
    results[index] = { kind: 'later', at: lockRetryAt(claim.request) };
    return false;
  };

  // 1. The jobs free to run.
  const free = await leaseFreeJobs(trx, [...new Set(asked.map((claim) => claim.jobId))], request, engine);
  const leasedFree = new Map(
    free.map((row) => [row.id, claimedJob(row, request.workerId, row.lock_key !== null)]),
  );
  const rest: number[] = [];
  asked.forEach((claim, index) => {
    const job = leasedFree.get(claim.jobId);
    if (!job) rest.push(index);
    else if (claimsFirst(claim, index)) results[index] = { kind: 'claimed', job };
  });

  // 2. The others, judged one by one.
  if (rest.length > 0) {
    const restIds = [...new Set(rest.map((index) => asked[index]?.jobId ?? ''))];
    const rows = await readHeldJobs(trx, engine, restIds);
    const heldElsewhere = await jobsHeldElsewhere(
      trx,
      engine,
      restIds.filter((id) => !rows.has(id)),
    );
    const candidates = new Map<string, number>();
    for (const index of rest) {
      const claim = asked[index];
      if (!claim) continue;
      const row = rows.get(claim.jobId);
      const verdict = judgeClaim(row, heldElsewhere.has(claim.jobId), claim.request);
      if (verdict) results[index] = verdict;
      else if (row && claimsFirst(claim, index)) candidates.set(claim.jobId, index);
    }
    const ordered = [...candidates.keys()]
      .map((id) => rows.get(id))
      .filter((row): row is JobRow => row !== undefined)
      .sort(byLockKey);
    const leased: ClaimedJob[] = await leaseJobs(trx, ordered, request, ordered.length);
    for (const job of leased) {
      const index = candidates.get(job.record.id);
      if (index !== undefined) results[index] = { kind: 'claimed', job };
    }
    // Not leased (another worker was first) or its lock busy: asked again in a moment.
    for (const index of candidates.values()) results[index] ??= { kind: 'later', at: lockRetryAt(request) };
  }
  return results.map((result) => result ?? { kind: 'none' });
}

/**
 * Leases, in one update per chunk, those of the jobs that are free to run now, and starts those whose lock
 * is their own; returns them whole. Free to run: queued and ready, or started under a lease that ran out
 * (its worker died), and taking no lock of a shared target (its lock key is unknown yet, or its own:
 * `ownLockKey`, `@type#id`, written out here: were the two to differ, such jobs would only take the
 * slower way of the others). PostgreSQL first locks the rows, skipping those another transaction holds (its
 * claim, its end, a cancel: the read that follows judges them), so a claim never waits on another and two
 * claims never wait on each other in a cycle. The ids are listed in the update itself, so that each job is
 * read by its key: joined to a locking subquery instead, PostgreSQL scanned every job of a young table, whose
 * statistics were not gathered yet.
 */
async function leaseFreeJobs(
  trx: Kysely<JobsDatabase>,
  ids: readonly string[],
  request: LeaseRequest,
  engine: SqlEngine,
): Promise<JobRow[]> {
  const { now, workerId, leaseMs } = request;
  const runnable = sql.join(RUNNABLE_STATUSES.map((status) => sql.lit(status)));
  const rows: JobRow[] = [];
  for (const listed of chunks(ids)) {
    const chunk = await engine.dialect.lockIdsSkipLocked(trx, 'sync_jobs', listed);
    if (chunk.length === 0) continue;
    const query = sql<JobRow>`update sync_jobs set ${leaseAssignments(workerId, now, now + leaseMs)}
      where id in (${sql.join(paddedToPowerOfTwo(chunk))}) and status in (${runnable})
        and (lease_expires_at is null or lease_expires_at < ${now})
        and (status = 'Started' or ready_at is null or ready_at <= ${now})
        and (lock_key is null or lock_key = '@' || type || '#' || id)
      returning ${JOB_RETURNING}`.compile(trx);
    rows.push(...(await queryRows(engine, trx, query, (arrays) => arrays.map(toJobRowFromValues))));
  }
  return rows;
}

/** The jobs with these ids, by id, held until the claim commits; PostgreSQL skips one another transaction holds. */
async function readHeldJobs(
  trx: Kysely<JobsDatabase>,
  engine: SqlEngine,
  ids: readonly string[],
): Promise<Map<string, JobRow>> {
  const rows = new Map<string, JobRow>();
  for (const chunk of chunks(ids)) {
    const found = await readJobRows(
      trx,
      engine,
      trx
        .selectFrom('sync_jobs')
        .select(JOB_COLUMNS)
        .where('id', 'in', chunk)
        .$call((query) => engine.dialect.lockForUpdateSkipLocked(query)),
    );
    for (const row of found) rows.set(row.id, row);
  }
  return rows;
}

/**
 * Of jobs a locking read did not answer, those that exist: held by another transaction (its claim or its
 * end) rather than missing. None where a read skips no row.
 */
async function jobsHeldElsewhere(
  trx: Kysely<JobsDatabase>,
  engine: SqlEngine,
  skipped: readonly string[],
): Promise<Set<string>> {
  const held = new Set<string>();
  if (!engine.dialect.skipsLockedRows) return held;
  for (const chunk of chunks(skipped)) {
    const found = await trx.selectFrom('sync_jobs').select('id').where('id', 'in', chunk).execute();
    for (const row of found) held.add(row.id);
  }
  return held;
}

/**
 * The answer to a claim of a job that was not free to run, or null when it may be leased now: `later` for
 * one another transaction holds (asked again in a moment), whose lease is live or whose time has not come;
 * `none` for one that is missing or not runnable.
 */
function judgeClaim(
  row: JobRow | undefined,
  heldElsewhere: boolean,
  request: LeaseRequest,
): ClaimByIdResult | null {
  const { now } = request;
  if (heldElsewhere) return { kind: 'later', at: lockRetryAt(request) };
  if (!row || !RUNNABLE_STATUSES.includes(row.status)) return { kind: 'none' };
  const leaseEnds = row.lease_expires_at === null ? null : Number(row.lease_expires_at);
  if (leaseEnds !== null && leaseEnds >= now) return { kind: 'later', at: leaseEnds + 1 };
  if (row.status === 'Queued' && row.ready_at !== null && Number(row.ready_at) > now)
    return { kind: 'later', at: Number(row.ready_at) };
  return null;
}

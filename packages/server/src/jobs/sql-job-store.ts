import type { Kysely } from 'kysely';
import { HybridClock, type CompiledSchema, type SyncJobQueue, type SyncJobStatus } from '@tillsync/protocol';
import type {
  ClaimByIdResult,
  ClaimedJob,
  ClaimRequest,
  DispatchItem,
  JobClaim,
  JobPatch,
  JobStore,
  JobTypeRegistry,
  NewJobRecord,
  SettingsOverrides,
  StartResult,
  TenantJobStore,
} from '@tillsync/jobs';
import { RUNNABLE_STATUSES } from '@tillsync/jobs';
import type { Durability, SqlEngine } from '../storage/sql-engine.js';
import { GroupCommit, SharedWrite, type Outcome } from './group-commit.js';
import type { JobTables, JobsDatabase } from './job-tables.js';
import { claimByIds, type ClaimByIdAsked } from './store/claim-by-id.js';
import { claimJobs } from './store/claim.js';
import { nextReadyAt, takeForDispatch, type DispatchRequest } from './store/dispatch.js';
import { endClaimedJobs, type EndAsked } from './store/end.js';
import { insertJobsAsked, type JobsToInsert } from './store/insert-jobs.js';
import { chunks } from './store/job-rows.js';
import type { LeaseRequest } from './store/lease.js';
import { promoteRetries } from './store/promote-retries.js';
import { renewLeases } from './store/renew.js';
import { startJob } from './store/start.js';
import { SqlTenantJobStore } from './store/tenant-job-store.js';
import {
  countJobs,
  deleteEndedJobs,
  deleteScheduleTicks,
  deleteWebhook,
  fireScheduleTick,
  saveWebhook,
  webhookTenant,
} from './store/upkeep.js';

/** What a caller passes to {@link SqlJobStore}. */
export interface SqlJobStoreOptions {
  /** Target writes are checked against it. */
  readonly schema: CompiledSchema;
  /** The types whose triggers a job's own writes fire (a job writing products enqueues the catalog job). */
  readonly types?: JobTypeRegistry;
  /** @defaultValue `Date.now` */
  readonly now?: () => number;
  /**
   * The node id of the stamps this process gives the rows jobs write: one per process, so two workers never
   * issue the same stamp. @defaultValue `server-` and 6 random hex digits
   */
  readonly nodeId?: string;
  /**
   * Told, after a job's transaction that wrote synced rows committed, of the scopes the rows were written in
   * or left (PROTOCOL.md §7: '' for the tenant's rows, else store ids): the server's live notices.
   */
  readonly onRowsWritten?: (tenantId: string, scopes: readonly string[]) => void;
  /**
   * Told, after a job's transaction committed, of the queues of the jobs its row writes triggered: the
   * queues to wake (a job that wrote rows no type follows wakes none).
   */
  readonly onJobsEnqueued?: (queues: ReadonlySet<SyncJobQueue>) => void;
}

/**
 * Sync jobs on any {@link SqlEngine}: the facade over the job store's transitions, one file each in
 * `./store/` (claim, claim-by-id, lease, start, end, renew, dispatch, promote-retries, locks, insert-jobs).
 * Claims, starts and final commits are conditional updates in write transactions, so they are atomic on
 * SQLite (one writer) and on PostgreSQL (row locks, re-checked conditions) alike; what differs between the
 * two is the engine's dialect.
 */
export class SqlJobStore implements JobStore {
  readonly #engine: SqlEngine;
  readonly #options: Required<Omit<SqlJobStoreOptions, 'types' | 'onRowsWritten' | 'onJobsEnqueued'>> & {
    readonly types: JobTypeRegistry | null;
    readonly onRowsWritten: ((tenantId: string, scopes: readonly string[]) => void) | null;
    readonly onJobsEnqueued: ((queues: ReadonlySet<SyncJobQueue>) => void) | null;
  };
  readonly #clock: HybridClock;
  readonly #groupCommit: GroupCommit;
  readonly #settingsReads = new Map<string, Promise<Map<string, SettingsOverrides>>>();
  /**
   * Claims of single jobs asked for at the same moment (BullMQ deliveries) by one worker share one write, by
   * worker and lease length: a write takes the locks of one worker's jobs, in one order, so that on
   * PostgreSQL two writes of workers sharing this store (as in tests) never wait on each other in a cycle.
   */
  readonly #claimsById = new Map<string, SharedWrite<ClaimByIdAsked, ClaimByIdResult>>();
  /** Ends of jobs that write nothing else, asked for at the same moment, share one write. */
  readonly #endsClaimed: SharedWrite<EndAsked, boolean | 'aborted'>;
  readonly #jobInserts: SharedWrite<JobsToInsert, Outcome>;

  constructor(engine: SqlEngine, options: SqlJobStoreOptions) {
    this.#engine = engine;
    this.#groupCommit = new GroupCommit(engine);
    this.#endsClaimed = new SharedWrite(
      (work) => this.#groupCommit.run(work, 'lazy'),
      (trx, asked) => endClaimedJobs(trx.withTables<JobTables>(), asked),
    );
    // An enqueue is answered to its caller, so it is on disk first; but nobody reads it before then as a
    // device reads synced rows, so the enqueues of a moment share one sync of the log, outside the write lock.
    this.#jobInserts = new SharedWrite(
      (work) => this.#groupCommit.run(work, 'group-synced'),
      (trx, asked) => insertJobsAsked(trx.withTables<JobTables>(), asked),
    );
    const now = options.now ?? Date.now;
    this.#options = Object.freeze({
      schema: options.schema,
      types: options.types ?? null,
      onRowsWritten: options.onRowsWritten ?? null,
      onJobsEnqueued: options.onJobsEnqueued ?? null,
      now,
      nodeId: options.nodeId ?? `server-${Math.random().toString(16).slice(2, 8).padEnd(6, '0')}`,
    });
    this.#clock = new HybridClock({ nodeId: this.#options.nodeId, now });
  }

  get #db(): Kysely<JobsDatabase> {
    return this.#engine.db.withTables<JobTables>();
  }

  /**
   * Writes of the same moment share one commit (see {@link GroupCommit}), each still all or nothing.
   * `durability`: `lazy` for the queue's own transitions, which write no synced rows and tell nobody: one a
   * power cut drops is redone (a claim or start by the lease that lapses, an end by the job run again, a
   * schedule's tick by the next look at the schedule).
   */
  #write<T>(work: (trx: Kysely<JobsDatabase>) => Promise<T>, durability: Durability = 'synced'): Promise<T> {
    return this.#groupCommit.run((trx) => work(trx.withTables<JobTables>()), durability);
  }

  /** Up to `limit` tenant ids, for commands that pick the only tenant of a database. */
  async tenantIds(limit: number): Promise<string[]> {
    const rows = await this.#engine.db
      .selectFrom('tenants')
      .select('id')
      .orderBy('created_at')
      .limit(limit)
      .execute();
    return rows.map((row) => row.id);
  }

  /** The tenants whose owner set a schedule on some job type. */
  async tenantsWithSchedules(): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('sync_job_type_settings')
      .select('tenant_id')
      .distinct()
      .where('settings', 'like', '%"schedule"%')
      .execute();
    return rows.map((row) => row.tenant_id);
  }

  /** The tenant a job belongs to, or null when there is no such job. */
  async tenantOfJob(jobId: string): Promise<string | null> {
    const row = await this.#db
      .selectFrom('sync_jobs')
      .select('tenant_id')
      .where('id', '=', jobId)
      .executeTakeFirst();
    return row?.tenant_id ?? null;
  }

  /** Of these job ids, those whose jobs exist and are still to run (Queued or Started). */
  async stillRunnable(ids: readonly string[]): Promise<Set<string>> {
    const runnable = new Set<string>();
    for (const chunk of chunks([...ids]))
      for (const row of await this.#db
        .selectFrom('sync_jobs')
        .select('id')
        .where('id', 'in', chunk)
        .where('status', 'in', [...RUNNABLE_STATUSES])
        .execute())
        runnable.add(row.id);
    return runnable;
  }

  /**
   * Drops the last states of rows deleted before `deletedBefore` (what a job reads as the source of a
   * delete). Runs with the tombstone purge, on the same retention: a job about a delete that old is not
   * coming any more.
   */
  async purgeDeletedRows(deletedBefore: number): Promise<number> {
    const result = await this.#write((trx) =>
      trx.deleteFrom('sync_deleted_rows').where('deleted_at', '<', deletedBefore).executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }

  /**
   * Deletes the jobs that ended for good before `endedBefore` (see {@link deleteEndedJobs}), `batchSize` at
   * a time, each batch its own short write, so devices' pushes and workers' commits get the write lock
   * between two batches. Returns how many it deleted.
   */
  async deleteEndedJobs(endedBefore: number, batchSize = 500): Promise<number> {
    let deleted = 0;
    for (;;) {
      const batch = await this.#write((trx) => deleteEndedJobs(trx, endedBefore, batchSize));
      deleted += batch;
      if (batch < batchSize) break;
      // A pause between batches: whatever waits for the write lock goes first.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await this.#write((trx) => deleteScheduleTicks(trx, endedBefore));
    return deleted;
  }

  /** How many jobs there are, by status and queue. */
  countJobs(): ReturnType<typeof countJobs> {
    return countJobs(this.#db);
  }

  /** Enqueues a schedule's job for one tick unless another process did; true when this call did. */
  fireScheduleTick(
    tick: { readonly tenantId: string; readonly name: string; readonly at: number },
    job: NewJobRecord,
  ): Promise<boolean> {
    return this.#write((trx) => fireScheduleTick(trx, tick, job), 'lazy');
  }

  /** Saves (replacing) a job type's webhook secret hash for a tenant. */
  saveWebhook(row: Parameters<typeof saveWebhook>[1]): Promise<void> {
    return this.#write((trx) => saveWebhook(trx, row));
  }

  deleteWebhook(tenantId: string, name: string): Promise<boolean> {
    return this.#write((trx) => deleteWebhook(trx, tenantId, name));
  }

  /** The tenant whose webhook of type `name` has this secret hash, or null. */
  webhookTenant(name: string, secretHash: string): Promise<string | null> {
    return webhookTenant(this.#db, name, secretHash);
  }

  forTenant(tenantId: string): TenantJobStore {
    return new SqlTenantJobStore(this.#engine, tenantId, {
      schema: this.#options.schema,
      types: this.#options.types,
      now: this.#options.now,
      clock: this.#clock,
      groupCommit: this.#groupCommit,
      jobInserts: this.#jobInserts,
      settingsReads: this.#settingsReads,
      onRowsWritten: this.#options.onRowsWritten,
      onJobsEnqueued: this.#options.onJobsEnqueued,
    });
  }

  claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    return this.#write((trx) => claimJobs(trx, this.#engine, request), 'lazy');
  }

  /**
   * Claims of single jobs asked for at the same moment (BullMQ deliveries) share one transaction and a few
   * statements: the claims wait here until the write they are part of begins.
   */
  claimById(jobId: string, request: LeaseRequest): Promise<ClaimByIdResult> {
    const key = `${request.workerId}\n${request.leaseMs}`;
    let claims = this.#claimsById.get(key);
    if (!claims) {
      const engine = this.#engine;
      claims = new SharedWrite(
        (work) => this.#groupCommit.run(work, 'lazy'),
        (trx, asked) => claimByIds(trx.withTables<JobTables>(), asked, engine),
      );
      this.#claimsById.set(key, claims);
    }
    return claims.ask({ jobId, request });
  }

  start(claim: JobClaim, lockKeys: readonly string[], now: number, retryAt: number): Promise<StartResult> {
    return this.#write((trx) => startJob(trx, { claim, lockKeys, now, retryAt }), 'lazy');
  }

  endClaimed(
    claim: JobClaim,
    from: readonly SyncJobStatus[],
    patch: JobPatch,
    signal?: AbortSignal,
  ): Promise<boolean> {
    return this.#endsClaimed.ask({ claim, from, patch, signal: signal ?? null }).then((ended) => {
      if (ended === 'aborted') throw signal?.reason;
      return ended;
    });
  }

  async renewLeases(claims: readonly JobClaim[], until: number): Promise<void> {
    if (claims.length === 0) return;
    await this.#write((trx) => renewLeases(trx, claims, until), 'lazy');
  }

  promoteDueRetries(now: number): Promise<number> {
    return this.#write((trx) => promoteRetries(trx, now), 'lazy');
  }

  takeForDispatch(request: DispatchRequest): Promise<DispatchItem[]> {
    return this.#write((trx) => takeForDispatch(trx, request), 'lazy');
  }

  nextReadyAt(queues: readonly SyncJobQueue[]): Promise<number | null> {
    return nextReadyAt(this.#db, queues);
  }
}

// A job's own transaction: the end of a job that writes rows (its target written, the jobs that triggers
// enqueued, its status set if its claim is current, its locks released), all or nothing.
import type { Kysely } from 'kysely';
import type { CompiledSchema, HybridClock, SyncJobQueue, SyncJobStatus } from '@tillsync/protocol';
import type {
  JobClaim,
  JobPatch,
  JobTransaction,
  JobTypeRegistry,
  NewJobRecord,
  RowReader,
  TargetWrite,
  TargetWriteResult,
} from '@tillsync/jobs';
import type { SqlEngine } from '../../storage/sql-engine.js';
import type { WriteBatch } from '../../storage/tenant-write-batches.js';
import { withServerTables, type JobsDatabase } from '../job-tables.js';
import { writeTarget } from '../target-writer.js';
import { endClaimedJobs, updateClaimed, type EndAsked } from './end.js';
import { insertJobs } from './insert-jobs.js';
import { releaseLocks, releaseLocksOf } from './locks.js';
import { SqlRowReader } from './row-reader.js';

/** What a job's writes of rows are checked against and stamped with. */
export interface JobWriteContext {
  readonly schema: CompiledSchema;
  readonly types: JobTypeRegistry | null;
  readonly now: () => number;
  readonly clock: HybridClock;
  /** Told of the scopes a committed job transaction wrote synced rows in (see `SqlJobStoreOptions`). */
  readonly onRowsWritten: ((tenantId: string, scopes: readonly string[]) => void) | null;
  /** Told of the queues of the jobs a committed job transaction's row writes triggered. */
  readonly onJobsEnqueued: ((queues: ReadonlySet<SyncJobQueue>) => void) | null;
}

/** A {@link JobTransaction} inside one write transaction of the engine. */
export class SqlJobTransaction implements JobTransaction {
  readonly rows: RowReader;
  /** The scopes its target writes wrote rows in or moved rows out of, for the notice once it commits. */
  readonly writtenScopes = new Set<string>();
  /** The queues of the jobs its target writes triggered, to wake once it commits. */
  readonly enqueuedQueues = new Set<SyncJobQueue>();
  readonly #trx: Kysely<JobsDatabase>;
  readonly #engine: SqlEngine;
  readonly #tenantId: string;
  readonly #context: JobWriteContext;
  #tenantLocked = false;

  /** The tenant's write transaction this one shares (`SqlEngine.tenantWrite`), which holds its lock already. */
  readonly #batch: WriteBatch | undefined;

  /**
   * `batch`: the job's transaction is a piece of the tenant's write transaction (`SqlEngine.tenantWrite`),
   * which holds the tenant's lock already; the job locks it lets go of are deleted once for every job in it.
   */
  constructor(
    trx: Kysely<JobsDatabase>,
    engine: SqlEngine,
    tenantId: string,
    context: JobWriteContext,
    options: { readonly batch?: WriteBatch } = {},
  ) {
    this.#batch = options.batch;
    this.#tenantLocked = options.batch !== undefined;
    this.#trx = trx;
    this.#engine = engine;
    this.#tenantId = tenantId;
    this.#context = context;
    this.rows = new SqlRowReader(() => withServerTables(trx), engine.dialect, tenantId, context.schema);
  }

  async insertJobs(records: readonly NewJobRecord[]): Promise<void> {
    await insertJobs(this.#trx, this.#tenantId, records);
  }

  async updateClaimed(claim: JobClaim, from: readonly SyncJobStatus[], patch: JobPatch): Promise<boolean> {
    if (this.#batch === undefined) return updateClaimed(this.#trx, this.#tenantId, claim, from, patch);
    // Shared with pushes: the ends of the jobs in it are written in one statement before it commits, and a
    // claim that is no longer current then rolls it back; each piece runs again alone, where this job's
    // end rolls back by itself and its run is lost (as an end that found its claim gone at once).
    this.#ends().asked.push({ claim, from, patch, signal: null });
    return true;
  }

  async writeTarget(write: TargetWrite): Promise<TargetWriteResult> {
    // A tenant's rows take sequence numbers in commit order (PostgreSQL locks the tenant; SQLite has one writer).
    if (!this.#tenantLocked) {
      await this.#engine.lockTenant(withServerTables(this.#trx), this.#tenantId);
      this.#tenantLocked = true;
    }
    return writeTarget(
      {
        trx: this.#trx,
        tenantId: this.#tenantId,
        schema: this.#context.schema,
        clock: this.#context.clock,
        now: this.#context.now,
        types: this.#context.types,
        writtenScopes: this.writtenScopes,
        enqueuedQueues: this.enqueuedQueues,
        ...(this.#batch === undefined ? {} : { batch: this.#batch }),
      },
      write,
    );
  }

  async releaseLocks(jobId: string): Promise<void> {
    if (this.#batch === undefined) return releaseLocks(this.#trx, jobId);
    this.#ends().released.push(jobId);
  }

  /** The job ends of the shared transaction, written before it commits. */
  #ends(): JobEnds {
    const trx = this.#trx;
    const batch = this.#batch!;
    return batch.slot(JobEnds, () => {
      const ends = new JobEnds();
      batch.beforeCommit(() => ends.write(trx));
      return ends;
    });
  }
}

/** A claim that ended while its job's end waited in a shared transaction: the transaction rolls back. */
class ClaimEndedError extends Error {
  override readonly name = 'ClaimEndedError';
}

/**
 * The ends of the jobs of one shared transaction and the locks they let go of, written at its end: the ends
 * in one statement ({@link endClaimedJobs}, which lets go of the locks of the jobs it ended), the locks of
 * any other job in one more.
 */
class JobEnds {
  readonly asked: EndAsked[] = [];
  readonly released: string[] = [];

  async write(trx: Kysely<JobsDatabase>): Promise<void> {
    const answers = this.asked.length === 0 ? [] : await endClaimedJobs(trx, this.asked);
    const lost = answers.findIndex((ended) => ended !== true);
    if (lost !== -1)
      throw new ClaimEndedError(`the claim of job ${this.asked[lost]?.claim.jobId} is no longer current`);
    const ended = new Set(this.asked.map((end) => end.claim.jobId));
    const others = this.released.filter((jobId) => !ended.has(jobId));
    if (others.length > 0) await releaseLocksOf(trx, others);
  }
}

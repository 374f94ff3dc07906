import type { CompiledSchema, SyncJobQueue } from '@tillsync/protocol';
import {
  BullMqJobQueue,
  EmbeddedJobQueue,
  JobExecutor,
  JobTypeRegistry,
  RUNNABLE_STATUSES,
  SyncJobs,
  silentLogger,
  type EndedJob,
  type JobLogger,
  type JobQueue,
  type SyncJobType,
} from '@tillsync/jobs';
import { afterRowsWritten } from '../rows/row-writer.js';
import type { RowWrite, RowWriteTransaction } from '../storage/sync-store.js';
import { builtinJobTypes } from './builtin-job-types.js';
import type { SqlJobStore, SqlJobStoreOptions } from './sql-job-store.js';

/** What a caller passes to the server (and to `tillsync worker`) about sync jobs. */
export interface ServerJobsOptions {
  /** The shop's own job types, beside the built-in ones (`serve --jobs FILE`). */
  readonly types?: readonly unknown[];
  /**
   * Run jobs on BullMQ at this Redis: the server hands ready jobs over and `tillsync worker --redis-url`
   * processes run them. Without it, the server runs jobs itself (the embedded queue). The server's live
   * change notices travel through the same Redis (pub/sub, channels under `bullmqPrefix`).
   */
  readonly redisUrl?: string | null;
  /** The prefix of BullMQ's Redis keys. @defaultValue `tillsync` */
  readonly bullmqPrefix?: string;
  /** Where `product-web-catalog` sends products (`TILLSYNC_CATALOG_WEBHOOK`); unset disables that type. */
  readonly catalogWebhookUrl?: string | null;
  /** The queues this process serves. @defaultValue all three */
  readonly queues?: readonly SyncJobQueue[];
  /** Jobs run at once (per queue on BullMQ). @defaultValue 8 */
  readonly concurrency?: number;
  /** How long a worker's claim on a job lasts without renewal. @defaultValue 30,000 */
  readonly leaseMs?: number;
  /** How often idle queues look for ready jobs. @defaultValue 250 */
  readonly pollIntervalMs?: number;
  /** Whether this process runs jobs (false: it only records and hands them over). @defaultValue true */
  readonly run?: boolean;
}

/** The resolved, frozen form of {@link ServerJobsOptions}. */
export interface ServerJobsConfig {
  readonly types: readonly unknown[];
  readonly redisUrl: string | null;
  readonly bullmqPrefix: string;
  readonly catalogWebhookUrl: string | null;
  readonly queues: readonly SyncJobQueue[];
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly pollIntervalMs: number;
  readonly run: boolean;
}

export function resolveJobsConfig(options: ServerJobsOptions = {}): ServerJobsConfig {
  return Object.freeze({
    types: Object.freeze([...(options.types ?? [])]),
    redisUrl: options.redisUrl ?? null,
    bullmqPrefix: options.bullmqPrefix ?? 'tillsync',
    catalogWebhookUrl: options.catalogWebhookUrl ?? null,
    queues: Object.freeze([...(options.queues ?? ['default', 'short', 'long'])]),
    concurrency: options.concurrency ?? 8,
    leaseMs: options.leaseMs ?? 30_000,
    pollIntervalMs: options.pollIntervalMs ?? 250,
    run: options.run ?? true,
  });
}

/**
 * The job types of a server: the built-in ones its schema has tables for, then the shop's own. A type whose
 * controller is incomplete, or a name used twice, throws a `JobTypeError` naming it.
 */
export function jobTypesFor(schema: CompiledSchema, config: ServerJobsConfig): JobTypeRegistry {
  const registry = new JobTypeRegistry();
  const fits = (type: SyncJobType): boolean =>
    schema.table(type.sourceTable) !== undefined &&
    (type.targetTable === undefined || schema.table(type.targetTable) !== undefined);
  for (const type of builtinJobTypes({ catalogWebhookUrl: config.catalogWebhookUrl }))
    if (fits(type)) registry.register(type);
  for (const type of config.types) registry.register(type);
  return registry;
}

/** What {@link ServerJobs} is built from. */
export interface ServerJobsInput {
  readonly config: ServerJobsConfig;
  readonly schema: CompiledSchema;
  readonly now: () => number;
  readonly openStore: (options: SqlJobStoreOptions) => SqlJobStore;
  readonly logger?: JobLogger;
  /** Told of every job this process runs to an end (the server's metrics). */
  readonly onJobEnded?: (ended: EndedJob) => void;
}

/**
 * Sync jobs inside a server or worker process: the types, the store, the owner's API and the queue that
 * runs (or hands over) the jobs, plus the hook that enqueues jobs in a push's own transaction.
 */
export class ServerJobs {
  readonly types: JobTypeRegistry;
  readonly store: SqlJobStore;
  readonly jobs: SyncJobs;
  readonly queue: JobQueue | null;
  readonly #now: () => number;

  constructor(input: ServerJobsInput) {
    const { config } = input;
    const logger = input.logger ?? silentLogger;
    this.#now = input.now;
    this.types = jobTypesFor(input.schema, config);
    this.store = input.openStore({ schema: input.schema, types: this.types, now: input.now });
    const executor = config.run
      ? new JobExecutor({
          store: this.store,
          types: this.types,
          now: input.now,
          leaseMs: config.leaseMs,
          logger,
          ...(input.onJobEnded ? { onJobEnded: input.onJobEnded } : {}),
        })
      : null;
    const common = {
      store: this.store,
      queues: config.queues,
      concurrency: config.concurrency,
      pollIntervalMs: config.pollIntervalMs,
      logger,
    };
    this.queue = config.redisUrl
      ? new BullMqJobQueue({
          ...common,
          redisUrl: config.redisUrl,
          prefix: config.bullmqPrefix,
          // BullMQ hands a dead worker's delivery on as soon as the database lease lets another take it over.
          lockDurationMs: config.leaseMs,
          stalledIntervalMs: config.leaseMs,
          ...(executor ? { executor } : {}),
        })
      : executor
        ? new EmbeddedJobQueue({ ...common, executor })
        : null;
    this.jobs = new SyncJobs({
      store: this.store,
      types: this.types,
      now: input.now,
      onQueued: () => this.queue?.wake(),
    });
  }

  /**
   * The push hook for one push: in the push's own transaction it enqueues the jobs its changes trigger (and
   * keeps the last state of deleted rows), so a push that commits has its jobs, one rolled back has none,
   * and a retried push (which writes nothing) enqueues nothing twice. It collects the ids of the jobs it
   * enqueued, so the push can wait for them ({@link settle}) before it answers.
   */
  triggersFor(enqueued: string[]): (tx: RowWriteTransaction, writes: readonly RowWrite[]) => Promise<void> {
    return syncJobTriggers(
      () => this.types,
      () => this.#now(),
      () => this.queue?.wake(),
      (ids) => enqueued.push(...ids),
    );
  }

  /**
   * Waits, at most `timeoutMs`, until these jobs have ended, when this process runs them (the embedded
   * queue). A push waits for the jobs it triggered, so the device's next pull already carries the rows they
   * write (its sale and the day's new `daily_sales`), rather than a pull later; a slow job only delays the
   * answer by the bound, never fails it.
   */
  async settle(jobIds: readonly string[], tenantId: string, timeoutMs = 2_000): Promise<void> {
    if (jobIds.length === 0 || this.queue?.kind !== 'embedded') return;
    const store = this.store.forTenant(tenantId);
    // Wall time, not the injected clock: this bounds how long a device waits for its answer, and a test's
    // clock that stands still must not hold a push forever.
    const deadline = Date.now() + timeoutMs;
    let waiting = [...jobIds];
    while (waiting.length > 0 && Date.now() < deadline) {
      const records = await Promise.all(waiting.map((id) => store.getJob(id)));
      waiting = waiting.filter((_, index) => {
        const status = records[index]?.status;
        return status !== undefined && RUNNABLE_STATUSES.includes(status);
      });
      if (waiting.length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async start(): Promise<void> {
    await this.queue?.start();
  }

  async stop(): Promise<void> {
    await this.queue?.stop();
  }
}

/**
 * The push hook of automatic triggers (`PushOptions.afterWrite`): in the push's own transaction, keeps the
 * last state of deleted rows and enqueues the job types that name the changed tables and events.
 */
export function syncJobTriggers(
  types: () => JobTypeRegistry,
  now: () => number,
  onEnqueued?: () => void,
  collect?: (jobIds: readonly string[]) => void,
): (tx: RowWriteTransaction, writes: readonly RowWrite[]) => Promise<void> {
  return async (tx, writes) => {
    const enqueued = await afterRowsWritten(tx, { types: types(), now: now() }, writes);
    collect?.(enqueued);
    // The wake runs after this turn; the queue's claim waits for the push's transaction to commit.
    if (enqueued.length > 0 && onEnqueued) setImmediate(onEnqueued);
  };
}

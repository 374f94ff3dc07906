import type { CompiledSchema, SyncJob, SyncJobQueue } from '@tillsync/protocol';
import {
  BullMqJobQueue,
  DEFAULT_CONCURRENCY,
  EmbeddedJobQueue,
  JobExecutor,
  JobTypeRegistry,
  SyncJobError,
  SyncJobs,
  silentLogger,
  type EndedJob,
  type JobLogger,
  type JobQueue,
  type QueueConcurrency,
  type SyncJobType,
} from '@tillsync/jobs';
import { createHash, randomBytes } from 'node:crypto';
import { afterRowsWritten } from '../rows/row-writer.js';
import type { RowWrite, RowWriteTransaction } from '../storage/sync-store.js';
import { builtinJobTypes } from './builtin-job-types.js';
import { JobEnds } from './job-ends.js';
import { fireDueSchedules } from './job-schedules.js';
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
  /** Jobs run at once, per queue: one number for each queue, or one per queue. @defaultValue 8 each */
  readonly concurrency?: QueueConcurrency;
  /**
   * Jobs that ended for good (`Finished`, `Skipped`, `Relayed`, `No Target`, `Canceled`, `Failed` with no
   * retry left) are deleted this many days after their end; 0 keeps them. @defaultValue 30
   */
  readonly retentionDays?: number;
  /** How often the retention sweep runs. @defaultValue 600,000 (10 minutes) */
  readonly sweepIntervalMs?: number;
  /** How often job schedules are looked at. @defaultValue 1,000 */
  readonly scheduleIntervalMs?: number;
  /** How long a worker's claim on a job lasts without renewal. @defaultValue 30,000 */
  readonly leaseMs?: number;
  /** How often idle queues look for ready jobs. @defaultValue 250 */
  readonly pollIntervalMs?: number;
  /** Whether this process runs jobs (false: it only records and hands them over). @defaultValue true */
  readonly run?: boolean;
  /**
   * How long a push waits for the jobs it triggered to end before it answers, so that the device's pull in
   * the same cycle carries the rows they write; 0 answers at once (those rows reach the devices by their live
   * notice or next cycle). Only jobs this process runs are waited for. @defaultValue 2,000
   */
  readonly pushWaitMs?: number;
}

/** The resolved, frozen form of {@link ServerJobsOptions}. */
export interface ServerJobsConfig {
  readonly types: readonly unknown[];
  readonly redisUrl: string | null;
  readonly bullmqPrefix: string;
  readonly catalogWebhookUrl: string | null;
  readonly queues: readonly SyncJobQueue[];
  readonly concurrency: QueueConcurrency;
  readonly retentionDays: number;
  readonly sweepIntervalMs: number;
  readonly scheduleIntervalMs: number;
  readonly leaseMs: number;
  readonly pollIntervalMs: number;
  readonly run: boolean;
  readonly pushWaitMs: number;
}

export function resolveJobsConfig(options: ServerJobsOptions = {}): ServerJobsConfig {
  return Object.freeze({
    types: Object.freeze([...(options.types ?? [])]),
    redisUrl: options.redisUrl ?? null,
    bullmqPrefix: options.bullmqPrefix ?? 'tillsync',
    catalogWebhookUrl: options.catalogWebhookUrl ?? null,
    queues: Object.freeze([...(options.queues ?? ['default', 'short', 'long'])]),
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    retentionDays: options.retentionDays ?? 30,
    sweepIntervalMs: options.sweepIntervalMs ?? 600_000,
    scheduleIntervalMs: options.scheduleIntervalMs ?? 1_000,
    leaseMs: options.leaseMs ?? 30_000,
    pollIntervalMs: options.pollIntervalMs ?? 250,
    run: options.run ?? true,
    pushWaitMs: options.pushWaitMs ?? 2_000,
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
  /** Told of the scopes each committed job transaction wrote synced rows in (the live notices). */
  readonly onRowsWritten?: (tenantId: string, scopes: readonly string[]) => void;
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
  readonly config: ServerJobsConfig;
  readonly #now: () => number;
  readonly #logger: JobLogger;
  readonly #timers: Array<ReturnType<typeof setInterval>> = [];
  /** The upkeep (a sweep, a look at the schedules) under way, so that a stop waits for it. */
  readonly #upkeep = new Set<Promise<unknown>>();
  /** What pushes wait on for the jobs they triggered ({@link settle}). */
  readonly #ends: JobEnds;

  constructor(input: ServerJobsInput) {
    const { config } = input;
    const logger = input.logger ?? silentLogger;
    this.config = config;
    this.#logger = logger;
    this.#now = input.now;
    this.types = jobTypesFor(input.schema, config);
    this.store = input.openStore({
      schema: input.schema,
      types: this.types,
      now: input.now,
      ...(input.onRowsWritten ? { onRowsWritten: input.onRowsWritten } : {}),
      // The rows a job wrote may have triggered jobs of other types: their queues look now.
      onJobsEnqueued: (queues) => {
        for (const queue of queues) this.queue?.wake(queue);
      },
    });
    const store = this.store;
    this.#ends = new JobEnds((ids) => store.stillRunnable(ids));
    const executor = config.run
      ? new JobExecutor({
          store: this.store,
          types: this.types,
          now: input.now,
          leaseMs: config.leaseMs,
          logger,
          onJobEnded: (ended) => {
            this.#ends.ended(ended.id, ended.status);
            input.onJobEnded?.(ended);
          },
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
      onQueued: (queue) => this.queue?.wake(queue),
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
      (queues) => {
        for (const queue of queues) this.queue?.wake(queue);
      },
      (ids) => enqueued.push(...ids),
    );
  }

  /**
   * Waits, at most `pushWaitMs`, until these jobs have ended, when this process runs them (the embedded
   * queue). A push waits for the jobs it triggered, so the device's next pull already carries the rows they
   * write (its sale and the day's new `daily_sales`), rather than a pull later; a slow job only delays the
   * answer by the bound, never fails it.
   */
  async settle(jobIds: readonly string[]): Promise<void> {
    const { pushWaitMs } = this.config;
    if (jobIds.length === 0 || pushWaitMs === 0 || this.queue?.kind !== 'embedded') return;
    await this.#ends.wait(jobIds, pushWaitMs);
  }

  /**
   * Deletes the jobs that ended for good more than `retentionDays` ago (none with 0), in small batches.
   * Returns how many.
   */
  async sweep(): Promise<number> {
    const days = this.config.retentionDays;
    if (days <= 0) return 0;
    const deleted = await this.store.deleteEndedJobs(this.#now() - days * 86_400_000);
    if (deleted > 0) this.#logger.info({ deleted }, 'deleted sync jobs past their retention');
    return deleted;
  }

  /** Enqueues the jobs of schedules whose tick has come (once per tick across every process). */
  async fireSchedules(): Promise<number> {
    const fired = await fireDueSchedules({
      store: this.store,
      types: this.types,
      now: this.#now(),
      logger: this.#logger,
    });
    if (fired > 0) this.queue?.wake();
    return fired;
  }

  /**
   * Gives a job type a new webhook secret for a tenant (the one before stops working) and returns it: it is
   * shown once, only its SHA-256 is kept. `POST /api/sync-jobs/webhook/:type` with it enqueues the type.
   */
  async newWebhookSecret(tenantId: string, typeName: string): Promise<string> {
    this.#typeOrThrow(typeName);
    const secret = `whsec_${randomBytes(24).toString('base64url')}`;
    await this.store.saveWebhook({
      tenantId,
      name: typeName,
      secretHash: hashSecret(secret),
      now: this.#now(),
    });
    return secret;
  }

  /** Turns a job type's webhook off for a tenant. */
  async deleteWebhook(tenantId: string, typeName: string): Promise<void> {
    this.#typeOrThrow(typeName);
    await this.store.deleteWebhook(tenantId, typeName);
  }

  /**
   * A webhook call: the secret names the tenant; the job is enqueued with trigger `webhook` (naming the row
   * the call gives as `trigger`, if any). Null when no tenant's webhook of that type has this secret.
   */
  async enqueueFromWebhook(
    typeName: string,
    secret: string,
    body: {
      readonly source?: { readonly table?: string; readonly id: string };
      readonly context?: Record<string, unknown>;
      readonly trigger?: { readonly table?: string; readonly id: string };
    },
  ): Promise<SyncJob | null> {
    const tenantId = await this.store.webhookTenant(typeName, hashSecret(secret));
    if (tenantId === null) return null;
    return this.jobs.forTenant(tenantId).enqueue({
      type: typeName,
      ...(body.source ? { source: body.source } : {}),
      ...(body.context ? { context: body.context } : {}),
      trigger: {
        type: 'webhook',
        ...(body.trigger
          ? { id: body.trigger.id, ...(body.trigger.table ? { table: body.trigger.table } : {}) }
          : {}),
      },
    });
  }

  #typeOrThrow(name: string): void {
    if (!this.types.get(name))
      throw new SyncJobError('NOT_FOUND', `there is no job type "${name}"`, { typeName: name });
  }

  async start(): Promise<void> {
    await this.queue?.start();
    this.#every(this.config.scheduleIntervalMs, () => this.fireSchedules(), 'job schedules');
    if (this.config.retentionDays > 0) {
      this.#every(this.config.sweepIntervalMs, () => this.sweep(), 'the retention sweep of sync jobs');
    }
  }

  async stop(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.length = 0;
    await Promise.all([...this.#upkeep]);
    await this.queue?.stop();
  }

  /** Runs `work` every `ms`, never two at once; its errors are logged. */
  #every(ms: number, work: () => Promise<unknown>, what: string): void {
    let running: Promise<unknown> | null = null;
    const timer = setInterval(() => {
      if (running) return;
      running = work()
        .catch((error: unknown) => this.#logger.error({ err: error }, `${what} failed`))
        .finally(() => {
          if (running) this.#upkeep.delete(running);
          running = null;
        });
      this.#upkeep.add(running);
    }, ms);
    timer.unref();
    this.#timers.push(timer);
  }
}

/** The SHA-256 of a webhook secret, as stored. */
function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * The push hook of automatic triggers (`PushOptions.afterWrite`): in the push's own transaction, keeps the
 * last state of deleted rows and enqueues the job types that name the changed tables and events.
 */
export function syncJobTriggers(
  types: () => JobTypeRegistry,
  now: () => number,
  onEnqueued?: (queues: ReadonlySet<SyncJobQueue>) => void,
  collect?: (jobIds: readonly string[]) => void,
): (tx: RowWriteTransaction, writes: readonly RowWrite[]) => Promise<void> {
  return async (tx, writes) => {
    const enqueued = await afterRowsWritten(tx, { types: types(), now: now() }, writes);
    collect?.(enqueued.map((job) => job.id));
    // The wake runs after this turn, for the queues that have new jobs only (a busy chain's sales would
    // otherwise have every idle queue look for jobs at each push); the claim waits for the commit.
    if (enqueued.length > 0 && onEnqueued) {
      const queues = new Set(enqueued.map((job) => job.settings.queue));
      setImmediate(() => onEnqueued(queues));
    }
  };
}

import type { SyncJobQueue } from '@tillsync/protocol';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { JobExecutor } from '../executor.js';
import type { DispatchItem, JobStore } from '../job-store.js';
import { silentLogger, type JobLogger } from '../logger.js';
import { jitteredRetryAt, systemJobScheduler } from '../scheduler.js';
import {
  ALL_QUEUES,
  Nudge,
  Slots,
  concurrencyPerQueue,
  sleep,
  type JobQueue,
  type QueueConcurrency,
} from './job-queue.js';

/**
 * What travels in a BullMQ job: only ids; the jobs themselves are in the database. A delivery carries one
 * job, or a group of jobs of one queue when many are ready at once (BullMQ's own work per delivery is
 * then paid once for the group).
 */
interface Delivery {
  readonly jobIds: readonly string[];
}

/** A round hands its jobs over in at least this many deliveries, so that they spread over the workers. */
const MIN_DELIVERIES_PER_ROUND = 8;
/**
 * A job whose claim failed (the database was unreachable, or chose it to break a deadlock) is delivered
 * again after this, plus up to as much again: deliveries that failed together are not tried together again.
 */
const CLAIM_ERROR_RETRY_MS = 1_000;

/** What a caller passes to {@link BullMqJobQueue}. */
export interface BullMqJobQueueOptions {
  readonly store: JobStore;
  /** Runs the delivered jobs; without one, this process only dispatches (the server does, workers run). */
  readonly executor?: JobExecutor;
  /** `redis://host:port/db`. */
  readonly redisUrl: string;
  /** Namespaces the Redis keys, so several deployments (or tests) share one Redis. @defaultValue `tillsync` */
  readonly prefix?: string;
  /** The queues this process serves. @defaultValue all three */
  readonly queues?: readonly SyncJobQueue[];
  /** Jobs run at once per queue, in this process: one number for each, or one per queue. @defaultValue 8 each */
  readonly concurrency?: QueueConcurrency;
  /**
   * The most jobs one delivery carries when many are ready at once (jobs of the `long` queue always go one
   * by one, so that they spread over the workers). @defaultValue 16
   */
  readonly jobsPerDelivery?: number;
  /** Move ready jobs from the database into BullMQ. @defaultValue true */
  readonly dispatch?: boolean;
  /** How often the dispatcher looks for ready jobs when nothing woke it. @defaultValue 250 */
  readonly pollIntervalMs?: number;
  /** A job handed over this long ago and still not run is handed over again. @defaultValue 300,000 */
  readonly redispatchAfterMs?: number;
  /** BullMQ's lock on a delivery; a worker that dies lets it go after this. @defaultValue 30,000 */
  readonly lockDurationMs?: number;
  /** How often BullMQ looks for deliveries whose worker died. @defaultValue 30,000 */
  readonly stalledIntervalMs?: number;
  /** @defaultValue silent */
  readonly logger?: JobLogger;
}

/** The resolved, frozen form of {@link BullMqJobQueueOptions}. */
export interface BullMqJobQueueConfig {
  readonly prefix: string;
  readonly queues: readonly SyncJobQueue[];
  readonly concurrency: Readonly<Record<SyncJobQueue, number>>;
  readonly jobsPerDelivery: number;
  readonly dispatch: boolean;
  readonly pollIntervalMs: number;
  readonly redispatchAfterMs: number;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
}

/**
 * The transport for many workers on many machines: BullMQ queues `default`, `short` and `long` on Redis.
 *
 * Two roles, either or both in a process. The dispatcher moves ready job ids from the database into the
 * BullMQ queue of their `queue` setting: one job per delivery, under the BullMQ job id `<job id>_<retry
 * count>` (so one run of a job is never in BullMQ twice), or, when many are ready at once, groups of up to
 * `jobsPerDelivery`. Workers run what they are handed with the same {@link JobExecutor} as the embedded
 * queue, at most `concurrency` jobs of a queue at once: the claim in the database makes a job run once even
 * if it is delivered twice, BullMQ's stalled-job check hands a dead worker's delivery to another, and the
 * database lease lets that one take the job over.
 */
export class BullMqJobQueue implements JobQueue {
  readonly kind = 'bullmq';
  readonly config: BullMqJobQueueConfig;
  readonly #store: JobStore;
  readonly #executor: JobExecutor | null;
  readonly #logger: JobLogger;
  readonly #redisUrl: string;
  readonly #nudge = new Nudge();
  readonly #clients: Redis[] = [];
  readonly #queues = new Map<SyncJobQueue, Queue<Delivery>>();
  readonly #workers: Array<Worker<Delivery>> = [];
  #dispatcher: Promise<void> | null = null;
  #stopping = false;

  constructor(options: BullMqJobQueueOptions) {
    this.config = Object.freeze({
      prefix: options.prefix ?? 'tillsync',
      queues: Object.freeze([...(options.queues ?? ALL_QUEUES)]),
      concurrency: concurrencyPerQueue(options.concurrency),
      jobsPerDelivery: options.jobsPerDelivery ?? 16,
      dispatch: options.dispatch ?? true,
      pollIntervalMs: options.pollIntervalMs ?? 250,
      redispatchAfterMs: options.redispatchAfterMs ?? 300_000,
      lockDurationMs: options.lockDurationMs ?? 30_000,
      stalledIntervalMs: options.stalledIntervalMs ?? 30_000,
    });
    this.#store = options.store;
    this.#executor = options.executor ?? null;
    this.#logger = options.logger ?? silentLogger;
    this.#redisUrl = options.redisUrl;
  }

  async start(): Promise<void> {
    if (this.#dispatcher || this.#workers.length > 0) return;
    this.#stopping = false;
    this.#nudge.reopen();
    const { prefix, concurrency } = this.config;
    if (this.config.dispatch) {
      const connection = this.#client();
      for (const name of this.config.queues)
        this.#queues.set(name, new Queue<Delivery>(name, { connection, prefix }));
    }
    if (this.#executor) {
      for (const name of this.config.queues) {
        const slots = new Slots(concurrency[name]);
        const worker = new Worker<Delivery>(name, (job, token) => this.#deliver(job, token, slots), {
          connection: this.#client(),
          prefix,
          concurrency: concurrency[name],
          lockDuration: this.config.lockDurationMs,
          stalledInterval: this.config.stalledIntervalMs,
          // A delivery whose worker died goes back to the queue however often that happens; the database
          // lease and the executor's recovery count decide when a job has lost too many workers.
          maxStalledCount: 1_000_000,
          removeOnComplete: { count: 0 },
          removeOnFail: { count: 0 },
        });
        worker.on('error', (error) => this.#logger.warn({ err: error, queue: name }, 'BullMQ worker error'));
        this.#workers.push(worker);
      }
      await Promise.all(this.#workers.map((worker) => worker.waitUntilReady()));
    }
    if (this.config.dispatch) this.#dispatcher = this.#dispatchLoop();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#nudge.close();
    await this.#dispatcher;
    this.#dispatcher = null;
    await Promise.all(this.#workers.map((worker) => worker.close()));
    this.#workers.length = 0;
    await Promise.all([...this.#queues.values()].map((queue) => queue.close()));
    this.#queues.clear();
    await Promise.all(this.#clients.map((client) => client.quit().catch(() => client.disconnect())));
    this.#clients.length = 0;
    this.#executor?.stop();
  }

  wake(): void {
    this.#nudge.fire();
  }

  #client(): Redis {
    // BullMQ's blocking commands need requests that never give up; its ESM build needs a client instance.
    const client = new Redis(this.#redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
    client.on('error', (error) => this.#logger.warn({ err: error }, 'Redis connection error'));
    this.#clients.push(client);
    return client;
  }

  async #dispatchLoop(): Promise<void> {
    const scheduler = this.#executor?.config.scheduler ?? systemJobScheduler;
    const now = (): number => scheduler.now();
    const limit = 1000;
    let recoveredAt = -Infinity;
    while (!this.#stopping) {
      // Taken before the round: a wake while it runs (jobs enqueued meanwhile) starts the next one at once.
      const woken = this.#nudge.promise;
      let handed = 0;
      try {
        // Retries that came due and deliveries that seem lost are looked for once a poll interval; a round
        // a wake starts (jobs were just enqueued) looks for jobs never handed over alone.
        const at = now();
        const recover = at - recoveredAt >= this.config.pollIntervalMs;
        if (recover) recoveredAt = at;
        // Asked for together, so a store that shares commits (SQLite) takes the write lock once for both,
        // the promotion first: a retry that is due is handed over in the same round.
        // Settled apart: jobs taken are handed over even when the promotion failed (they are marked as
        // handed over, and would otherwise wait for the redispatch).
        const [promoted, taken] = await Promise.allSettled([
          recover ? this.#store.promoteDueRetries(at) : 0,
          this.#store.takeForDispatch({
            queues: this.config.queues,
            now: at,
            limit,
            redispatchAfterMs: this.config.redispatchAfterMs,
            recover,
          }),
        ]);
        if (promoted.status === 'rejected')
          this.#logger.error({ err: promoted.reason }, 'could not make due sync job retries ready');
        if (taken.status === 'rejected') throw taken.reason;
        handed = taken.value.length;
        await this.#handOver(taken.value);
      } catch (error) {
        this.#logger.error({ err: error }, 'could not hand sync jobs to BullMQ');
      }
      if (handed < limit) await sleep(this.config.pollIntervalMs, woken, scheduler);
    }
  }

  async #handOver(items: readonly DispatchItem[]): Promise<void> {
    const byQueue = new Map<SyncJobQueue, DispatchItem[]>();
    for (const item of items) {
      const queued = byQueue.get(item.queue);
      if (queued) queued.push(item);
      else byQueue.set(item.queue, [item]);
    }
    await Promise.all(
      [...byQueue].map(async ([name, queued]) =>
        this.#queues.get(name)?.addBulk(
          intoGroups(queued, name === 'long' ? 1 : this.config.jobsPerDelivery).map((group) => ({
            name: 'sync-job',
            data: { jobIds: group.map((item) => item.jobId) },
            opts: {
              // One run of a job alone is one BullMQ job: adding it again while it waits or runs changes
              // nothing. A group gets an id from BullMQ; were it handed over twice, the claims sort it out.
              ...(group.length === 1 && group[0]
                ? { jobId: `${group[0].jobId}_${group[0].retryCount}` }
                : {}),
              removeOnComplete: true,
              removeOnFail: true,
            },
          })),
        ),
      ),
    );
  }

  /**
   * One delivery: each of its jobs, as a slot of the queue is free, claimed in the database and run. Jobs
   * that cannot run yet (their target is held, another worker runs them) stay in the delivery, which is put
   * off until the first of them may run; so do those not begun when this process stops, for another worker
   * to run at once.
   */
  async #deliver(delivery: Job<Delivery>, token: string | undefined, slots: Slots): Promise<void> {
    const executor = this.#executor;
    if (!executor) return;
    const jobIds = deliveredJobIds(delivery.data);
    const later = new Map<string, number>();
    await Promise.all(
      jobIds.map(async (jobId) => {
        await slots.take();
        try {
          if (this.#stopping) {
            later.set(jobId, executor.config.now());
            return;
          }
          const at = await this.#runOne(executor, jobId);
          if (at !== null) later.set(jobId, at);
        } catch (error) {
          this.#logger.error({ err: error, jobId }, 'a delivered sync job could not be run');
          const { now, scheduler } = executor.config;
          later.set(
            jobId,
            jitteredRetryAt(now(), CLAIM_ERROR_RETRY_MS, () => scheduler.random()),
          );
        } finally {
          slots.give();
        }
      }),
    );
    if (later.size === 0) return;
    if (later.size < jobIds.length) await delivery.updateData({ jobIds: [...later.keys()] });
    return this.#delay(delivery, token, Math.min(...later.values()) - executor.config.now());
  }

  /** Claims and runs one job; returns when it may be tried again if it could not run now, else null. */
  async #runOne(executor: JobExecutor, jobId: string): Promise<number | null> {
    const { workerId, leaseMs, lockRetryMs, now } = executor.config;
    const claimed = await this.#store.claimById(jobId, { workerId, now: now(), leaseMs, lockRetryMs });
    if (claimed.kind === 'none') return null;
    if (claimed.kind === 'later') return claimed.at;
    const result = await executor.run(claimed.job);
    return result.kind === 'deferred' ? result.at : null;
  }

  /** Puts a delivery back for `waitMs` (BullMQ's own way to postpone a job from inside its processor). */
  async #delay(delivery: Job<Delivery>, token: string | undefined, waitMs: number): Promise<void> {
    // BullMQ compares this moment with the real clocks of its workers, not with the executor's.
    await delivery.moveToDelayed(Date.now() + Math.max(1, Math.ceil(waitMs)), token);
    throw new DelayedError();
  }
}

/** The job ids of a delivery (one handed over before groups existed carries `jobId` alone). */
function deliveredJobIds(data: Delivery | { readonly jobId: string }): readonly string[] {
  return 'jobIds' in data ? data.jobIds : [data.jobId];
}

/**
 * A round's jobs of one queue as deliveries: one job each while they are few, else groups of at most
 * `most`, in at least {@link MIN_DELIVERIES_PER_ROUND} deliveries of about the same size.
 */
export function intoGroups<T>(items: readonly T[], most: number): T[][] {
  const count = Math.min(items.length, Math.max(MIN_DELIVERIES_PER_ROUND, Math.ceil(items.length / most)));
  const groups: T[][] = [];
  for (let index = 0; index < count; index++) {
    const from = Math.round((index * items.length) / count);
    const to = Math.round(((index + 1) * items.length) / count);
    groups.push(items.slice(from, to));
  }
  return groups;
}

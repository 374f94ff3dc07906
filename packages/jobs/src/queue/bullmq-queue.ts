import type { SyncJobQueue } from '@tillsync/protocol';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { JobExecutor } from '../executor.js';
import type { DispatchItem, JobStore } from '../job-store.js';
import { silentLogger, type JobLogger } from '../logger.js';
import { ALL_QUEUES, Nudge, sleep, type JobQueue } from './job-queue.js';

/** What travels in a BullMQ job: only the id; the job itself is in the database. */
interface Delivery {
  readonly jobId: string;
}

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
  /** Jobs run at once per queue, in this process. @defaultValue 8 */
  readonly concurrency?: number;
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
  readonly concurrency: number;
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
 * BullMQ queue of their `queue` setting, under the BullMQ job id `<job id>_<retry count>`, so one run of a
 * job is never in BullMQ twice. Workers run what they are handed with the same {@link JobExecutor} as the
 * embedded queue: the claim in the database makes a job run once even if it is delivered twice, BullMQ's
 * stalled-job check hands a dead worker's delivery to another, and the database lease lets that one take
 * the job over.
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
      concurrency: options.concurrency ?? 8,
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
        const worker = new Worker<Delivery>(name, (job, token) => this.#deliver(job, token), {
          connection: this.#client(),
          prefix,
          concurrency,
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
    const now = this.#executor?.config.now ?? Date.now;
    const limit = 1000;
    while (!this.#stopping) {
      // Taken before the round: a wake while it runs (jobs enqueued meanwhile) starts the next one at once.
      const woken = this.#nudge.promise;
      let handed = 0;
      try {
        // Asked for together, so a store that shares commits (SQLite) takes the write lock once for both,
        // the promotion first: a retry that is due is handed over in the same round.
        const [, items] = await Promise.all([
          this.#store.promoteDueRetries(now()),
          this.#store.takeForDispatch({
            queues: this.config.queues,
            now: now(),
            limit,
            redispatchAfterMs: this.config.redispatchAfterMs,
          }),
        ]);
        handed = items.length;
        await this.#handOver(items);
      } catch (error) {
        this.#logger.error({ err: error }, 'could not hand sync jobs to BullMQ');
      }
      if (handed < limit) await sleep(this.config.pollIntervalMs, woken);
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
          queued.map((item) => ({
            name: 'sync-job',
            data: { jobId: item.jobId },
            // One run of a job is one BullMQ job: adding it again while it waits or runs changes nothing.
            opts: { jobId: `${item.jobId}_${item.retryCount}`, removeOnComplete: true, removeOnFail: true },
          })),
        ),
      ),
    );
  }

  /** One delivery: claim the job in the database, run it, or put the delivery off until it can run. */
  async #deliver(delivery: Job<Delivery>, token: string | undefined): Promise<void> {
    const executor = this.#executor;
    if (!executor) return;
    const { workerId, leaseMs, now } = executor.config;
    const claimed = await this.#store.claimById(delivery.data.jobId, { workerId, now: now(), leaseMs });
    if (claimed.kind === 'none') return;
    if (claimed.kind === 'later') return this.#delay(delivery, token, claimed.at - now());
    const result = await executor.run(claimed.job);
    if (result.kind === 'deferred') return this.#delay(delivery, token, result.at - now());
  }

  /** Puts a delivery back for `waitMs` (BullMQ's own way to postpone a job from inside its processor). */
  async #delay(delivery: Job<Delivery>, token: string | undefined, waitMs: number): Promise<void> {
    await delivery.moveToDelayed(Date.now() + Math.max(1, Math.ceil(waitMs)), token);
    throw new DelayedError();
  }
}

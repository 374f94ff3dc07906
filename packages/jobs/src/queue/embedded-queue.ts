import type { SyncJobQueue } from '@tillsync/protocol';
import type { JobExecutor } from '../executor.js';
import type { ClaimedJob, JobStore } from '../job-store.js';
import { silentLogger, type JobLogger } from '../logger.js';
import { ALL_QUEUES, Nudge, sleep, type JobQueue } from './job-queue.js';

/** What a caller passes to {@link EmbeddedJobQueue}. */
export interface EmbeddedJobQueueOptions {
  readonly store: JobStore;
  readonly executor: JobExecutor;
  /** @defaultValue all three */
  readonly queues?: readonly SyncJobQueue[];
  /** How many jobs run at once. @defaultValue 8 */
  readonly concurrency?: number;
  /** How often it looks for ready jobs when nothing woke it (jobs enqueued by another process, retries). @defaultValue 250 */
  readonly pollIntervalMs?: number;
  /** @defaultValue silent */
  readonly logger?: JobLogger;
}

/** The resolved, frozen form of {@link EmbeddedJobQueueOptions}. */
export interface EmbeddedJobQueueConfig {
  readonly queues: readonly SyncJobQueue[];
  readonly concurrency: number;
  readonly pollIntervalMs: number;
}

/**
 * The default transport: jobs are claimed straight from the database, in this process, many at a time.
 * Several processes may run one on the same database (`tillsync worker` without `--redis-url`): the claim
 * is an atomic update, so each job runs once, and a dead process's jobs are taken over when its leases end.
 *
 * @example
 * const queue = new EmbeddedJobQueue({ store, executor: new JobExecutor({ store, types }) });
 * await queue.start();
 * // … jobs enqueued with onQueued: () => queue.wake() run at once
 * await queue.stop();
 */
export class EmbeddedJobQueue implements JobQueue {
  readonly kind = 'embedded';
  readonly config: EmbeddedJobQueueConfig;
  readonly #store: JobStore;
  readonly #executor: JobExecutor;
  readonly #logger: JobLogger;
  readonly #nudge = new Nudge();
  readonly #running = new Set<Promise<void>>();
  #loop: Promise<void> | null = null;
  #stopping = false;
  #deferTimer: unknown = null;

  constructor(options: EmbeddedJobQueueOptions) {
    this.config = Object.freeze({
      queues: Object.freeze([...(options.queues ?? ALL_QUEUES)]),
      concurrency: options.concurrency ?? 8,
      pollIntervalMs: options.pollIntervalMs ?? 250,
    });
    this.#store = options.store;
    this.#executor = options.executor;
    this.#logger = options.logger ?? silentLogger;
  }

  start(): Promise<void> {
    if (!this.#loop) {
      this.#stopping = false;
      this.#nudge.reopen();
      this.#loop = this.#run();
    }
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#clearDeferTimer();
    this.#nudge.close();
    await this.#loop;
    this.#loop = null;
    await Promise.all([...this.#running]);
    this.#executor.stop();
  }

  wake(): void {
    this.#nudge.fire();
  }

  async #run(): Promise<void> {
    const { concurrency, queues, pollIntervalMs } = this.config;
    const { workerId, leaseMs, lockRetryMs, now, scheduler } = this.#executor.config;
    while (!this.#stopping) {
      const free = concurrency - this.#running.size;
      if (free <= 0) {
        await sleep(pollIntervalMs, this.#nudge.promise, scheduler);
        continue;
      }
      let claimed: ClaimedJob[] = [];
      try {
        claimed = await this.#store.claim({
          workerId,
          queues,
          now: now(),
          leaseMs,
          lockRetryMs,
          limit: free,
        });
      } catch (error) {
        this.#logger.error({ err: error }, 'could not claim sync jobs');
      }
      for (const job of claimed) this.#launch(job);
      if (claimed.length === free) continue;
      await sleep(await this.#idleMs(), this.#nudge.promise, scheduler);
    }
  }

  /** How long to sleep when nothing is ready: until the next retry or deferred job, at most one poll. */
  async #idleMs(): Promise<number> {
    try {
      const next = await this.#store.nextReadyAt(this.config.queues);
      const wait = next === null ? this.config.pollIntervalMs : next - this.#executor.config.now();
      return Math.min(this.config.pollIntervalMs, Math.max(1, wait));
    } catch {
      return this.config.pollIntervalMs;
    }
  }

  #launch(job: ClaimedJob): void {
    const run = this.#executor
      .run(job)
      .then((result) => {
        if (result.kind === 'deferred') this.#wakeAt(result.at);
      })
      .catch((error: unknown) =>
        this.#logger.error({ err: error, jobId: job.record.id }, 'a sync job run failed'),
      )
      .finally(() => {
        this.#running.delete(run);
        // A slot is free: look for more work now rather than at the next poll.
        this.#nudge.fire();
      });
    this.#running.add(run);
  }

  #wakeAt(at: number): void {
    const { scheduler } = this.#executor.config;
    this.#clearDeferTimer();
    this.#deferTimer = scheduler.setTimeout(() => this.#nudge.fire(), Math.max(1, at - scheduler.now()), {
      background: true,
    });
  }

  #clearDeferTimer(): void {
    if (this.#deferTimer !== null) this.#executor.config.scheduler.clearTimeout(this.#deferTimer);
    this.#deferTimer = null;
  }
}

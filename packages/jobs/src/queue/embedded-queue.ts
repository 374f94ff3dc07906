import type { SyncJobQueue } from '@tillsync/protocol';
import type { JobExecutor } from '../executor.js';
import type { ClaimedJob, JobStore } from '../job-store.js';
import { silentLogger, type JobLogger } from '../logger.js';
import {
  ALL_QUEUES,
  Nudge,
  concurrencyPerQueue,
  sleep,
  type JobQueue,
  type QueueConcurrency,
} from './job-queue.js';

/** What a caller passes to {@link EmbeddedJobQueue}. */
export interface EmbeddedJobQueueOptions {
  readonly store: JobStore;
  readonly executor: JobExecutor;
  /** @defaultValue all three */
  readonly queues?: readonly SyncJobQueue[];
  /** How many jobs run at once, per queue (each queue has its own share). @defaultValue 8 each */
  readonly concurrency?: QueueConcurrency;
  /** How often it looks for ready jobs when nothing woke it (jobs enqueued by another process, retries). @defaultValue 250 */
  readonly pollIntervalMs?: number;
  /** @defaultValue silent */
  readonly logger?: JobLogger;
}

/** The resolved, frozen form of {@link EmbeddedJobQueueOptions}. */
export interface EmbeddedJobQueueConfig {
  readonly queues: readonly SyncJobQueue[];
  readonly concurrency: Readonly<Record<SyncJobQueue, number>>;
  readonly pollIntervalMs: number;
}

/**
 * The default transport: jobs are claimed straight from the database, in this process, many at a time.
 * Each queue has its own loop and its own share of the slots (`concurrency`), so eight slow `long` jobs
 * never keep a `short` one waiting.
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
  /** One per queue: a job of a queue that ends wakes that queue's loop alone; new jobs wake them all. */
  readonly #nudges = new Map<SyncJobQueue, Nudge>();
  readonly #running = new Set<Promise<void>>();
  #loops: Promise<void> | null = null;
  #stopping = false;
  readonly #deferTimers = new Map<SyncJobQueue, unknown>();

  constructor(options: EmbeddedJobQueueOptions) {
    this.config = Object.freeze({
      queues: Object.freeze([...(options.queues ?? ALL_QUEUES)]),
      concurrency: concurrencyPerQueue(options.concurrency),
      pollIntervalMs: options.pollIntervalMs ?? 250,
    });
    this.#store = options.store;
    this.#executor = options.executor;
    this.#logger = options.logger ?? silentLogger;
  }

  start(): Promise<void> {
    if (!this.#loops) {
      this.#stopping = false;
      for (const queue of this.config.queues) this.#nudgeOf(queue).reopen();
      this.#loops = Promise.all(this.config.queues.map((queue) => this.#run(queue))).then(() => undefined);
    }
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const queue of this.config.queues) {
      this.#clearDeferTimer(queue);
      this.#nudgeOf(queue).close();
    }
    await this.#loops;
    this.#loops = null;
    await Promise.all([...this.#running]);
    this.#executor.stop();
  }

  wake(queue?: SyncJobQueue): void {
    if (queue !== undefined) this.#nudges.get(queue)?.fire();
    else for (const each of this.config.queues) this.#nudgeOf(each).fire();
  }

  #nudgeOf(queue: SyncJobQueue): Nudge {
    let nudge = this.#nudges.get(queue);
    if (!nudge) {
      nudge = new Nudge();
      this.#nudges.set(queue, nudge);
    }
    return nudge;
  }

  /**
   * One queue's loop: claims its jobs while its share of the slots has room. A claim is a write; a poll that
   * nothing woke first reads whether a job is ready (jobs enqueued by another process, a retry come due),
   * so an idle queue costs one read a poll.
   */
  async #run(queue: SyncJobQueue): Promise<void> {
    const { pollIntervalMs } = this.config;
    const concurrency = this.config.concurrency[queue];
    const queues = [queue];
    const running = new Set<Promise<void>>();
    const nudge = this.#nudgeOf(queue);
    const { workerId, leaseMs, lockRetryMs, now, scheduler } = this.#executor.config;
    let claimNow = true;
    while (!this.#stopping) {
      const free = concurrency - running.size;
      if (free <= 0) {
        await sleep(pollIntervalMs, nudge.promise, scheduler);
        claimNow = true;
        continue;
      }
      if (claimNow) {
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
        for (const job of claimed) this.#launch(queue, job, running);
        if (claimed.length === free) continue;
      }
      const wait = await this.#idleMs(queues);
      // Woken, or a known ready time came: claim. A plain poll looks (one read) before it claims.
      claimNow = (await sleep(wait, nudge.promise, scheduler)) === 'nudged' || wait < pollIntervalMs;
    }
  }

  /** How long to sleep when nothing is ready: until the next retry or deferred job, at most one poll. */
  async #idleMs(queues: readonly SyncJobQueue[]): Promise<number> {
    try {
      const next = await this.#store.nextReadyAt(queues);
      const wait = next === null ? this.config.pollIntervalMs : next - this.#executor.config.now();
      return Math.min(this.config.pollIntervalMs, Math.max(1, wait));
    } catch {
      return this.config.pollIntervalMs;
    }
  }

  #launch(queue: SyncJobQueue, job: ClaimedJob, running: Set<Promise<void>>): void {
    const run = this.#executor
      .run(job)
      .then((result) => {
        // The jobs its rows triggered are woken by whoever committed them (ServerJobs, told by its store).
        if (result.kind === 'deferred') this.#wakeAt(queue, result.at);
      })
      .catch((error: unknown) =>
        this.#logger.error({ err: error, jobId: job.record.id }, 'a sync job run failed'),
      )
      .finally(() => {
        this.#running.delete(run);
        running.delete(run);
        // A slot of its queue is free: look for more work now rather than at the next poll.
        this.#nudgeOf(queue).fire();
      });
    this.#running.add(run);
    running.add(run);
  }

  #wakeAt(queue: SyncJobQueue, at: number): void {
    const { scheduler } = this.#executor.config;
    this.#clearDeferTimer(queue);
    this.#deferTimers.set(
      queue,
      scheduler.setTimeout(() => this.#nudgeOf(queue).fire(), Math.max(1, at - scheduler.now()), {
        background: true,
      }),
    );
  }

  #clearDeferTimer(queue: SyncJobQueue): void {
    const timer = this.#deferTimers.get(queue);
    if (timer !== undefined) this.#executor.config.scheduler.clearTimeout(timer);
    this.#deferTimers.delete(queue);
  }
}

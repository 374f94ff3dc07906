import type { SyncJobQueue } from '@tillsync/protocol';
import { systemJobScheduler, type JobScheduler } from '../scheduler.js';

/**
 * A queue transport: how "job X is ready" reaches a worker. The database stays the source of truth (the
 * outbox): a transport never holds a job that is not in the store, and the store's claim makes sure a job
 * runs once however often it is delivered. Two transports pass one conformance suite: embedded (the
 * default, in the server process) and BullMQ on Redis (workers on as many machines as needed).
 */
export interface JobQueue {
  readonly kind: 'embedded' | 'bullmq';
  /** Begins delivering (and, where this process runs jobs, running) ready jobs. */
  start(): Promise<void>;
  /** Stops taking jobs and waits for the running ones to end. */
  stop(): Promise<void>;
  /**
   * Jobs were made ready (enqueued, started, retried): look now instead of at the next poll; only in `queue`
   * when it is given, else in every queue.
   */
  wake(queue?: SyncJobQueue): void;
}

/** Every queue, for workers that serve them all. */
export const ALL_QUEUES: readonly SyncJobQueue[] = ['default', 'short', 'long'];

/**
 * How many jobs a process runs at once, per queue: one number for each queue alike, or a number per queue
 * (`{short: 4, default: 2, long: 2}`; a queue left out gets {@link DEFAULT_CONCURRENCY}). Each queue has its
 * own share, so long jobs never hold back short ones.
 */
export type QueueConcurrency = number | Readonly<Partial<Record<SyncJobQueue, number>>>;

/** Jobs of one queue run at once in one process, unless told otherwise. */
export const DEFAULT_CONCURRENCY = 8;

/** Each queue's share of the workers, from a {@link QueueConcurrency}. */
export function concurrencyPerQueue(
  concurrency: QueueConcurrency | undefined,
): Readonly<Record<SyncJobQueue, number>> {
  const per = (queue: SyncJobQueue): number => {
    const value =
      typeof concurrency === 'number' ? concurrency : (concurrency?.[queue] ?? DEFAULT_CONCURRENCY);
    if (!Number.isSafeInteger(value) || value < 1)
      throw new Error(
        `the concurrency of the ${queue} queue must be a whole number, 1 or more, not ${value}`,
      );
    return value;
  };
  return Object.freeze({ default: per('default'), short: per('short'), long: per('long') });
}

/** Waits `ms` on the scheduler's timers, or less when `nudged` is resolved first; says which it was. */
export function sleep(
  ms: number,
  nudged?: Promise<void>,
  scheduler: JobScheduler = systemJobScheduler,
): Promise<'timed out' | 'nudged'> {
  return new Promise((resolve) => {
    const timer = scheduler.setTimeout(() => resolve('timed out'), Math.max(0, ms), { background: true });
    void nudged?.then(() => {
      scheduler.clearTimeout(timer);
      resolve('nudged');
    });
  });
}

/** A promise anyone may resolve: how a wake-up reaches a loop that sleeps. */
export class Nudge {
  #resolve: () => void = () => {};
  #promise: Promise<void> = this.#next();
  #closed = false;

  /** Resolves at the next {@link fire}; at once while the nudge is closed. */
  get promise(): Promise<void> {
    return this.#closed ? Promise.resolve() : this.#promise;
  }

  /**
   * Wakes the sleeper now and every later one until {@link reopen}: how a stop reaches a loop that was between
   * two sleeps (awaiting its store) when it was asked, and would otherwise sleep a whole interval more.
   */
  close(): void {
    this.#closed = true;
    this.fire();
  }

  reopen(): void {
    this.#closed = false;
  }

  fire(): void {
    const resolve = this.#resolve;
    this.#promise = this.#next();
    resolve();
  }

  #next(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
  }
}

/** How many jobs may run at once, and a wait for a free place when none is. */
export class Slots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(count: number) {
    this.#free = count;
  }

  /** Resolves once a place is free, and holds it until {@link give}. */
  take(): Promise<void> {
    if (this.#free > 0) {
      this.#free -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Frees a place taken, handing it to the first one waiting. */
  give(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free += 1;
  }
}

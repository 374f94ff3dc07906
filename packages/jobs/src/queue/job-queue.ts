import type { SyncJobQueue } from '@tillsync/protocol';

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
  /** Jobs were made ready (enqueued, started, retried): look now instead of at the next poll. */
  wake(): void;
}

/** Every queue, for workers that serve them all. */
export const ALL_QUEUES: readonly SyncJobQueue[] = ['default', 'short', 'long'];

/** Waits `ms`, or less when `nudged` is resolved first. */
export function sleep(ms: number, nudged?: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, ms));
    timer.unref();
    void nudged?.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A promise anyone may resolve: how a wake-up reaches a loop that sleeps. */
export class Nudge {
  #resolve: () => void = () => {};
  #promise: Promise<void> = this.#next();

  get promise(): Promise<void> {
    return this.#promise;
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

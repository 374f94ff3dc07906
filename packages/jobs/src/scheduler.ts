/**
 * The clock and timers of the jobs code (the executor's timeouts, lease renewals, a queue's polls and
 * deferred wake-ups), injected together wherever the clock is, so a test that moves the clock moves the
 * timers with it. The device side has the same seam (`packages/client/src/scheduler.ts`).
 */
export interface JobScheduler {
  /** The wall clock, in milliseconds since the epoch. */
  now(): number;
  /**
   * Calls `callback` once after `ms`; returns a handle for {@link clearTimeout}. A `background` timer does
   * not keep the process alive on its own.
   */
  setTimeout(callback: () => void, ms: number, options?: TimerOptions): unknown;
  clearTimeout(handle: unknown): void;
  /** Calls `callback` every `ms` until {@link clearInterval}. */
  setInterval(callback: () => void, ms: number, options?: TimerOptions): unknown;
  clearInterval(handle: unknown): void;
  /** A number in [0, 1), for the jitter of retries. */
  random(): number;
}

/** How a timer holds the process. */
export interface TimerOptions {
  /** The timer alone does not keep the process running (Node's `unref`). @defaultValue false */
  readonly background?: boolean;
}

type NodeTimer = ReturnType<typeof setTimeout>;

/** The real clock and timers. */
export const systemJobScheduler: JobScheduler = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, ms: number, options: TimerOptions = {}): unknown => {
    const timer = setTimeout(callback, ms);
    if (options.background) timer.unref();
    return timer;
  },
  clearTimeout: (handle: unknown): void => clearTimeout(handle as NodeTimer | undefined),
  setInterval: (callback: () => void, ms: number, options: TimerOptions = {}): unknown => {
    const timer = setInterval(callback, ms);
    if (options.background) timer.unref();
    return timer;
  },
  clearInterval: (handle: unknown): void => clearInterval(handle as NodeTimer | undefined),
  random: () => Math.random(),
});

/** A scheduler whose clock is `now` and whose timers are the given scheduler's. */
export function withClock(scheduler: JobScheduler, now: () => number): JobScheduler {
  return Object.freeze({
    now,
    setTimeout: scheduler.setTimeout.bind(scheduler),
    clearTimeout: scheduler.clearTimeout.bind(scheduler),
    setInterval: scheduler.setInterval.bind(scheduler),
    clearInterval: scheduler.clearInterval.bind(scheduler),
    random: scheduler.random.bind(scheduler),
  });
}

/** How long a job whose target lock was busy waits before it is tried again, before the jitter. */
export const DEFAULT_LOCK_RETRY_MS = 50;

/**
 * When a job that could not go on now is tried again: after `retryMs` plus up to as much again, so jobs
 * that waited on the same thing (a busy target lock, a claim that failed) do not all come back at once.
 * The one rule for every such retry, in the executor, the queues and the job store.
 *
 * @example
 * jitteredRetryAt(Date.now(), 50); // between 50 and 100 ms from now
 */
export function jitteredRetryAt(now: number, retryMs: number, random: () => number = Math.random): number {
  return now + retryMs * (1 + random());
}

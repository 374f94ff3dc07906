/**
 * The clock and timers of the device's long-running parts (the sync worker, the live stream), injected so
 * that tests move time on by hand instead of sleeping through real intervals.
 */
export interface Scheduler {
  /** The wall clock, in milliseconds since the epoch. */
  now(): number;
  /** Calls `callback` once after `ms`; returns a handle for {@link clearTimeout}. */
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** A number in [0, 1), for the jitter of retries. */
  random(): number;
}

/** The real clock and timers. */
export const systemScheduler: Scheduler = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, ms: number): unknown => setTimeout(callback, ms),
  clearTimeout: (handle: unknown): void => clearTimeout(handle as ReturnType<typeof setTimeout>),
  random: () => Math.random(),
});

/**
 * A retry delay that doubles with each failure from `baseMs`, never above `maxMs`, with "equal jitter"
 * (between half and all of it), so that devices coming back after an outage spread their calls.
 */
export function backoffDelay(failures: number, baseMs: number, maxMs: number, random: number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const capped = Math.min(maxMs, baseMs * 2 ** exponent);
  return Math.round(capped / 2 + (capped / 2) * random);
}

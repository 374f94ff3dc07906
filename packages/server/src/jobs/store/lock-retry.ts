/** How long a job whose lock was busy at its claim waits before it is tried again (plus up to as much again). */
const LOCK_RETRY_MS = 50;

/**
 * When a job that could not be claimed at `now` (its lock busy, claimed twice at once) is tried again: a
 * moment later, jittered, so that claimers that met on one lock do not meet again on the next try.
 */
export function lockRetryAt(now: number): number {
  return now + LOCK_RETRY_MS * (1 + Math.random());
}

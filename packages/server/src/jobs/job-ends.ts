import { RUNNABLE_STATUSES } from '@tillsync/jobs';
import type { SyncJobStatus } from '@tillsync/protocol';

/** How often the jobs waited for are looked up, while any is waited for. */
const LOOK_EVERY_MS = 5;

interface Waiter {
  readonly ids: Set<string>;
  readonly deadline: number;
  readonly resolve: () => void;
}

/**
 * Waits for jobs to end (pushes wait for the jobs they triggered, `ServerJobs.settle`). A job this process
 * runs is answered as soon as its end is committed ({@link ended}); the others (run by another process) are
 * looked up by one statement for every job waited for in this process, every few milliseconds, instead of a
 * statement per job per waiter.
 */
export class JobEnds {
  readonly #stillRunnable: (ids: readonly string[]) => Promise<Set<string>>;
  readonly #waiters = new Set<Waiter>();
  #looking = false;

  /** `stillRunnable`: of these job ids, those whose jobs exist and are still to run (Queued, Started). */
  constructor(stillRunnable: (ids: readonly string[]) => Promise<Set<string>>) {
    this.#stillRunnable = stillRunnable;
  }

  /** Resolves once every one of `ids` has ended (or does not exist), or at `timeoutMs` from now. */
  wait(ids: readonly string[], timeoutMs: number): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // Wall time, not an injected clock: this bounds how long a device waits for its answer.
      this.#waiters.add({ ids: new Set(ids), deadline: Date.now() + timeoutMs, resolve });
      this.#lookSoon();
    });
  }

  /** A job this process ran ended, with its status committed. */
  ended(id: string, status: SyncJobStatus): void {
    if (RUNNABLE_STATUSES.includes(status)) return;
    for (const waiter of this.#waiters) if (waiter.ids.delete(id)) this.#settleIfDone(waiter);
  }

  #settleIfDone(waiter: Waiter): void {
    if (waiter.ids.size > 0 && Date.now() < waiter.deadline) return;
    this.#waiters.delete(waiter);
    waiter.resolve();
  }

  #lookSoon(): void {
    if (this.#looking) return;
    this.#looking = true;
    setTimeout(() => void this.#look(), LOOK_EVERY_MS);
  }

  async #look(): Promise<void> {
    try {
      for (const waiter of [...this.#waiters]) this.#settleIfDone(waiter);
      const ids = new Set<string>();
      for (const waiter of this.#waiters) for (const id of waiter.ids) ids.add(id);
      if (ids.size === 0) return;
      const runnable = await this.#stillRunnable([...ids]);
      for (const waiter of [...this.#waiters]) {
        for (const id of waiter.ids) if (!runnable.has(id)) waiter.ids.delete(id);
        this.#settleIfDone(waiter);
      }
    } catch {
      // A failed look is as if nothing ended: the next look, or the deadline, answers.
    } finally {
      this.#looking = false;
      if (this.#waiters.size > 0) this.#lookSoon();
    }
  }
}

import type { Scheduler } from '../src/index.js';

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/** Lets pending promise chains (and real I/O that has already answered) run. */
export async function settle(turns = 5): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A {@link Scheduler} whose time moves only when a test says so: `advance(ms)` fires the timers that come due,
 * in order, letting promises settle after each, so a 30-second interval passes in microseconds.
 */
export class ManualScheduler implements Scheduler {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, Timer>();
  /** What `random()` answers; 0.5 puts every jittered delay at three quarters of its cap. */
  randomValue = 0.5;

  constructor(start = Date.parse('2026-11-22T09:00:00.000Z')) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  random(): number {
    return this.randomValue;
  }

  /** How many timers are set. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** The due times of the timers set, soonest first, as ms from now. */
  dueIn(): number[] {
    return [...this.#timers.values()].map((timer) => timer.at - this.#now).sort((a, b) => a - b);
  }

  /** Moves time on by `ms`, firing each timer that comes due at its own time. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (;;) {
      const due = [...this.#timers.values()]
        .filter((timer) => timer.at <= end)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#timers.delete(due.id);
      this.#now = due.at;
      due.callback();
      await settle();
    }
    this.#now = end;
    await settle();
  }
}

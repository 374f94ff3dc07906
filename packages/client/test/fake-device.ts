import type {
  ServerEvent,
  SyncCycleRequest,
  SyncLogEntry,
  SyncOutcome,
  SyncStatus,
  SyncWorkerClient,
} from '../src/index.js';
import type { ManualScheduler } from './manual-scheduler.js';

/** How a fake cycle ends. */
export interface FakeOutcome {
  readonly outcome: SyncOutcome;
  readonly errorCode?: string;
  readonly error?: string;
}

/** One `runCycle` call of the fake, held until the test ends it (or answered at once). */
export interface FakeCycle {
  readonly request: SyncCycleRequest;
  readonly startedAt: number;
  /** Ends the cycle as `outcome` (default: synced). */
  finish(outcome?: FakeOutcome): void;
  readonly done: boolean;
}

/** One opened event stream of the fake, fed by the test. */
export class FakeStream implements AsyncIterable<ServerEvent> {
  readonly signal: AbortSignal;
  readonly #events: ServerEvent[] = [];
  #ended: Error | 'end' | null = null;
  #wake: (() => void) | null = null;

  constructor(signal: AbortSignal) {
    this.signal = signal;
    signal.addEventListener('abort', () => this.#wakeUp());
  }

  /** Sends `event: changes`. */
  changes(): void {
    this.#events.push({ kind: 'event', event: 'changes', data: '{}' });
    this.#wakeUp();
  }

  keepAlive(): void {
    this.#events.push({ kind: 'keep-alive' });
    this.#wakeUp();
  }

  /** The server closes the stream (`end`) or the connection is cut (an error). */
  end(how: Error | 'end' = 'end'): void {
    this.#ended = how;
    this.#wakeUp();
  }

  get closed(): boolean {
    return this.signal.aborted || this.#ended !== null;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ServerEvent> {
    for (;;) {
      if (this.signal.aborted) throw this.signal.reason;
      const event = this.#events.shift();
      if (event) {
        yield event;
        continue;
      }
      if (this.#ended === 'end') return;
      if (this.#ended) throw this.#ended;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

/**
 * A fake device for the worker: cycles that the test ends by hand (or at once with `autoFinish`), a status
 * the test sets, and event streams the test feeds. Counts how many cycles ever ran at the same time.
 */
export class FakeDevice implements SyncWorkerClient {
  readonly cycles: FakeCycle[] = [];
  readonly streams: FakeStream[] = [];
  /** Ends each cycle at once with this outcome; `null` holds them for the test to end. */
  autoFinish: FakeOutcome | null = { outcome: 'synced' };
  /** Makes `openChangeStream` fail (the server is down). */
  streamFails: Error | null = null;
  paired = true;
  pendingChanges = 0;
  maxConcurrent = 0;
  #running = 0;
  #last: SyncLogEntry | null = null;
  readonly #clock: ManualScheduler;

  constructor(clock: ManualScheduler) {
    this.#clock = clock;
  }

  get status(): SyncStatus {
    if (!this.paired) return { state: 'unpaired', lastSyncedAt: null, pendingChanges: 0, lastError: null };
    const last = this.#last;
    return {
      state: this.#running > 0 ? 'syncing' : (last?.outcome ?? 'stopped'),
      lastSyncedAt: this.#lastSyncedAt,
      pendingChanges: this.pendingChanges,
      lastError: last?.error ?? null,
    };
  }

  get lastCycle(): SyncLogEntry | null {
    return this.#last;
  }

  #lastSyncedAt: string | null = null;

  runCycle(request: SyncCycleRequest): Promise<SyncLogEntry> {
    this.#running += 1;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.#running);
    const startedAt = this.#clock.now();
    return new Promise<SyncLogEntry>((resolve) => {
      let done = false;
      const finish = (result: FakeOutcome = { outcome: 'synced' }): void => {
        if (done) return;
        done = true;
        this.#running -= 1;
        const ok = result.outcome === 'synced';
        const entry: SyncLogEntry = {
          trigger: request.trigger,
          mode: !request.pullOnly ? 'sync' : request.discardLocal ? 'discard-local' : 'pull-only',
          startedAt: new Date(startedAt).toISOString(),
          durationMs: this.#clock.now() - startedAt,
          ok,
          outcome: result.outcome,
          pushed: 0,
          pulled: 0,
          conflicts: 0,
          conflictRows: [],
          rejected: [],
          repairs: [],
          error: ok ? null : (result.error ?? `failed: ${result.errorCode ?? result.outcome}`),
          errorCode: ok ? null : (result.errorCode ?? 'OFFLINE'),
        };
        this.#last = entry;
        if (ok) this.#lastSyncedAt = new Date(this.#clock.now()).toISOString();
        resolve(entry);
      };
      // A stopped worker aborts the cycle; the real cycle then ends with the outcome `stopped`.
      request.signal?.addEventListener('abort', () =>
        finish({ outcome: 'stopped', errorCode: 'STOPPED', error: 'stopped' }),
      );
      const cycle: FakeCycle = {
        request,
        startedAt,
        finish,
        get done() {
          return done;
        },
      };
      this.cycles.push(cycle);
      const auto = this.autoFinish;
      if (auto) queueMicrotask(() => finish(auto));
    });
  }

  openChangeStream(signal: AbortSignal): Promise<AsyncIterable<ServerEvent>> {
    if (this.streamFails) return Promise.reject(this.streamFails);
    const stream = new FakeStream(signal);
    this.streams.push(stream);
    return Promise.resolve(stream);
  }

  /** The triggers of the cycles run so far. */
  get triggers(): string[] {
    return this.cycles.map((cycle) => cycle.request.trigger);
  }

  /** The cycle still running, if any. */
  get current(): FakeCycle | undefined {
    return this.cycles.find((cycle) => !cycle.done);
  }
}

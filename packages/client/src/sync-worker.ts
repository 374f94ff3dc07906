// Over 500 lines on purpose: the worker's state machine (drawn below) and every way into it (start, stop,
// interval, Force sync, Force pull, live notices, backoff) must be read together to see that no two cycles overlap.
import type { SyncCycleRequest, SyncProgress } from './cycle.js';
import { LiveUpdates } from './live-updates.js';
import { silentLogger, type DeviceLogger } from './logger.js';
import { backoffDelay, systemScheduler, type Scheduler } from './scheduler.js';
import type { ServerEvent } from './server-events.js';
import type { SyncState, SyncStatus } from './status.js';
import type { SyncLogEntry, SyncMode, SyncTrigger } from './sync-log.js';

/**
 * The background worker of a device (DESIGN.md "Worker"): runs the sync cycle on a schedule, on demand, and
 * when the server says another device changed something. Its states:
 *
 *            start()               timer │ local write │ syncNow() │ pullNow() │ live notice
 *  stopped ─────────▶ running: waiting ──────────────────────────────────────────▶ cycle in flight
 *     ▲                   ▲  ▲                                                           │
 *     │ stop()            │  └── synced or error: next in intervalMs ───────────────────┤
 *     │                   └───── offline: retry in 2 s, 4 s, … (jittered, ≤ intervalMs) ─┤
 *     └── halted (state `error`) ◀── SESSION_EXPIRED / DEVICE_REVOKED ───────────────────┘
 *
 * One cycle at a time: a request made while a cycle runs waits for it and then runs once, however many
 * requests of its kind came meanwhile. A worker stopped (or halted) still runs the cycles it is asked for.
 * Between cycles, a running worker builds the search indexes a first sync left to build; a cycle stops that
 * build at its next step (a few milliseconds) and it starts again after the cycle.
 */

/** What the worker needs of the device: the part of `SyncClient` it calls (tests give a fake). */
export interface SyncWorkerClient {
  /** The status as the device file tells it now. */
  readonly status: SyncStatus;
  /** The newest entry of the sync log. */
  readonly lastCycle: SyncLogEntry | null;
  /** Runs one cycle; never throws for a failed cycle. */
  runCycle(request: SyncCycleRequest): Promise<SyncLogEntry>;
  /** Opens the server's event stream for this device. */
  openChangeStream(signal: AbortSignal): Promise<AsyncIterable<ServerEvent>>;
  /**
   * A fingerprint of the unsent local writes that changes with every captured write, `null` when none wait
   * (`SyncClient.localWriteMark`). Without it the worker pushes on its interval only.
   */
  localWriteMark?(): string | null;
  /** What the cycle running now has done so far (`SyncClient.progress`). */
  readonly progress?: SyncProgress | null;
  /**
   * Builds the search indexes a first sync left to build until they are whole or `signal` stops it
   * (`SyncClient.buildSearchIndexes`); the worker runs it between cycles.
   */
  buildSearchIndexes?(signal: AbortSignal): Promise<boolean>;
}

/** The worker's status: the device's, with the schedule and the live stream. */
export interface WorkerStatus extends SyncStatus {
  /** The failure of the last cycle as a code (see `SyncLogEntry.errorCode`), or `null`. */
  readonly lastErrorCode: string | null;
  /** When the next scheduled cycle runs (ISO time), or `null` when none is scheduled. */
  readonly nextSyncAt: string | null;
  /** Whether the worker runs cycles on its own (started, not halted, paired). */
  readonly running: boolean;
  /** Whether the live stream from the server is open. */
  readonly live: boolean;
  /** While a cycle runs: the rows it pushed and pulled so far (read again every `statusPollMs`). */
  readonly progress: SyncProgress | null;
}

/** The events of a {@link SyncWorker} and their listeners' arguments. */
export interface SyncWorkerEvents {
  /** The status changed. */
  status: (status: WorkerStatus) => void;
  /** A cycle ended (its sync log entry). */
  cycle: (entry: SyncLogEntry) => void;
}

/** Options for {@link SyncWorker}. */
export interface SyncWorkerOptions {
  /** The device: a `SyncClient`. */
  readonly client: SyncWorkerClient;
  /**
   * The time between scheduled cycles (shopMaster used 2 minutes).
   * @defaultValue 30000
   */
  readonly intervalMs?: number;
  /**
   * The first retry after a cycle that could not reach the server; it doubles with each failure, up to
   * `intervalMs`.
   * @defaultValue 2000
   */
  readonly retryBaseMs?: number;
  /**
   * Hold the server's event stream and pull as soon as another device's push commits.
   * @defaultValue true
   */
  readonly live?: boolean;
  /**
   * The longest wait before reconnecting a dropped live stream.
   * @defaultValue 30000
   */
  readonly liveRetryMaxMs?: number;
  /**
   * A live stream silent this long counts as dropped (the server sends a keep-alive every 25 s).
   * @defaultValue 65000
   */
  readonly liveIdleTimeoutMs?: number;
  /**
   * How often a running worker reads the status again, to notice writes by other programs (the pending
   * count) and cycles run by other processes.
   * @defaultValue 1000
   */
  readonly statusPollMs?: number;
  /**
   * Push soon after a local write (`localWriteMark` of the client), not only on the interval.
   * @defaultValue true
   */
  readonly pushOnWrite?: boolean;
  /**
   * How often a running worker looks for new local writes (two counters SQLite keeps; the outbox is read
   * only when one moved).
   * @defaultValue 200
   */
  readonly writePollMs?: number;
  /**
   * After a local write, the quiet moment the worker waits for before it pushes, so a sale of many rows, or
   * a burst of sales, goes in one push.
   * @defaultValue 500
   */
  readonly pushAfterWriteMs?: number;
  /**
   * The longest a local write waits for its push while writes keep coming (a busy till still pushes this
   * often).
   * @defaultValue 3000
   */
  readonly pushAfterWriteMaxMs?: number;
  /** The clock and timers. @defaultValue the real ones */
  readonly scheduler?: Scheduler;
  /** @defaultValue a logger that drops everything */
  readonly logger?: DeviceLogger;
}

/** The resolved, frozen form of {@link SyncWorkerOptions}. */
export interface SyncWorkerConfig {
  readonly intervalMs: number;
  readonly retryBaseMs: number;
  readonly live: boolean;
  readonly liveRetryMaxMs: number;
  readonly liveIdleTimeoutMs: number;
  readonly statusPollMs: number;
  readonly pushOnWrite: boolean;
  readonly writePollMs: number;
  readonly pushAfterWriteMs: number;
  readonly pushAfterWriteMaxMs: number;
  readonly scheduler: Scheduler;
  readonly logger: DeviceLogger;
}

/** What a cycle request asks for, without its signal (the worker owns that). */
type CycleAsk = Omit<SyncCycleRequest, 'signal'>;

/** A request waiting for the cycle in flight to end. */
interface QueuedCycle {
  ask: CycleAsk;
  readonly resolve: (entry: SyncLogEntry) => void;
  readonly promise: Promise<SyncLogEntry>;
}

/** The worker's own state; see the drawing above. */
type Phase = 'stopped' | 'running' | 'halted' | 'unpaired';

/** Errors after which syncing cannot go on until the device is paired again. */
const SESSION_ENDED = new Set(['SESSION_EXPIRED', 'DEVICE_REVOKED']);

/** Which trigger a joined request keeps: a person's click outranks the schedule. */
const TRIGGER_RANK: Readonly<Record<string, number>> = {
  force: 4,
  'force-pull': 4,
  startup: 3,
  write: 2,
  live: 2,
  auto: 1,
};

/**
 * Runs a device's sync cycles in the background: every `intervalMs` (first at once on {@link start}), on
 * "Force sync now" ({@link syncNow}) and "Force pull" ({@link pullNow}), soon after a local write (a short
 * quiet moment after it, trigger `write`), and when the live stream says another device pushed. Offline, it retries sooner (backing off up to the interval) and syncs as soon as
 * the server answers; an ended session halts it with the state `error`.
 *
 * @example
 * const client = createSyncClient({ dbPath: 'till.db' });
 * const worker = new SyncWorker({ client, intervalMs: 120_000 });
 * worker.on('status', (status) => render(pillText(status, Date.now())));
 * worker.start();
 * await worker.syncNow(); // "Force sync now"
 * await worker.stop();
 */
export class SyncWorker {
  readonly config: SyncWorkerConfig;
  readonly #client: SyncWorkerClient;
  readonly #listeners: { [E in keyof SyncWorkerEvents]: Set<SyncWorkerEvents[E]> } = {
    status: new Set(),
    cycle: new Set(),
  };
  #phase: Phase = 'stopped';
  /** Why the worker halted: the cycle whose session ended. */
  #halt: { code: string; message: string } | null = null;
  #inFlight: { promise: Promise<SyncLogEntry>; controller: AbortController } | null = null;
  /** The search index build running between cycles. */
  #build: { promise: Promise<void>; controller: AbortController } | null = null;
  readonly #queue: QueuedCycle[] = [];
  /** Consecutive cycles that could not reach the server. */
  #offlineFailures = 0;
  #timer: unknown = null;
  #nextAt: number | null = null;
  #pollTimer: unknown = null;
  #live: LiveUpdates | null = null;
  #lastStatusKey = '';
  #writeTimer: unknown = null;
  /** The unsent writes as last seen; a new mark is a new write. */
  #writeMark: string | null = null;
  /** The push waiting for a quiet moment after a local write: when the first write was seen, and its timer. */
  #writePush: { since: number; timer: unknown } | null = null;

  constructor(options: SyncWorkerOptions) {
    this.#client = options.client;
    const intervalMs = positive(options.intervalMs ?? 30_000, 'intervalMs');
    this.config = Object.freeze({
      intervalMs,
      retryBaseMs: Math.min(positive(options.retryBaseMs ?? 2000, 'retryBaseMs'), intervalMs),
      live: options.live ?? true,
      liveRetryMaxMs: positive(options.liveRetryMaxMs ?? 30_000, 'liveRetryMaxMs'),
      liveIdleTimeoutMs: positive(options.liveIdleTimeoutMs ?? 65_000, 'liveIdleTimeoutMs'),
      statusPollMs: positive(options.statusPollMs ?? 1000, 'statusPollMs'),
      pushOnWrite: options.pushOnWrite ?? true,
      writePollMs: positive(options.writePollMs ?? 200, 'writePollMs'),
      pushAfterWriteMs: positive(options.pushAfterWriteMs ?? 500, 'pushAfterWriteMs'),
      pushAfterWriteMaxMs: positive(options.pushAfterWriteMaxMs ?? 3000, 'pushAfterWriteMaxMs'),
      scheduler: options.scheduler ?? systemScheduler,
      logger: options.logger ?? silentLogger,
    });
  }

  /** Whether the worker runs cycles on its own now. */
  get running(): boolean {
    return this.#phase === 'running';
  }

  /** The status now: the device file's, with the worker's state, schedule and live stream. */
  get status(): WorkerStatus {
    const device = this.#client.status;
    let state: SyncState = device.state;
    let lastError = device.lastError;
    let lastErrorCode = lastError === null ? null : (this.#client.lastCycle?.errorCode ?? null);
    if (state !== 'unpaired') {
      if (this.#inFlight) state = 'syncing';
      else if (this.#halt) {
        state = 'error';
        ({ message: lastError, code: lastErrorCode } = this.#halt);
      } else if (this.#phase === 'stopped' && state !== 'syncing') state = 'stopped';
    }
    return {
      state,
      lastSyncedAt: device.lastSyncedAt,
      pendingChanges: device.pendingChanges,
      lastError,
      lastErrorCode,
      nextSyncAt: this.#nextAt === null ? null : new Date(this.#nextAt).toISOString(),
      running: this.#phase === 'running',
      live: this.#live?.connected ?? false,
      progress: this.#inFlight ? (this.#client.progress ?? null) : null,
    };
  }

  /** Listens to an event; returns the function that stops listening. */
  on<E extends keyof SyncWorkerEvents>(event: E, listener: SyncWorkerEvents[E]): () => void {
    const listeners = this.#listeners[event] as Set<SyncWorkerEvents[E]>;
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }

  /**
   * "Start sync task": runs a cycle at once (trigger `startup`), then every `intervalMs`, and holds the live
   * stream. Starting a running worker does nothing; starting a halted one (after pairing again) resumes it.
   * An unpaired device waits: call `start()` again once it is paired.
   */
  start(): void {
    if (this.#phase === 'running') return;
    this.#halt = null;
    this.#offlineFailures = 0;
    if (this.#client.status.state === 'unpaired') {
      this.#phase = 'unpaired';
      this.#emitStatus();
      return;
    }
    this.#phase = 'running';
    this.#startLive();
    this.#schedulePoll();
    this.#startWriteWatch();
    void this.#request({ trigger: 'startup' });
    this.#emitStatus();
  }

  /**
   * "Stop sync task": cancels the schedule, closes the live stream, stops the cycle in flight at its next
   * request (what it committed stays) and drops the cycles waiting for it. Resolves when nothing runs and no
   * timer is left.
   */
  async stop(): Promise<void> {
    this.#phase = 'stopped';
    this.#clearSchedule();
    this.#clearPoll();
    this.#stopWriteWatch();
    const now = this.config.scheduler.now();
    for (const queued of this.#queue.splice(0)) queued.resolve(notRun(queued.ask, now));
    const inFlight = this.#inFlight;
    inFlight?.controller.abort(new DOMException('the sync worker was stopped', 'AbortError'));
    const live = this.#live;
    this.#live = null;
    await Promise.all([inFlight?.promise, live?.stop(), this.#stopBuild()]);
    this.#emitStatus();
  }

  /** "Force sync now": a full cycle out of band; after the cycle in flight, if there is one. */
  syncNow(): Promise<SyncLogEntry> {
    return this.#request({ trigger: 'force' });
  }

  /** "Force pull": pulls without pushing; with `discardLocal`, the unsent rows give way to the server's. */
  pullNow(options: { discardLocal?: boolean } = {}): Promise<SyncLogEntry> {
    return this.#request({
      trigger: 'force-pull',
      pullOnly: true,
      discardLocal: options.discardLocal ?? false,
    });
  }

  /**
   * Reads the status again and tells the listeners if it changed. A running worker does this every
   * `statusPollMs`; a page showing a stopped worker's pending count calls it itself.
   */
  checkStatus(): WorkerStatus {
    this.#emitStatus();
    return this.status;
  }

  /**
   * Resolves once no cycle runs or waits and no search index build runs (a test's or a shutdown's way to let
   * the worker settle).
   */
  async idle(): Promise<void> {
    while (this.#inFlight || this.#queue.length > 0 || this.#build) {
      await Promise.all([
        this.#inFlight?.promise,
        this.#build?.promise,
        ...this.#queue.map((queued) => queued.promise),
      ]);
    }
  }

  /** Runs a cycle now, or joins (or queues) the one after the cycle in flight. */
  #request(ask: CycleAsk): Promise<SyncLogEntry> {
    if (!this.#inFlight) return this.#run(ask);
    const same = this.#queue.find((queued) => modeOf(queued.ask) === modeOf(ask));
    if (same) {
      if ((TRIGGER_RANK[ask.trigger] ?? 0) > (TRIGGER_RANK[same.ask.trigger] ?? 0)) {
        same.ask = { ...same.ask, trigger: ask.trigger };
      }
      return same.promise;
    }
    let resolve!: (entry: SyncLogEntry) => void;
    const promise = new Promise<SyncLogEntry>((done) => (resolve = done));
    this.#queue.push({ ask, resolve, promise });
    return promise;
  }

  #run(ask: CycleAsk): Promise<SyncLogEntry> {
    this.#clearSchedule();
    if (!ask.pullOnly && this.#writePush) {
      // This cycle pushes the writes the quiet moment waited for; a write after it moves the mark again.
      this.config.scheduler.clearTimeout(this.#writePush.timer);
      this.#writePush = null;
    }
    // The build's step under way ends first: the client runs one of them at a time.
    void this.#stopBuild();
    const controller = new AbortController();
    const started = this.config.scheduler.now();
    const promise = this.#client.runCycle({ ...ask, signal: controller.signal }).catch((error: unknown) => {
      // runCycle reports failed cycles in its entry; a throw is the device file failing under it.
      this.config.logger.error({ component: 'sync-worker', err: messageOf(error) }, 'sync cycle crashed');
      return crashed(ask, started, this.config.scheduler.now(), error);
    });
    this.#inFlight = { promise, controller };
    this.#emitStatus();
    void promise.then((entry) => this.#finished(entry));
    return promise;
  }

  #finished(entry: SyncLogEntry): void {
    this.#inFlight = null;
    this.#emit('cycle', entry);
    if (entry.errorCode !== null && SESSION_ENDED.has(entry.errorCode)) {
      this.#halt = { code: entry.errorCode, message: entry.error ?? entry.errorCode };
      this.config.logger.error(
        { component: 'sync-worker', errorCode: entry.errorCode },
        `${entry.error ?? 'session ended'}; syncing stopped`,
      );
      if (this.#phase === 'running') this.#halted();
      // Waiting requests would only fail the same way.
      for (const queued of this.#queue.splice(0)) queued.resolve(entry);
    } else if (entry.errorCode === 'NOT_PAIRED') {
      if (this.#phase === 'running') {
        this.#phase = 'unpaired';
        this.#stopTimersAndLive();
      }
    } else {
      if (entry.ok && this.#halt) {
        // The device was paired again (by another process) and a cycle asked for by hand went through.
        this.#halt = null;
        if (this.#phase === 'halted') {
          this.#phase = 'running';
          this.#startLive();
          this.#schedulePoll();
          this.#startWriteWatch();
        }
      }
      this.#offlineFailures = entry.outcome === 'offline' ? this.#offlineFailures + 1 : 0;
      if (!entry.ok && entry.outcome !== 'stopped') {
        const fields = { component: 'sync-worker', trigger: entry.trigger, errorCode: entry.errorCode };
        if (entry.outcome === 'offline' && this.#offlineFailures > 1)
          this.config.logger.info(fields, entry.error ?? '');
        else this.config.logger.warn(fields, `sync cycle failed: ${entry.error ?? ''}`);
      }
      // The server answered: a live stream waiting to reconnect need not wait any longer.
      if (entry.outcome === 'synced') this.#live?.reconnectNow();
    }

    const next = this.#queue.shift();
    if (next) {
      void this.#run(next.ask).then(next.resolve);
    } else if (this.#phase === 'running') {
      const { intervalMs, retryBaseMs, scheduler } = this.config;
      this.#schedule(
        entry.outcome === 'offline'
          ? backoffDelay(this.#offlineFailures, retryBaseMs, intervalMs, scheduler.random())
          : intervalMs,
      );
      if (entry.ok) this.#startBuild();
    }
    this.#emitStatus();
  }

  /**
   * Builds the search indexes a first sync left to build (`SyncClient.buildSearchIndexes`), while no cycle
   * runs; the next cycle stops it.
   */
  #startBuild(): void {
    if (!this.#client.buildSearchIndexes || this.#build) return;
    const controller = new AbortController();
    const promise = this.#client
      .buildSearchIndexes(controller.signal)
      .then(
        () => {},
        (error: unknown) => {
          this.config.logger.error(
            { component: 'sync-worker', err: messageOf(error) },
            'building the search index failed',
          );
        },
      )
      .finally(() => {
        if (this.#build?.controller === controller) this.#build = null;
      });
    this.#build = { promise, controller };
  }

  /** Stops the search index build at its next step; resolves once it has stopped. */
  #stopBuild(): Promise<void> {
    const build = this.#build;
    if (!build) return Promise.resolve();
    build.controller.abort();
    return build.promise;
  }

  #halted(): void {
    this.#phase = 'halted';
    this.#stopTimersAndLive();
  }

  #stopTimersAndLive(): void {
    this.#clearSchedule();
    this.#clearPoll();
    this.#stopWriteWatch();
    const live = this.#live;
    this.#live = null;
    void live?.stop();
  }

  #schedule(delayMs: number): void {
    this.#clearSchedule();
    const { scheduler } = this.config;
    this.#nextAt = scheduler.now() + delayMs;
    this.#timer = scheduler.setTimeout(() => {
      this.#timer = null;
      this.#nextAt = null;
      void this.#request({ trigger: 'auto' });
    }, delayMs);
  }

  #clearSchedule(): void {
    if (this.#timer !== null) this.config.scheduler.clearTimeout(this.#timer);
    this.#timer = null;
    this.#nextAt = null;
  }

  #schedulePoll(): void {
    this.#clearPoll();
    this.#pollTimer = this.config.scheduler.setTimeout(() => {
      this.#pollTimer = null;
      this.#emitStatus();
      if (this.#phase === 'running') this.#schedulePoll();
    }, this.config.statusPollMs);
  }

  #clearPoll(): void {
    if (this.#pollTimer !== null) this.config.scheduler.clearTimeout(this.#pollTimer);
    this.#pollTimer = null;
  }

  #startWriteWatch(): void {
    if (!this.config.pushOnWrite || !this.#client.localWriteMark || this.#writeTimer !== null) return;
    this.#writeMark = this.#readWriteMark();
    this.#scheduleWriteWatch();
  }

  #scheduleWriteWatch(): void {
    this.#writeTimer = this.config.scheduler.setTimeout(() => {
      this.#writeTimer = null;
      if (this.#phase !== 'running') return;
      this.#checkWrites();
      this.#scheduleWriteWatch();
    }, this.config.writePollMs);
  }

  #stopWriteWatch(): void {
    const { scheduler } = this.config;
    if (this.#writeTimer !== null) scheduler.clearTimeout(this.#writeTimer);
    this.#writeTimer = null;
    if (this.#writePush) scheduler.clearTimeout(this.#writePush.timer);
    this.#writePush = null;
  }

  #readWriteMark(): string | null {
    try {
      return this.#client.localWriteMark?.() ?? null;
    } catch (error) {
      // The file closed under a late timer; the interval still pushes.
      this.config.logger.warn(
        { component: 'sync-worker', err: messageOf(error) },
        'could not read the outbox',
      );
      return this.#writeMark;
    }
  }

  /**
   * A new local write (the unsent rows' mark moved and some wait) pushes after a quiet moment of
   * `pushAfterWriteMs`, and at most `pushAfterWriteMaxMs` after the first write it waited for. Offline, the
   * backoff decides when to try again instead.
   */
  #checkWrites(): void {
    const mark = this.#readWriteMark();
    if (mark === this.#writeMark) return;
    this.#writeMark = mark;
    if (mark === null || this.#offlineFailures > 0) return;
    const { scheduler, pushAfterWriteMs, pushAfterWriteMaxMs } = this.config;
    const now = scheduler.now();
    const since = this.#writePush?.since ?? now;
    if (this.#writePush) scheduler.clearTimeout(this.#writePush.timer);
    const delay = Math.max(0, Math.min(pushAfterWriteMs, since + pushAfterWriteMaxMs - now));
    const timer = scheduler.setTimeout(() => {
      this.#writePush = null;
      void this.#request({ trigger: 'write' });
    }, delay);
    this.#writePush = { since, timer };
  }

  #startLive(): void {
    if (!this.config.live || this.#live) return;
    const { scheduler, logger, liveRetryMaxMs, liveIdleTimeoutMs } = this.config;
    this.#live = new LiveUpdates({
      open: (signal) => this.#client.openChangeStream(signal),
      onChanges: () => void this.#request({ trigger: 'live' }),
      // Notices sent while the stream was down are lost: pull once to catch up.
      onConnected: (reconnected) => {
        if (reconnected) void this.#request({ trigger: 'live' });
      },
      onConnectionChange: () => {
        this.#emitStatus();
        // A stream that dropped may be a server gone down: a cycle now finds out, so the pill turns red in a
        // moment rather than at the next interval. (Reconnects that keep failing change nothing: no cycle.)
        if (this.#live?.connected === false && this.#phase === 'running')
          void this.#request({ trigger: 'live' });
      },
      scheduler,
      logger,
      retryBaseMs: 1000,
      retryMaxMs: liveRetryMaxMs,
      idleTimeoutMs: liveIdleTimeoutMs,
    });
    this.#live.start();
  }

  #emitStatus(): void {
    let status: WorkerStatus;
    try {
      status = this.status;
    } catch (error) {
      // The file closed under a late timer; nothing to tell.
      this.config.logger.warn(
        { component: 'sync-worker', err: messageOf(error) },
        'could not read the status',
      );
      return;
    }
    const key = JSON.stringify(status);
    if (key === this.#lastStatusKey) return;
    this.#lastStatusKey = key;
    this.#emit('status', status);
  }

  #emit<E extends keyof SyncWorkerEvents>(event: E, ...args: Parameters<SyncWorkerEvents[E]>): void {
    for (const listener of this.#listeners[event]) {
      try {
        (listener as (...values: Parameters<SyncWorkerEvents[E]>) => void)(...args);
      } catch (error) {
        // A listener's bug must not stop the schedule.
        this.config.logger.error(
          { component: 'sync-worker', event, err: messageOf(error) },
          'listener failed',
        );
      }
    }
  }
}

function modeOf(ask: CycleAsk): SyncMode {
  return !ask.pullOnly ? 'sync' : ask.discardLocal ? 'discard-local' : 'pull-only';
}

/** The entry of a cycle dropped before it started (its worker was stopped); not written to the log. */
function notRun(ask: CycleAsk, now: number): SyncLogEntry {
  return {
    ...emptyEntry(ask, now),
    outcome: 'stopped',
    error: 'Sync was stopped before this cycle started',
    errorCode: 'STOPPED',
  };
}

/** The entry of a cycle whose runner threw (the device file failed under it). */
function crashed(ask: CycleAsk, started: number, now: number, error: unknown): SyncLogEntry {
  const code = (error as { code?: unknown } | null)?.code;
  return {
    ...emptyEntry(ask, started),
    durationMs: Math.max(0, now - started),
    outcome: 'error',
    error: messageOf(error),
    errorCode: typeof code === 'string' ? code : 'INTERNAL',
  };
}

function emptyEntry(ask: CycleAsk, startedAt: number): SyncLogEntry {
  return {
    trigger: ask.trigger satisfies SyncTrigger,
    mode: modeOf(ask),
    startedAt: new Date(startedAt).toISOString(),
    durationMs: 0,
    ok: false,
    outcome: 'error',
    pushed: 0,
    pulled: 0,
    conflicts: 0,
    conflictRows: [],
    rejected: [],
    repairs: [],
    error: null,
    errorCode: null,
  };
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number of ms`);
  return value;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

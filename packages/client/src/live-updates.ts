import type { DeviceLogger } from './logger.js';
import { backoffDelay, type Scheduler } from './scheduler.js';
import { CHANGES_EVENT, type ServerEvent } from './server-events.js';

/** What {@link LiveUpdates} is given: how to open the stream, what to do with it, and its timing. */
export interface LiveUpdatesConfig {
  /** Opens the device's event stream; resolves once the server accepted it. */
  readonly open: (signal: AbortSignal) => Promise<AsyncIterable<ServerEvent>>;
  /** Another device's push committed: pull now. */
  readonly onChanges: () => void;
  /**
   * The stream is open. `reconnected` is true when it had been open before: notices may have been missed
   * while it was down, so the caller should pull.
   */
  readonly onConnected: (reconnected: boolean) => void;
  /** {@link LiveUpdates.connected} changed. */
  readonly onConnectionChange: () => void;
  readonly scheduler: Scheduler;
  readonly logger: DeviceLogger;
  /** The first wait before reconnecting; it doubles with each failure. */
  readonly retryBaseMs: number;
  /** The longest wait before reconnecting. */
  readonly retryMaxMs: number;
  /** A stream silent this long (not even a keep-alive) counts as dropped. */
  readonly idleTimeoutMs: number;
}

/**
 * Holds the server's event stream while it runs: on `changes` it says so; when the stream drops (or goes
 * silent) it reconnects with a jittered, doubling wait. Its loop:
 *
 *   open ──ok──▶ connected ──changes──▶ onChanges()
 *     ▲ │                 │ ended, cut, or silent for idleTimeoutMs
 *     │ └──failed──┐      ▼
 *     └── wait (backoff; reconnectNow() skips it) ◀──
 */
export class LiveUpdates {
  readonly #config: LiveUpdatesConfig;
  #running = false;
  #connected = false;
  #loop: Promise<void> | null = null;
  #controller: AbortController | null = null;
  #watchdog: unknown = null;
  /** Ends the wait before the next attempt. */
  #wake: (() => void) | null = null;
  #waitTimer: unknown = null;

  constructor(config: LiveUpdatesConfig) {
    this.#config = config;
  }

  /** Whether the stream is open now. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Starts holding the stream. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Closes the stream and ends the loop, leaving no timer or request behind. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#controller?.abort(new DOMException('the live stream was stopped', 'AbortError'));
    this.#endWait();
    await this.#loop;
    this.#loop = null;
  }

  /** If waiting to reconnect, tries now (the server just answered a cycle, so it is back). */
  reconnectNow(): void {
    this.#endWait();
  }

  async #run(): Promise<void> {
    let failures = 0;
    let opened = false;
    while (this.#running) {
      const controller = new AbortController();
      this.#controller = controller;
      try {
        const events = await this.#config.open(controller.signal);
        if (!this.#running) break;
        failures = 0;
        this.#setConnected(true);
        this.#config.onConnected(opened);
        opened = true;
        this.#armWatchdog(controller);
        for await (const event of events) {
          this.#armWatchdog(controller);
          if (event.kind === 'event' && event.event === CHANGES_EVENT) this.#config.onChanges();
        }
        if (this.#running)
          this.#config.logger.info({ component: 'live-updates' }, 'the server ended the live stream');
      } catch (error) {
        if (!this.#running) break;
        const fields = { component: 'live-updates', err: messageOf(error), failures: failures + 1 };
        if (failures === 0)
          this.#config.logger.warn(fields, 'live stream dropped; syncing on the interval meanwhile');
        else this.#config.logger.info(fields, 'live stream still down');
      } finally {
        this.#disarmWatchdog();
        controller.abort();
        this.#controller = null;
        this.#setConnected(false);
      }
      if (!this.#running) break;
      failures += 1;
      const { retryBaseMs, retryMaxMs, scheduler } = this.#config;
      await this.#wait(backoffDelay(failures, retryBaseMs, retryMaxMs, scheduler.random()));
    }
  }

  #wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#waitTimer = this.#config.scheduler.setTimeout(() => this.#endWait(), ms);
    });
  }

  #endWait(): void {
    if (this.#waitTimer !== null) this.#config.scheduler.clearTimeout(this.#waitTimer);
    this.#waitTimer = null;
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #armWatchdog(controller: AbortController): void {
    this.#disarmWatchdog();
    this.#watchdog = this.#config.scheduler.setTimeout(() => {
      this.#watchdog = null;
      controller.abort(new Error(`the live stream was silent for ${this.#config.idleTimeoutMs / 1000} s`));
    }, this.#config.idleTimeoutMs);
  }

  #disarmWatchdog(): void {
    if (this.#watchdog !== null) this.#config.scheduler.clearTimeout(this.#watchdog);
    this.#watchdog = null;
  }

  #setConnected(connected: boolean): void {
    if (this.#connected === connected) return;
    this.#connected = connected;
    this.#config.onConnectionChange();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

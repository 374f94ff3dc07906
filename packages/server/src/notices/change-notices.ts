import { EventEmitter } from 'node:events';

/** A tenant's rows changed: devices streaming events should pull now. */
export interface ChangeNotice {
  readonly tenantId: string;
  /** The device whose push made the change (it need not pull its own write), or null for the server. */
  readonly deviceId: string | null;
}

/**
 * Tells every server process that a tenant's rows changed, so each can tell the devices streaming from it.
 * One process: in memory. Several processes: through PostgreSQL LISTEN/NOTIFY.
 */
export interface ChangeNotices {
  publish(notice: ChangeNotice): Promise<void>;
  /** Calls `listener` for every notice of the tenant; returns the unsubscribe function. */
  subscribe(tenantId: string, listener: (notice: ChangeNotice) => void): () => void;
  close(): Promise<void>;
}

/** Notices within one process. */
export class LocalChangeNotices implements ChangeNotices {
  readonly #emitter = new EventEmitter();

  constructor() {
    // One listener per connected device: many devices may stream from one process.
    this.#emitter.setMaxListeners(0);
  }

  publish(notice: ChangeNotice): Promise<void> {
    this.deliver(notice);
    return Promise.resolve();
  }

  /** Hands a notice to this process's listeners (also used by transports that received it from elsewhere). */
  deliver(notice: ChangeNotice): void {
    this.#emitter.emit(notice.tenantId, notice);
  }

  subscribe(tenantId: string, listener: (notice: ChangeNotice) => void): () => void {
    this.#emitter.on(tenantId, listener);
    return () => this.#emitter.off(tenantId, listener);
  }

  close(): Promise<void> {
    this.#emitter.removeAllListeners();
    return Promise.resolve();
  }
}

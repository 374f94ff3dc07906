import { EventEmitter } from 'node:events';

/** A tenant's rows changed: devices streaming events should pull now. */
export interface ChangeNotice {
  readonly tenantId: string;
  /** The device whose push made the change (it need not pull its own write), or null for the server. */
  readonly deviceId: string | null;
  /**
   * The scopes the commit wrote rows in (PROTOCOL.md §7): '' for the tenant's rows, else store ids. Only the
   * devices of these stores (every device when '' is among them) are told; absent: every device.
   */
  readonly scopes?: readonly string[];
}

/** Whether a device of `storeId` receives rows of a commit that wrote in these scopes. */
export function noticeConcerns(notice: ChangeNotice, storeId: string | null): boolean {
  return (
    notice.scopes === undefined ||
    notice.scopes.includes('') ||
    (storeId !== null && notice.scopes.includes(storeId))
  );
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

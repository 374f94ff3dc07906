import type { PullResponse, PushResponse, SyncSchema } from '@tillsync/protocol';
import type { DeviceSession } from '../session.js';
import type { DeviceCallContext, Transport } from '../transport.js';
import type { CycleRemote } from './cycle-store.js';

/** Options for {@link SessionRemote}. */
export interface SessionRemoteOptions {
  readonly session: DeviceSession;
  readonly transport: Transport;
  /** Cuts every call short when the cycle is stopped. */
  readonly signal?: AbortSignal | undefined;
}

/** The server for one cycle: each call made through the device's session (its tokens refreshed as needed). */
export class SessionRemote implements CycleRemote {
  readonly #session: DeviceSession;
  readonly #transport: Transport;
  readonly #signal: AbortSignal | undefined;

  constructor(options: SessionRemoteOptions) {
    this.#session = options.session;
    this.#transport = options.transport;
    this.#signal = options.signal;
  }

  async health(): Promise<number> {
    return (await this.#transport.health(this.#signal)).protocol;
  }

  schema(): Promise<SyncSchema> {
    return this.#call((context) => this.#transport.schema(context));
  }

  push(body: string): Promise<PushResponse> {
    return this.#call((context) => this.#transport.push(body, context));
  }

  pull(since: string, limit: number, received = 0): Promise<PullResponse> {
    return this.#call((context) => this.#transport.pull(since, limit, context), received);
  }

  #call<T>(fn: (context: DeviceCallContext) => Promise<T>, received = 0): Promise<T> {
    return this.#session.call(fn, this.#signal, received);
  }
}

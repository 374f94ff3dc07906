import { Redis } from 'ioredis';
import { LocalChangeNotices, type ChangeNotice, type ChangeNotices } from './change-notices.js';

/** What {@link RedisChangeNotices.open} needs. */
export interface RedisChangeNoticesOptions {
  readonly redisUrl: string;
  /** Starts every channel name, so deployments sharing one Redis do not hear each other. */
  readonly prefix: string;
  readonly onError: (error: unknown) => void;
}

/**
 * Notices across server processes through Redis pub/sub, one channel per tenant (`<prefix>:changes:<tenantId>`):
 * a process subscribes to a tenant's channel while a device of that tenant streams from it, so it hears only
 * the tenants it serves. ioredis reconnects a lost connection and subscribes again; a notice published while
 * the connection is down fails at once (the push still succeeds) and devices catch up on their schedule.
 */
export class RedisChangeNotices implements ChangeNotices {
  readonly #local = new LocalChangeNotices();
  readonly #prefix: string;
  readonly #onError: (error: unknown) => void;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  /** How many local listeners each subscribed tenant has. */
  readonly #listenerCounts = new Map<string, number>();

  private constructor(options: RedisChangeNoticesOptions) {
    this.#prefix = options.prefix;
    this.#onError = options.onError;
    // Publishing never waits for a reconnect: the push it follows must answer.
    // Both connections are named `<prefix>:notices`, so `CLIENT LIST` shows whose they are.
    const connectionName = `${options.prefix}:notices`;
    this.#publisher = new Redis(options.redisUrl, {
      connectionName,
      lazyConnect: true,
      enableOfflineQueue: false,
    });
    // Subscribing waits for the connection, however long it is down.
    this.#subscriber = new Redis(options.redisUrl, {
      connectionName,
      lazyConnect: true,
      maxRetriesPerRequest: null,
    });
    for (const client of [this.#publisher, this.#subscriber]) client.on('error', this.#onError);
    this.#subscriber.on('message', (channel: string, message: string) => {
      try {
        const notice = JSON.parse(message) as ChangeNotice;
        if (this.#channel(notice.tenantId) === channel) this.#local.deliver(notice);
      } catch (error) {
        this.#onError(error);
      }
    });
  }

  /** Connects both connections before returning, so a Redis that does not answer fails the start. */
  static async open(options: RedisChangeNoticesOptions): Promise<RedisChangeNotices> {
    const notices = new RedisChangeNotices(options);
    try {
      await Promise.all([notices.#publisher.connect(), notices.#subscriber.connect()]);
    } catch (error) {
      notices.#publisher.disconnect();
      notices.#subscriber.disconnect();
      throw new Error(`cannot reach Redis for change notices: ${(error as Error).message}`, { cause: error });
    }
    return notices;
  }

  #channel(tenantId: string): string {
    return `${this.#prefix}:changes:${tenantId}`;
  }

  async publish(notice: ChangeNotice): Promise<void> {
    await this.#publisher.publish(this.#channel(notice.tenantId), JSON.stringify(notice));
  }

  subscribe(tenantId: string, listener: (notice: ChangeNotice) => void): () => void {
    const count = this.#listenerCounts.get(tenantId) ?? 0;
    this.#listenerCounts.set(tenantId, count + 1);
    if (count === 0) this.#subscriber.subscribe(this.#channel(tenantId)).catch(this.#onError);
    const unsubscribe = this.#local.subscribe(tenantId, listener);
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      unsubscribe();
      const left = (this.#listenerCounts.get(tenantId) ?? 1) - 1;
      if (left > 0) {
        this.#listenerCounts.set(tenantId, left);
        return;
      }
      this.#listenerCounts.delete(tenantId);
      this.#subscriber.unsubscribe(this.#channel(tenantId)).catch(this.#onError);
    };
  }

  async close(): Promise<void> {
    this.#listenerCounts.clear();
    await Promise.all([closeConnection(this.#publisher), closeConnection(this.#subscriber)]);
    await this.#local.close();
  }
}

/** Quits a connection that is up; one that is down now is dropped, so shutting down never waits on Redis. */
async function closeConnection(client: Redis): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  await client.quit().catch(() => client.disconnect());
}

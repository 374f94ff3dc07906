import pg from 'pg';
import { LocalChangeNotices, type ChangeNotice, type ChangeNotices } from './change-notices.js';

const CHANNEL = 'tillsync_changes';

/**
 * Notices across server processes on one PostgreSQL: each process LISTENs on one connection of its own and
 * NOTIFYs through another, and hands what it hears to its own devices. A lost listening connection is
 * opened again; devices also sync on their schedule, so a notice missed meanwhile only delays them.
 */
export class PostgresChangeNotices implements ChangeNotices {
  readonly #local = new LocalChangeNotices();
  readonly #databaseUrl: string;
  readonly #onError: (error: unknown) => void;
  readonly #publisher: pg.Pool;
  #listener: pg.Client | null = null;
  #closed = false;

  private constructor(databaseUrl: string, onError: (error: unknown) => void) {
    this.#databaseUrl = databaseUrl;
    this.#onError = onError;
    this.#publisher = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    this.#publisher.on('error', onError);
  }

  /** Connects the listening connection before returning, so no notice after start is missed. */
  static async open(databaseUrl: string, onError: (error: unknown) => void): Promise<PostgresChangeNotices> {
    const notices = new PostgresChangeNotices(databaseUrl, onError);
    await notices.#listen();
    return notices;
  }

  async #listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#databaseUrl });
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      try {
        this.#local.deliver(JSON.parse(message.payload) as ChangeNotice);
      } catch (error) {
        this.#onError(error);
      }
    });
    client.on('error', (error) => {
      this.#onError(error);
      this.#listener = null;
      if (!this.#closed) setTimeout(() => void this.#listen().catch(this.#onError), 1000).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.#listener = client;
  }

  async publish(notice: ChangeNotice): Promise<void> {
    await this.#publisher.query('select pg_notify($1, $2)', [CHANNEL, JSON.stringify(notice)]);
  }

  subscribe(tenantId: string, listener: (notice: ChangeNotice) => void): () => void {
    return this.#local.subscribe(tenantId, listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#listener?.end().catch(() => undefined);
    await this.#publisher.end();
    await this.#local.close();
  }
}

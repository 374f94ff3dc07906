import pg from 'pg';
import { LocalChangeNotices, type ChangeNotice, type ChangeNotices } from './change-notices.js';

const CHANNEL = 'tillsync_changes';
/** PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more: a batch is cut below that. */
const MAX_PAYLOAD_BYTES = 7000;

/**
 * Notices across server processes on one PostgreSQL: each process LISTENs on one connection of its own and
 * NOTIFYs through another, and hands what it hears to its own devices. A lost listening connection is
 * opened again; devices also sync on their schedule, so a notice missed meanwhile only delays them.
 *
 * A NOTIFY is a transaction of its own: notices published while one is on its way go together in the next
 * (a JSON array), so a busy server sends a few NOTIFYs a second however many pushes it answers. They are
 * sent without waiting for the disk (`synchronous_commit` off): a notice lost in a crash costs nothing.
 */
export class PostgresChangeNotices implements ChangeNotices {
  readonly #local = new LocalChangeNotices();
  readonly #databaseUrl: string;
  readonly #onError: (error: unknown) => void;
  readonly #publisher: pg.Pool;
  #listener: pg.Client | null = null;
  #closed = false;
  /** Notices waiting for the NOTIFY on its way, and the settling of the batch they will go in. */
  #waiting: ChangeNotice[] = [];
  #nextBatch: Promise<void> | null = null;
  #sending: Promise<void> = Promise.resolve();

  private constructor(databaseUrl: string, onError: (error: unknown) => void) {
    this.#databaseUrl = databaseUrl;
    this.#onError = onError;
    this.#publisher = new pg.Pool({
      connectionString: databaseUrl,
      max: 1,
      options: '-c synchronous_commit=off',
    });
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
        // An array from this version; one notice from a process of an earlier one.
        const parsed = JSON.parse(message.payload) as ChangeNotice | ChangeNotice[];
        for (const notice of Array.isArray(parsed) ? parsed : [parsed]) this.#local.deliver(notice);
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

  /** Settles when the NOTIFY carrying the notice was sent (or failed: then it rejects). */
  publish(notice: ChangeNotice): Promise<void> {
    if (!this.#waiting.some((waiting) => sameNotice(waiting, notice))) this.#waiting.push(notice);
    this.#nextBatch ??= this.#sending.then(() => {
      const batch = this.#waiting;
      this.#waiting = [];
      this.#nextBatch = null;
      return this.#send(batch);
    });
    const settled = this.#nextBatch;
    this.#sending = settled.catch(() => undefined);
    return settled;
  }

  async #send(notices: readonly ChangeNotice[]): Promise<void> {
    for (const payload of payloads(notices))
      await this.#publisher.query('select pg_notify($1, $2)', [CHANNEL, payload]);
  }

  subscribe(tenantId: string, listener: (notice: ChangeNotice) => void): () => void {
    return this.#local.subscribe(tenantId, listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#sending;
    await this.#listener?.end().catch(() => undefined);
    await this.#publisher.end();
    await this.#local.close();
  }
}

function sameNotice(a: ChangeNotice, b: ChangeNotice): boolean {
  return a.tenantId === b.tenantId && a.deviceId === b.deviceId;
}

/** The notices as JSON arrays, each under {@link MAX_PAYLOAD_BYTES}. */
function payloads(notices: readonly ChangeNotice[]): string[] {
  const texts: string[] = [];
  let batch: string[] = [];
  let bytes = 2;
  for (const notice of notices) {
    const text = JSON.stringify(notice);
    const size = Buffer.byteLength(text) + 1;
    if (batch.length > 0 && bytes + size > MAX_PAYLOAD_BYTES) {
      texts.push(`[${batch.join(',')}]`);
      [batch, bytes] = [[], 2];
    }
    batch.push(text);
    bytes += size;
  }
  if (batch.length > 0) texts.push(`[${batch.join(',')}]`);
  return texts;
}

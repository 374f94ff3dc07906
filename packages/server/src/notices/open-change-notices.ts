import { parsePgliteUrl } from '../storage/postgres/pglite-url.js';
import { LocalChangeNotices, type ChangeNotices } from './change-notices.js';
import { PostgresChangeNotices } from './postgres-change-notices.js';
import { RedisChangeNotices } from './redis-change-notices.js';

/** Where a server's notices may travel. */
export interface ChangeNoticesOptions {
  /** The server's database URL, or null for the embedded SQLite file. */
  readonly databaseUrl: string | null;
  /** The Redis the server also runs jobs on, or null. */
  readonly redisUrl: string | null;
  /** Starts Redis channel names (the BullMQ prefix, so one Redis can hold several deployments). */
  readonly redisPrefix: string;
  readonly onError: (error: unknown) => void;
}

/**
 * The notices for a server's setup: through Redis when it has one (several processes, and no PostgreSQL
 * connection spent on listening), else through PostgreSQL LISTEN/NOTIFY on a PostgreSQL server, else in
 * memory: SQLite and PGlite serve one process.
 */
export async function openChangeNotices(options: ChangeNoticesOptions): Promise<ChangeNotices> {
  if (options.redisUrl !== null) {
    return RedisChangeNotices.open({
      redisUrl: options.redisUrl,
      prefix: options.redisPrefix,
      onError: options.onError,
    });
  }
  if (options.databaseUrl !== null && parsePgliteUrl(options.databaseUrl) === null) {
    return PostgresChangeNotices.open(options.databaseUrl, options.onError);
  }
  return new LocalChangeNotices();
}

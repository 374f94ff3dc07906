import { CompiledSchema, SHOP_SCHEMA, type SyncSchema } from '@tillsync/protocol';
import type { JobLogger } from '@tillsync/jobs';
import { openServerStorage, type ServerStorage } from '../server-storage.js';
import type { ChangeNotices } from '../notices/change-notices.js';
import { openChangeNotices } from '../notices/open-change-notices.js';
import type { StorageLocation } from '../storage/storage.js';
import { resolveJobsConfig, ServerJobs, type ServerJobsOptions } from './server-jobs.js';

/** What a caller passes to {@link startJobWorker} (`tillsync worker`). */
export interface JobWorkerOptions extends Omit<ServerJobsOptions, 'run'> {
  /** The server's database. */
  readonly location: StorageLocation;
  /** The synced tables, as the server has them. @defaultValue the built-in shop schema */
  readonly schema?: SyncSchema;
  /** @defaultValue `Date.now` */
  readonly now?: () => number;
  readonly logger?: JobLogger;
}

/** A running worker process's jobs, and how to stop it. */
export interface RunningJobWorker {
  readonly jobs: ServerJobs;
  readonly storage: ServerStorage;
  /** Stops taking jobs, lets the running ones end, and closes the database. */
  stop(): Promise<void>;
}

/**
 * Runs sync jobs outside the server: on BullMQ with `redisUrl` (as many workers on as many machines as the
 * queues need), else straight from the database like the server's embedded queue.
 *
 * @example
 * const worker = await startJobWorker({ location: { dbPath: './data/cloud.db' }, redisUrl: 'redis://127.0.0.1:6379' });
 * process.on('SIGTERM', () => void worker.stop());
 */
export async function startJobWorker(options: JobWorkerOptions): Promise<RunningJobWorker> {
  const now = options.now ?? Date.now;
  const storage = await openServerStorage(options.location, { now });
  const config = resolveJobsConfig({ ...options, run: true });
  let jobs: ServerJobs;
  let notices: ChangeNotices | undefined;
  try {
    // The rows its jobs write are news to the servers' devices: told through Redis or PostgreSQL, as the
    // servers tell each other (a worker on a SQLite file tells no one: its server's devices pull on time).
    notices = await openChangeNotices({
      databaseUrl: 'databaseUrl' in options.location ? options.location.databaseUrl : null,
      redisUrl: config.redisUrl,
      redisPrefix: config.bullmqPrefix,
      onError: (error) => options.logger?.warn({ err: error }, 'change notices'),
    });
    const told = notices;
    jobs = new ServerJobs({
      config,
      schema: new CompiledSchema(options.schema ?? SHOP_SCHEMA),
      now,
      openStore: (storeOptions) => storage.createJobStore(storeOptions),
      onRowsWritten: (tenantId, scopes) => {
        told.publish({ tenantId, deviceId: null, scopes }).catch((error: unknown) => {
          options.logger?.warn({ err: error }, 'could not publish a change notice');
        });
      },
      ...(options.logger ? { logger: options.logger } : {}),
    });
    await jobs.start();
  } catch (error) {
    await notices?.close();
    await storage.close();
    throw error;
  }
  const opened = notices;
  return {
    jobs,
    storage,
    async stop() {
      await jobs.stop();
      await opened.close();
      await storage.close();
    },
  };
}

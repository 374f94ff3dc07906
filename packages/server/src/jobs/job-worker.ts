import { CompiledSchema, SHOP_SCHEMA, type SyncSchema } from '@tillsync/protocol';
import type { JobLogger } from '@tillsync/jobs';
import { openServerStorage, type ServerStorage } from '../server-storage.js';
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
  let jobs: ServerJobs;
  try {
    jobs = new ServerJobs({
      config: resolveJobsConfig({ ...options, run: true }),
      schema: new CompiledSchema(options.schema ?? SHOP_SCHEMA),
      now,
      openStore: (storeOptions) => storage.createJobStore(storeOptions),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    await jobs.start();
  } catch (error) {
    await storage.close();
    throw error;
  }
  return {
    jobs,
    storage,
    async stop() {
      await jobs.stop();
      await storage.close();
    },
  };
}

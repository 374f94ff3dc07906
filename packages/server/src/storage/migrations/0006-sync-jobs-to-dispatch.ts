import type { Kysely, Migration } from 'kysely';

/**
 * The BullMQ dispatcher's read of the jobs not yet handed over, from an index instead of every Queued job:
 * jobs handed over stay Queued until a worker claims them (thousands while a burst waits in Redis), and the
 * dispatcher reads on every poll, holding the write lock.
 */
export const migration0006: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createIndex('sync_jobs_to_dispatch')
      .on('sync_jobs')
      .columns(['status', 'dispatched_at', 'ready_at'])
      .execute();
  },
};

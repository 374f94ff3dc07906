import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Each queue has a loop of its own (PROTOCOL.md §6, a share of the workers per queue), and each loop's claim
 * reads the ready jobs of its queue alone. The index of waiting jobs was by `ready_at` only, so the claim of
 * a queue with nothing ready read past every job waiting in the other queues before it found none: with
 * 20,000 jobs waiting in one queue, each wake of the two others read 20,000 index entries. By queue, then
 * `ready_at`, each claim reads its own queue's jobs, oldest first, and stops at its limit.
 */
export const migration0013: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('sync_jobs_queued').execute();
    await db.schema
      .createIndex('sync_jobs_queued')
      .on('sync_jobs')
      .columns(['queue', 'ready_at'])
      .where(sql.ref('status'), '=', sql.lit('Queued'))
      .execute();
  },
};

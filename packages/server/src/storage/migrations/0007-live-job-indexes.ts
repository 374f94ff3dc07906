import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The indexes that find jobs to run hold only the jobs still waiting or running, one status each, instead
 * of every job ever run by status. A claim moves a job from the queued indexes to the started one and its
 * end takes it out, where each used to move within all three status indexes; and those indexes stay the
 * size of the work in hand however long the history grows. Queries name the status as a literal, so that
 * SQLite and PostgreSQL see a partial index serves them. A list of one tenant's jobs by status reads the
 * tenant's index, newest first.
 */
export const migration0007: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    for (const name of [
      'sync_jobs_by_status',
      'sync_jobs_by_retry',
      'sync_jobs_to_dispatch',
      'sync_jobs_by_parent',
    ])
      await db.schema.dropIndex(name).execute();
    const status = sql.ref('status');
    await db.schema
      .createIndex('sync_jobs_queued')
      .on('sync_jobs')
      .column('ready_at')
      .where(status, '=', sql.lit('Queued'))
      .execute();
    // The BullMQ dispatcher's read of the jobs not yet handed over (or whose delivery seems lost).
    await db.schema
      .createIndex('sync_jobs_to_dispatch')
      .on('sync_jobs')
      .columns(['dispatched_at', 'ready_at'])
      .where(status, '=', sql.lit('Queued'))
      .execute();
    await db.schema
      .createIndex('sync_jobs_started')
      .on('sync_jobs')
      .column('lease_expires_at')
      .where(status, '=', sql.lit('Started'))
      .execute();
    await db.schema
      .createIndex('sync_jobs_retries')
      .on('sync_jobs')
      .column('retry_after')
      .where(status, '=', sql.lit('Failed'))
      .where('retry_after', 'is not', null)
      .execute();
    await db.schema
      .createIndex('sync_jobs_by_parent')
      .on('sync_jobs')
      .column('parent_job_id')
      .where('parent_job_id', 'is not', null)
      .execute();
  },
};

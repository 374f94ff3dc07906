import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Sync jobs for years of use (PROTOCOL.md §6): an index of the jobs that ended, by when, so the retention
 * sweep finds those past `--job-retention-days` without reading the history; the ticks of job schedules
 * that have fired, one row per tenant, type and tick, so a tick enqueues once however many processes see
 * it; and the webhook secret of each job type (only its SHA-256 is kept), which also names its tenant.
 */
export const migration0010: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createIndex('sync_jobs_ended')
      .on('sync_jobs')
      .column('ended_at')
      .where(sql.ref('ended_at'), 'is not', null)
      .execute();
    await db.schema
      .createTable('sync_job_schedule_ticks')
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('tick_at', 'bigint', (column) => column.notNull())
      .addColumn('job_id', 'text', (column) => column.notNull())
      .addPrimaryKeyConstraint('sync_job_schedule_ticks_pk', ['tenant_id', 'name', 'tick_at'])
      .execute();
    await db.schema
      .createTable('sync_job_webhooks')
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('secret_hash', 'text', (column) => column.notNull().unique())
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .addPrimaryKeyConstraint('sync_job_webhooks_pk', ['tenant_id', 'name'])
      .execute();
  },
};

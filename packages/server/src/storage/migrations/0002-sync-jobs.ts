import type { Kysely, Migration } from 'kysely';

/**
 * Sync jobs (PROTOCOL.md §6): the jobs with everything that happened to them, the owner's settings of job
 * types, the per-target locks that keep two jobs off one row, and the last state of deleted rows, so a job
 * whose source was deleted can still read it. Times a worker compares are integer milliseconds.
 */
export const migration0002: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('sync_jobs')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('type', 'text', (column) => column.notNull())
      .addColumn('parent_job_id', 'text')
      .addColumn('title', 'text', (column) => column.notNull())
      .addColumn('status', 'text', (column) => column.notNull())
      .addColumn('source_table', 'text')
      .addColumn('source_id', 'text')
      .addColumn('operation', 'text')
      .addColumn('target_table', 'text')
      .addColumn('target_id', 'text')
      .addColumn('context', 'text', (column) => column.notNull())
      .addColumn('diff_summary', 'text')
      .addColumn('current_data', 'text')
      .addColumn('updated_data', 'text')
      .addColumn('error_message', 'text')
      .addColumn('error_stack', 'text')
      .addColumn('cancel_reason', 'text')
      .addColumn('queue', 'text', (column) => column.notNull())
      .addColumn('timeout_sec', 'double precision', (column) => column.notNull())
      .addColumn('retry_delay_sec', 'double precision', (column) => column.notNull())
      .addColumn('max_retries', 'integer', (column) => column.notNull())
      .addColumn('verbose_logging', 'integer', (column) => column.notNull())
      .addColumn('retry_count', 'integer', (column) => column.notNull())
      .addColumn('retry_after', 'bigint')
      .addColumn('insert_enabled', 'integer', (column) => column.notNull())
      .addColumn('update_enabled', 'integer', (column) => column.notNull())
      .addColumn('delete_enabled', 'integer', (column) => column.notNull())
      .addColumn('update_without_changes_enabled', 'integer', (column) => column.notNull())
      .addColumn('dry_run', 'integer', (column) => column.notNull())
      .addColumn('trigger_type', 'text', (column) => column.notNull())
      .addColumn('trigger_table', 'text')
      .addColumn('trigger_id', 'text')
      .addColumn('trigger_event', 'text')
      .addColumn('trigger_device_id', 'text')
      .addColumn('trigger_at', 'bigint', (column) => column.notNull())
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .addColumn('started_at', 'bigint')
      .addColumn('ended_at', 'bigint')
      .addColumn('duration_ms', 'bigint')
      // When a Queued job may run: now, or later for one whose target was busy.
      .addColumn('ready_at', 'bigint')
      .addColumn('lock_key', 'text')
      .addColumn('lease_owner', 'text')
      .addColumn('lease_expires_at', 'bigint')
      .addColumn('attempt', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('recoveries', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('dispatched_at', 'bigint')
      .execute();
    await db.schema
      .createIndex('sync_jobs_by_tenant')
      .on('sync_jobs')
      .columns(['tenant_id', 'created_at'])
      .execute();
    await db.schema
      .createIndex('sync_jobs_by_status')
      .on('sync_jobs')
      .columns(['status', 'ready_at'])
      .execute();
    await db.schema
      .createIndex('sync_jobs_by_retry')
      .on('sync_jobs')
      .columns(['status', 'retry_after'])
      .execute();
    await db.schema.createIndex('sync_jobs_by_parent').on('sync_jobs').column('parent_job_id').execute();
    await db.schema
      .createTable('sync_job_type_settings')
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('name', 'text', (column) => column.notNull())
      // Only what the owner set; the rest comes from the type's code.
      .addColumn('settings', 'text', (column) => column.notNull())
      .addColumn('updated_at', 'bigint', (column) => column.notNull())
      .addPrimaryKeyConstraint('sync_job_type_settings_pk', ['tenant_id', 'name'])
      .execute();
    await db.schema
      .createTable('sync_job_locks')
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('lock_key', 'text', (column) => column.notNull())
      .addColumn('job_id', 'text', (column) => column.notNull())
      .addColumn('expires_at', 'bigint', (column) => column.notNull())
      .addPrimaryKeyConstraint('sync_job_locks_pk', ['tenant_id', 'lock_key'])
      .execute();
    await db.schema.createIndex('sync_job_locks_by_job').on('sync_job_locks').column('job_id').execute();
    await db.schema
      .createTable('sync_deleted_rows')
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('tbl', 'text', (column) => column.notNull())
      .addColumn('id', 'text', (column) => column.notNull())
      .addColumn('data', 'text', (column) => column.notNull())
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .addColumn('deleted_at', 'bigint', (column) => column.notNull())
      .addPrimaryKeyConstraint('sync_deleted_rows_pk', ['tenant_id', 'tbl', 'id'])
      .execute();
  },
};

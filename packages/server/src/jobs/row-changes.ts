import type { Kysely } from 'kysely';
import type { Database } from '../storage/database.js';
import type { JobTablesOn } from '../storage/sql-sync-store.js';
import type { NewJobRecord, SettingsOverrides } from '@tillsync/jobs';
import type { DeletedRowState } from '../storage/sync-store.js';
import type { JobTables, JobsDatabase } from './job-tables.js';
import { insertJobs } from './store/insert-jobs.js';
import { readTypeSettings } from './store/type-settings.js';

/**
 * The jobs' tables that a write of synced rows changes, in the write's own transaction: the kept last states
 * of deleted rows and the jobs the write triggers. The push transaction (`storage/sql-sync-store.ts`) answers
 * the row writer's port with it; which rows and which jobs is decided by the row writer (`rows/`).
 */
export class SqlRowChanges {
  readonly #db: Kysely<JobsDatabase>;
  readonly #tenantId: string;

  constructor(db: Kysely<JobsDatabase>, tenantId: string) {
    this.#db = db;
    this.#tenantId = tenantId;
  }

  async keepDeletedRows(rows: readonly DeletedRowState[]): Promise<void> {
    for (const deleted of rows) {
      const row = {
        tenant_id: this.#tenantId,
        tbl: deleted.table,
        id: deleted.id,
        data: JSON.stringify(deleted.values),
        updated_at: deleted.updatedAt,
        deleted_at: deleted.deletedAt,
      };
      await this.#db
        .insertInto('sync_deleted_rows')
        .values(row)
        .onConflict((conflict) =>
          conflict
            .columns(['tenant_id', 'tbl', 'id'])
            .doUpdateSet({ data: row.data, updated_at: row.updated_at, deleted_at: row.deleted_at }),
        )
        .execute();
    }
  }

  readJobTypeSettings(): Promise<Map<string, SettingsOverrides>> {
    return readTypeSettings(this.#db, this.#tenantId);
  }

  insertJobs(jobs: readonly NewJobRecord[]): Promise<void> {
    return insertJobs(this.#db, this.#tenantId, jobs);
  }
}

/** The jobs' tables a write of synced rows changes, on that write's transaction (see `SqlSyncStore`). */
export const jobTablesOn: JobTablesOn = (trx: Kysely<Database>, tenantId: string) =>
  new SqlRowChanges(trx.withTables<JobTables>(), tenantId);

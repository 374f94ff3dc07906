import type { Kysely, Migration } from 'kysely';

/**
 * Merges per column (protocol 2). `sync_rows.stamps` holds the stamps of the columns last written before
 * the row's `updated_at`; null means every column carries `updated_at` (and `device_id`), which is what every
 * row stored before this migration is: each of its columns gets the row's stamp without a row being
 * rewritten. `sync_conflicts.col` names the overridden column; the records kept before are whole rows
 * (null).
 */
export const migration0008: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('sync_rows').addColumn('stamps', 'text').execute();
    await db.schema.alterTable('sync_conflicts').addColumn('col', 'text').execute();
  },
};

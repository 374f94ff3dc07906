import type { Kysely, Migration } from 'kysely';

/**
 * No echo (issue 20): `sync_rows.held_by` names the device whose file holds the row's stored state as it is
 * (its push wrote that state, and nothing has written the row since), so its pulls do not send the row back
 * to it. Null for every other row, and for every row stored before this migration: those go to every device
 * as before.
 */
export const migration0014: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('sync_rows').addColumn('held_by', 'text').execute();
  },
};

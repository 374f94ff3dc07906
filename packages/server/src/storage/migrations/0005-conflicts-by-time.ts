import type { Kysely, Migration } from 'kysely';

/**
 * The owner's conflicts list, newest first, read from an index instead of sorting all of a tenant's
 * conflicts on every call (a busy shop records thousands).
 */
export const migration0005: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createIndex('sync_conflicts_by_time')
      .on('sync_conflicts')
      .columns(['tenant_id', 'at'])
      .execute();
  },
};

import type { Kysely, Migration } from 'kysely';

/** Rate-limit windows, in the database so every server process counts the same attempts. */
export const migration0003: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('rate_limits')
      .addColumn('key', 'text', (column) => column.primaryKey())
      .addColumn('window_start', 'bigint', (column) => column.notNull())
      .addColumn('hits', 'integer', (column) => column.notNull())
      .execute();
  },
};

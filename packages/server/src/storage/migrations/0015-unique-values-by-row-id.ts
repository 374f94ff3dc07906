import type { Kysely, Migration } from 'kysely';

/**
 * `sync_unique_values_by_row` (the entries of a row, for a write that changes its keys) led with the same
 * two columns as the table's key, `(tenant_id, tbl, …)`: while PostgreSQL had no statistics of a table that
 * had just filled (a busy chain's first minutes), it priced the two alike and looked up a push's unique
 * keys through this index, reading every entry of the table for each key (17 ms a push, under the tenant's
 * lock, at 25,000 entries). Led by the row id after the tenant, it cannot serve a lookup by key at all, and
 * still serves the one by row.
 */
export const migration0015: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('sync_unique_values_by_row').execute();
    await db.schema
      .createIndex('sync_unique_values_by_row')
      .on('sync_unique_values')
      .columns(['tenant_id', 'row_id', 'tbl'])
      .execute();
  },
};

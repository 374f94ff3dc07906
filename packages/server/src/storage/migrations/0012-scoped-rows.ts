import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Scoped pulls (PROTOCOL.md §7). `sync_rows.scope` is the store a row belongs to, or '' for a row of the
 * whole tenant; a pull reads the tenant's rows and its store's rows by `(tenant_id, scope, seq)`, so its
 * cost is what the device receives, not what the tenant holds. Checksums are kept per scope and table.
 * `sync_evictions` is a store's record of a row that moved to another store, at the move's sequence number,
 * so the old store's devices drop it once. Every stored row so far is the tenant's ('').
 */
export const migration0012: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable('sync_rows')
      .addColumn('scope', 'text', (column) => column.notNull().defaultTo(''))
      .execute();
    await db.schema
      .createIndex('sync_rows_by_scope')
      .on('sync_rows')
      .columns(['tenant_id', 'scope', 'seq'])
      .unique()
      .execute();
    await db.schema.dropIndex('sync_rows_by_seq').execute();

    await db.schema.alterTable('sync_checksums').renameTo('sync_checksums_0011').execute();
    await db.schema
      .createTable('sync_checksums')
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('scope', 'text', (column) => column.notNull())
      .addColumn('tbl', 'text', (column) => column.notNull())
      .addColumn('row_count', 'bigint', (column) => column.notNull())
      .addColumn('sum', 'text', (column) => column.notNull())
      .addPrimaryKeyConstraint('sync_checksums_by_scope_pk', ['tenant_id', 'scope', 'tbl'])
      .execute();
    await sql`insert into sync_checksums (tenant_id, scope, tbl, row_count, sum)
      select tenant_id, '', tbl, row_count, sum from sync_checksums_0011`.execute(db);
    await db.schema.dropTable('sync_checksums_0011').execute();

    await db.schema
      .createTable('sync_evictions')
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('scope', 'text', (column) => column.notNull())
      .addColumn('tbl', 'text', (column) => column.notNull())
      .addColumn('id', 'text', (column) => column.notNull())
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .addColumn('seq', 'bigint', (column) => column.notNull())
      .addColumn('stored_at', 'bigint', (column) => column.notNull())
      .addPrimaryKeyConstraint('sync_evictions_pk', ['tenant_id', 'scope', 'tbl', 'id'])
      .execute();
    await db.schema
      .createIndex('sync_evictions_by_scope')
      .on('sync_evictions')
      .columns(['tenant_id', 'scope', 'seq'])
      .execute();
  },
};

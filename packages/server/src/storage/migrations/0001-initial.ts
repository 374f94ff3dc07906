import { SqliteAdapter, sql, type Kysely, type Migration } from 'kysely';

/** The first schema: tenants and accounts, devices and tokens, synced rows and their bookkeeping. */
export const migration0001: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('tenants')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('last_seq', 'bigint', (column) => column.notNull().defaultTo(0))
      .addColumn('purged_seq', 'bigint', (column) => column.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createTable('owners')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('tenants.id'))
      .addColumn('email', 'text', (column) => column.notNull().unique())
      .addColumn('password_hash', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createTable('owner_sessions')
      .addColumn('token_hash', 'text', (column) => column.primaryKey())
      .addColumn('owner_id', 'text', (column) => column.notNull().references('owners.id'))
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('expires_at', 'bigint', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createTable('pairing_codes')
      .addColumn('code_hash', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('tenants.id'))
      .addColumn('expires_at', 'bigint', (column) => column.notNull())
      .addColumn('used_at', 'bigint')
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createTable('devices')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('tenants.id'))
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('platform', 'text', (column) => column.notNull())
      .addColumn('app_version', 'text')
      .addColumn('last_seen_at', 'text')
      .addColumn('pending_changes', 'integer')
      .addColumn('revoked_at', 'text')
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex('devices_by_tenant')
      .on('devices')
      .columns(['tenant_id', 'created_at'])
      .execute();
    await db.schema
      .createTable('device_tokens')
      .addColumn('token_hash', 'text', (column) => column.primaryKey())
      .addColumn('device_id', 'text', (column) => column.notNull().references('devices.id'))
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('kind', 'text', (column) => column.notNull())
      .addColumn('family_id', 'text', (column) => column.notNull())
      .addColumn('expires_at', 'bigint', (column) => column.notNull())
      .addColumn('used_at', 'bigint')
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema.createIndex('device_tokens_by_family').on('device_tokens').column('family_id').execute();
    await db.schema
      .createTable('sync_rows')
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('tbl', 'text', (column) => column.notNull())
      .addColumn('id', 'text', (column) => column.notNull())
      .addColumn('data', 'text')
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .addColumn('deleted', 'integer', (column) => column.notNull())
      .addColumn('seq', 'bigint', (column) => column.notNull())
      .addColumn('device_id', 'text')
      .addColumn('stored_at', 'bigint', (column) => column.notNull())
      .addPrimaryKeyConstraint('sync_rows_pk', ['tenant_id', 'tbl', 'id'])
      // On SQLite the key is the table: one B-tree fewer to write per stored change.
      .$call((builder) => (isSqlite(db) ? builder.modifyEnd(sql`without rowid`) : builder))
      .execute();
    await db.schema
      .createIndex('sync_rows_by_seq')
      .on('sync_rows')
      .columns(['tenant_id', 'seq'])
      .unique()
      .execute();
    await db.schema
      .createTable('sync_unique_values')
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('tbl', 'text', (column) => column.notNull())
      .addColumn('col', 'text', (column) => column.notNull())
      .addColumn('value', 'text', (column) => column.notNull())
      .addColumn('row_id', 'text', (column) => column.notNull())
      .addPrimaryKeyConstraint('sync_unique_values_pk', ['tenant_id', 'tbl', 'col', 'value'])
      .execute();
    await db.schema
      .createIndex('sync_unique_values_by_row')
      .on('sync_unique_values')
      .columns(['tenant_id', 'tbl', 'row_id'])
      .execute();
    await db.schema
      .createTable('sync_checksums')
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('tbl', 'text', (column) => column.notNull())
      .addColumn('row_count', 'bigint', (column) => column.notNull())
      .addColumn('sum', 'text', (column) => column.notNull())
      .addPrimaryKeyConstraint('sync_checksums_pk', ['tenant_id', 'tbl'])
      .execute();
    await db.schema
      .createTable('push_answers')
      .addColumn('device_id', 'text', (column) => column.notNull())
      .addColumn('push_id', 'text', (column) => column.notNull())
      .addColumn('answer', 'text', (column) => column.notNull())
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .addPrimaryKeyConstraint('push_answers_pk', ['device_id', 'push_id'])
      .execute();
    await db.schema
      .createTable('sync_conflicts')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull())
      .addColumn('tbl', 'text', (column) => column.notNull())
      .addColumn('row_id', 'text', (column) => column.notNull())
      .addColumn('winner', 'text', (column) => column.notNull())
      .addColumn('loser', 'text', (column) => column.notNull())
      .addColumn('winner_device_id', 'text')
      .addColumn('loser_device_id', 'text')
      .addColumn('at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex('sync_conflicts_by_row')
      .on('sync_conflicts')
      .columns(['tenant_id', 'tbl', 'row_id'])
      .execute();
  },
};

function isSqlite(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof SqliteAdapter;
}

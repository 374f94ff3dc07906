import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Stores (PROTOCOL.md §7): every tenant has one or more, and every device belongs to one. Each existing
 * tenant gets its first store (named as the tenant) and each of its devices, and its unspent pairing codes,
 * belong to it, so a tenant of one store works as before. `devices.scope_seq` is the tenant's sequence
 * number when the device last changed store: a pull cursor at or below it was made for the old store and
 * must resync.
 */
export const migration0011: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('stores')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('tenants.id'))
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createIndex('stores_by_tenant')
      .on('stores')
      .columns(['tenant_id', 'created_at'])
      .execute();
    await db.schema.alterTable('tenants').addColumn('first_store_id', 'text').execute();
    await db.schema.alterTable('devices').addColumn('store_id', 'text').execute();
    await db.schema
      .alterTable('devices')
      .addColumn('scope_seq', 'bigint', (column) => column.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable('pairing_codes').addColumn('store_id', 'text').execute();
    const { rows: tenants } = await sql<{ id: string; name: string; created_at: string }>`
      select id, name, created_at from tenants`.execute(db);
    for (const tenant of tenants) {
      const storeId = randomUUID();
      await sql`insert into stores (id, tenant_id, name, created_at)
        values (${storeId}, ${tenant.id}, ${tenant.name}, ${tenant.created_at})`.execute(db);
      await sql`update tenants set first_store_id = ${storeId} where id = ${tenant.id}`.execute(db);
      await sql`update devices set store_id = ${storeId} where tenant_id = ${tenant.id}`.execute(db);
      await sql`update pairing_codes set store_id = ${storeId} where tenant_id = ${tenant.id}`.execute(db);
    }
    await db.schema
      .createIndex('devices_by_store')
      .on('devices')
      .columns(['tenant_id', 'store_id'])
      .execute();
  },
};

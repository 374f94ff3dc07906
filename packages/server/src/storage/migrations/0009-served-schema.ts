import type { Kysely, Migration } from 'kysely';

/**
 * The schema the server last served, so that a start with another one can tell an additive change from a
 * breaking one or a version that went back (`serve --schema`, PROTOCOL.md §2 schema); and each device's
 * schema version as it last said (`X-Device-Schema-Version`), for the devices panel.
 */
export const migration0009: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('served_schema')
      // One row: the key is always 1.
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('version', 'integer', (column) => column.notNull())
      .addColumn('schema', 'text', (column) => column.notNull())
      .addColumn('served_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema.alterTable('devices').addColumn('schema_version', 'integer').execute();
  },
};

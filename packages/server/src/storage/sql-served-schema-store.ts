import { sql, type Kysely } from 'kysely';
import { addToChecksum, checksumTerm, formatChecksum, type RowValues } from '@tillsync/protocol';
import type { Database } from './database.js';
import type { SqlEngine } from './sql-engine.js';
import { chunks } from './sql-values.js';
import type {
  LiveRow,
  SchemaRolloutTransaction,
  ServedSchemaRecord,
  ServedSchemaStore,
} from './served-schema-store.js';

/** Statements stay well under SQLite's and PostgreSQL's limits on bound values. */
const CHUNK = 500;

/** The served schema on any {@link SqlEngine}. */
export class SqlServedSchemaStore implements ServedSchemaStore {
  readonly #engine: SqlEngine;

  constructor(engine: SqlEngine) {
    this.#engine = engine;
  }

  rollout<T>(work: (tx: SchemaRolloutTransaction) => Promise<T>): Promise<T> {
    return this.#engine.write((trx) => work(new SqlSchemaRollout(trx)));
  }
}

class SqlSchemaRollout implements SchemaRolloutTransaction {
  readonly #trx: Kysely<Database>;

  constructor(trx: Kysely<Database>) {
    this.#trx = trx;
  }

  async readServed(): Promise<ServedSchemaRecord | null> {
    // An update that changes nothing takes the row's lock on PostgreSQL (SQLite has one writer anyway).
    await this.#trx.updateTable('served_schema').set({ id: 1 }).where('id', '=', 1).execute();
    const row = await this.#trx
      .selectFrom('served_schema')
      .select(['version', 'schema', 'served_at'])
      .where('id', '=', 1)
      .executeTakeFirst();
    return row ? { version: Number(row.version), schemaJson: row.schema, servedAt: row.served_at } : null;
  }

  async liveRows(table: string): Promise<LiveRow[]> {
    const rows = await this.#trx
      .selectFrom('sync_rows')
      .select(['tenant_id', 'id', 'data', 'seq'])
      .where('tbl', '=', table)
      .where('deleted', '=', 0)
      .orderBy('tenant_id')
      .orderBy('id')
      .execute();
    return rows.flatMap((row) =>
      row.data === null
        ? []
        : [
            {
              tenantId: row.tenant_id,
              id: row.id,
              values: JSON.parse(row.data) as RowValues,
              seq: Number(row.seq),
            },
          ],
    );
  }

  async rewriteRows(table: string, rows: readonly LiveRow[]): Promise<void> {
    for (const row of rows) {
      await this.#trx
        .updateTable('sync_rows')
        // The device whose push wrote the row no longer holds it as stored: a pull that reaches it sends it.
        .set({ data: JSON.stringify(row.values), held_by: null })
        .where('tenant_id', '=', row.tenantId)
        .where('tbl', '=', table)
        .where('id', '=', row.id)
        .where('seq', '=', row.seq)
        .execute();
    }
  }

  async replaceUniqueValues(
    table: string,
    column: string,
    entries: ReadonlyArray<{ tenantId: string; rowId: string; value: string }>,
  ): Promise<void> {
    await this.#trx
      .deleteFrom('sync_unique_values')
      .where('tbl', '=', table)
      .where('col', '=', column)
      .execute();
    for (const chunk of chunks([...entries], CHUNK)) {
      await this.#trx
        .insertInto('sync_unique_values')
        .values(
          chunk.map((entry) => ({
            tenant_id: entry.tenantId,
            tbl: table,
            col: column,
            value: entry.value,
            row_id: entry.rowId,
          })),
        )
        .execute();
    }
  }

  async rescopeRows(table: string, storeColumn: string | null): Promise<void> {
    const rows = await this.#trx
      .selectFrom('sync_rows')
      .select(['tenant_id', 'id', 'data', 'deleted', 'updated_at', 'scope'])
      .where('tbl', '=', table)
      .execute();
    const sums = new Map<string, { tenantId: string; scope: string; count: number; sum: bigint }>();
    for (const row of rows) {
      const values =
        Number(row.deleted) === 0 && row.data !== null ? (JSON.parse(row.data) as RowValues) : null;
      const store = storeColumn === null ? '' : values === null ? row.scope : values[storeColumn];
      const scope = typeof store === 'string' ? store : '';
      if (scope !== row.scope) {
        await this.#trx
          .updateTable('sync_rows')
          .set({ scope })
          .where('tenant_id', '=', row.tenant_id)
          .where('tbl', '=', table)
          .where('id', '=', row.id)
          .execute();
      }
      if (values === null) continue;
      const key = `${row.tenant_id}\u0000${scope}`;
      const total = sums.get(key) ?? { tenantId: row.tenant_id, scope, count: 0, sum: 0n };
      total.count += 1;
      total.sum = addToChecksum(total.sum, checksumTerm(row.id, row.updated_at));
      sums.set(key, total);
    }
    await this.#trx.deleteFrom('sync_checksums').where('tbl', '=', table).execute();
    for (const chunk of chunks([...sums.values()], CHUNK)) {
      await this.#trx
        .insertInto('sync_checksums')
        .values(
          chunk.map((total) => ({
            tenant_id: total.tenantId,
            scope: total.scope,
            tbl: table,
            row_count: total.count,
            sum: formatChecksum(total.sum),
          })),
        )
        .execute();
    }
  }

  async resyncEveryDevice(): Promise<void> {
    // A sequence number no change holds: every cursor handed out so far is below the new purged point, and
    // the next push takes the number after it.
    await this.#trx
      .updateTable('tenants')
      .set({ last_seq: sql<number>`last_seq + 1`, purged_seq: sql<number>`last_seq + 1` })
      .execute();
  }

  async save(version: number, schemaJson: string, servedAt: string): Promise<void> {
    const served = { version, schema: schemaJson, served_at: servedAt };
    await this.#trx
      .insertInto('served_schema')
      .values({ id: 1, ...served })
      // Two first starts at once: the later one's schema is the one kept.
      .onConflict((conflict) => conflict.column('id').doUpdateSet(served))
      .execute();
  }
}

import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { CompiledSchema, RowValues } from '@tillsync/protocol';
import type { RowQuery, RowReader, TableRow } from '@tillsync/jobs';
import type { Database } from '../../storage/database.js';
import type { SqlDialect } from '../../storage/sql-dialect.js';

/**
 * The tenant's live rows, read from the stored JSON. A search of a per-store table that names the store
 * (a chain's `sale-daily-sales` reads one store's sales of a day) reads that store's rows only, by
 * `sync_rows.scope`, so it costs what the store holds, not what the chain holds.
 */
export class SqlRowReader implements RowReader {
  readonly #db: () => Kysely<Database>;
  readonly #dialect: SqlDialect;
  readonly #tenantId: string;
  readonly #schema: CompiledSchema;

  constructor(db: () => Kysely<Database>, dialect: SqlDialect, tenantId: string, schema: CompiledSchema) {
    this.#db = db;
    this.#dialect = dialect;
    this.#tenantId = tenantId;
    this.#schema = schema;
  }

  async get(table: string, id: string): Promise<TableRow | null> {
    const row = await this.#db()
      .selectFrom('sync_rows')
      .select(['data', 'updated_at'])
      .where('tenant_id', '=', this.#tenantId)
      .where('tbl', '=', table)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && row.data !== null
      ? { table, id, values: JSON.parse(row.data) as RowValues, updatedAt: row.updated_at }
      : null;
  }

  async find(table: string, query: RowQuery = {}): Promise<TableRow[]> {
    let select = this.#db()
      .selectFrom('sync_rows')
      .select(['id', 'data', 'updated_at'])
      .where('tenant_id', '=', this.#tenantId)
      .where('tbl', '=', table)
      .where('deleted', '=', 0);
    const storeColumn = this.#schema.table(table)?.storeColumn ?? null;
    const store = storeColumn === null ? undefined : query.where?.[storeColumn];
    if (typeof store === 'string') select = select.where('scope', '=', store);
    for (const [column, condition] of Object.entries(query.where ?? {})) {
      if (column !== 'id' && !/^[a-z][a-z0-9_]{0,62}$/.test(column)) {
        throw new Error(`"${column}" is not a column name`);
      }
      if (condition === null) {
        select = select.where(this.#field(column, true), 'is', null);
      } else if (typeof condition === 'object') {
        for (const [op, bound] of Object.entries(condition) as Array<[string, string | number | undefined]>) {
          if (bound === undefined) continue;
          const operator = ({ gt: '>', gte: '>=', lt: '<', lte: '<=' } as const)[op as 'gt'];
          if (!operator) throw new Error(`"${op}" is not a range bound (gt, gte, lt, lte)`);
          select = select.where(
            (eb) => eb(this.#field(column), operator, this.#value(bound)) as Expression<SqlBool>,
          );
        }
      } else {
        select = select.where(
          (eb) => eb(this.#field(column), '=', this.#value(condition)) as Expression<SqlBool>,
        );
      }
    }
    const rows = await select
      .orderBy('id')
      .limit(query.limit ?? 10_000)
      .execute();
    return rows.map((row) => ({
      table,
      id: row.id,
      values: JSON.parse(row.data ?? '{}') as RowValues,
      updatedAt: row.updated_at,
    }));
  }

  /** A column of the stored JSON: SQLite's json_extract gives SQL values; PostgreSQL compares jsonb with jsonb. */
  #field(column: string, asText = false) {
    return column === 'id' ? sql<unknown>`id` : this.#dialect.jsonField(column, asText);
  }

  #value(value: string | number) {
    return this.#dialect.jsonValue(value);
  }
}

import { PostgresAdapter, PostgresDialect, sql } from 'kysely';
import type { SqlDialect } from '../sql-dialect.js';
import { writePostgresSyncRows } from './postgres-sync-rows.js';

/**
 * PostgreSQL's SQL (a server, or PGlite in the process): transactions run side by side, so claims lock the
 * rows they take and skip those another holds; JSON is jsonb, taken apart by `jsonb_array_elements`.
 */
export const postgresDialect = Object.freeze<SqlDialect>({
  writeIsSerialised: false,
  skipsLockedRows: true,
  writeSyncRows: writePostgresSyncRows,
  jsonElements: (json) => sql`jsonb_array_elements(${json}::jsonb) as e(value)`,
  crossJoinLookup: ({ table, alias, where }) =>
    sql`cross join lateral (select * from ${sql.table(table)} ${sql.raw(alias)} where ${where} limit 1) ${sql.raw(alias)}`,
  lockForUpdateSkipLocked: (query) => query.forUpdate().skipLocked(),
  async lockIdsSkipLocked(trx, table, ids) {
    const { rows } = await sql<{
      id: string;
    }>`select id from ${sql.table(table)} where id in (${sql.join(ids)})
      for update skip locked`.execute(trx);
    return rows.map((row) => row.id);
  },
  // jsonb compared with jsonb; as text for `is null`.
  jsonField: (column, asText) =>
    asText ? sql`(data::jsonb ->> ${column})` : sql`(data::jsonb -> ${column})`,
  jsonValue: (value) => sql`${JSON.stringify(value)}::jsonb`,
  valuesGroups: (rows) => [[...rows]],
  rowsTable: (rows, { columnType }) => ({
    // The limit tells the planner how many rows there are (of a function it assumes 100), so an update joined
    // to them reads each row by its key, where it would scan every row of a table of a few thousand.
    from: `(select value from jsonb_array_elements($1::jsonb) limit ${rows.length}) as e(value)`,
    item: (column, position) => {
      const type = columnType(column);
      return type === 'text' ? `(e.value ->> ${position})` : `cast(e.value ->> ${position} as ${type})`;
    },
    parameters: [JSON.stringify(rows)],
  }),
});

/** Kysely's PostgreSQL adapter, carrying {@link postgresDialect} to every transaction (see `dialectOf`). */
class PostgresDialectAdapter extends PostgresAdapter {
  readonly sqlDialect = postgresDialect;
}

/** Kysely's PostgreSQL dialect, with the adapter that carries {@link postgresDialect}. */
export class PostgresKyselyDialect extends PostgresDialect {
  override createAdapter(): PostgresAdapter {
    return new PostgresDialectAdapter();
  }
}

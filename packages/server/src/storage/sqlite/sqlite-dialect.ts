import { SqliteAdapter, SqliteDialect, sql } from 'kysely';
import type { SqlDialect } from '../sql-dialect.js';
import { writeSqliteSyncRows } from './sqlite-sync-rows.js';
import { paddedToPowerOfTwo, valuesGroups, valuesPlaceholders } from '../sql-values.js';

/** SQLite's SQL: one writer per file, so nothing is locked row by row, and JSON read with `json_each`. */
export const sqliteDialect = Object.freeze<SqlDialect>({
  writeIsSerialised: true,
  skipsLockedRows: false,
  writeSyncRows: writeSqliteSyncRows,
  jsonElements: (json) => sql`json_each(${json}) as e`,
  crossJoinLookup: ({ table, alias, where }) =>
    sql`cross join ${sql.table(table)} ${sql.raw(alias)} where ${where}`,
  // The transaction is the one writer: what it read stays as read until it ends.
  lockForUpdateSkipLocked: (query) => query,
  lockIdsSkipLocked: (_trx, _table, ids) => Promise.resolve([...ids]),
  // json_extract gives SQL values, compared with plain bound values.
  jsonField: (column) => sql`json_extract(data, ${`$.${column}`})`,
  jsonValue: (value) => sql`${value}`,
  valuesGroups,
  rowsTable(rows, { padded = false }) {
    // A multi-row VALUES, each value bound as it is (its columns are named `column1`, `column2`, …), is read
    // much faster than values picked out of a JSON array; its row counts stay a few sizes so its texts stay
    // prepared (groups from valuesGroups, or padded).
    const values = padded ? paddedToPowerOfTwo(rows) : rows;
    // A loop rather than values.flat(), which takes over ten times as long on rows of many values.
    const parameters: unknown[] = [];
    for (const row of values) for (const value of row) parameters.push(value);
    return {
      from: `(values ${valuesPlaceholders(values.length, values[0]?.length ?? 0)}) as e`,
      item: (_column, position) => `e.column${position + 1}`,
      parameters,
    };
  },
});

/** Kysely's SQLite adapter, carrying {@link sqliteDialect} to every transaction (see `dialectOf`). */
class SqliteDialectAdapter extends SqliteAdapter {
  readonly sqlDialect = sqliteDialect;
}

/** Kysely's SQLite dialect, with the adapter that carries {@link sqliteDialect}. */
export class SqliteKyselyDialect extends SqliteDialect {
  override createAdapter(): SqliteAdapter {
    return new SqliteDialectAdapter();
  }
}

import type { Kysely, RawBuilder, SelectQueryBuilder } from 'kysely';
import type { Database } from './database.js';
import type { SyncRowsWrite } from './sync-rows-sql.js';

/**
 * Everything in which SQLite and PostgreSQL differ, as the stores write their SQL: one object per engine,
 * in that engine's folder (`sqlite/sqlite-dialect.ts`, `postgres/postgres-dialect.ts`). No other code asks
 * which engine it runs on; it asks its dialect to do the part that differs.
 *
 * Each engine's dialect is the Kysely adapter of its Kysely instance (as Kysely's own `DialectAdapter`
 * holds what differs between engines), so code that holds only a transaction finds it: {@link dialectOf}.
 */
export interface SqlDialect {
  /**
   * Whether write transactions run one at a time (SQLite: one writer per file). Then writes asked for at
   * the same moment may share one transaction; where they run side by side, sharing would only make them
   * wait on each other's row locks.
   */
  readonly writeIsSerialised: boolean;
  /**
   * Whether {@link lockForUpdateSkipLocked} leaves out rows another transaction holds: a row such a read
   * did not answer may exist and be held, rather than missing.
   */
  readonly skipsLockedRows: boolean;
  /**
   * A JSON array as a table, one row per element, the element in column `e.value`: how a statement takes a
   * whole push's keys (and, on PostgreSQL, its rows) in one bound value, whatever their number. The
   * statement's text stays the same from push to push (SQLite reuses its prepared statement) and PostgreSQL
   * gets one round trip instead of a statement with thousands of values to parse. Elements are arrays;
   * `e.value ->> N` reads their Nth item as text or number (cast it where PostgreSQL needs another type).
   */
  jsonElements(json: string): RawBuilder<unknown>;
  /**
   * `cross join` of the row of `table` (as `alias`) that `where` picks for each row of the tables before
   * it, looked up by its key. On PostgreSQL a lateral subquery with a limit, which keeps it a lookup: a
   * join would be planned as a scan of all the tenant's rows whenever the table's statistics are older
   * than its rows (a fresh table that grows).
   */
  crossJoinLookup(lookup: {
    readonly table: string;
    readonly alias: string;
    readonly where: RawBuilder<unknown>;
  }): RawBuilder<unknown>;
  /**
   * The select, locking the rows it reads until the transaction ends and skipping those another
   * transaction holds (PostgreSQL); as it is where the transaction is the one writer (SQLite).
   */
  lockForUpdateSkipLocked<DB, TB extends keyof DB, O>(
    query: SelectQueryBuilder<DB, TB, O>,
  ): SelectQueryBuilder<DB, TB, O>;
  /**
   * Of the rows of `table` with these ids, those this transaction now holds until it ends, skipping those
   * another transaction holds; where the transaction is the one writer, every id as given.
   */
  lockIdsSkipLocked<DB>(trx: Kysely<DB>, table: string, ids: readonly string[]): Promise<string[]>;
  /** A column of a row's stored JSON (`data`), as SQL compares it with {@link jsonValue}; `asText` for `is null`. */
  jsonField(column: string, asText: boolean): RawBuilder<unknown>;
  /** A value to compare with a {@link jsonField}. */
  jsonValue(value: string | number): RawBuilder<unknown>;
  /**
   * Rows in groups, one statement each: on SQLite multi-row `VALUES` of a few fixed sizes (see
   * `valuesGroups` in `sql-values.ts`); on PostgreSQL all in one group, one statement of one JSON array.
   */
  valuesGroups<T>(rows: readonly T[]): T[][];
  /** Rows of values as table `e` of a statement written as text (see {@link RowsTable}). */
  rowsTable(rows: ReadonlyArray<readonly unknown[]>, options: RowsTableOptions): RowsTable;
  /**
   * Writes a push's rows, takes their sequence numbers and adds their checksum changes, as fast as the
   * engine allows: on SQLite multi-row `VALUES` statements of a few fixed sizes; on PostgreSQL one statement
   * that takes them all from one bound JSON array.
   */
  writeSyncRows(trx: Kysely<Database>, write: SyncRowsWrite): Promise<void>;
}

/** How {@link SqlDialect.rowsTable} lays out its rows. */
export interface RowsTableOptions {
  /**
   * For a statement that may see a row twice (an update joined to the table): the rows are padded to a
   * power of two, so SQLite keeps the statement prepared. @defaultValue false
   */
  readonly padded?: boolean;
  /** The SQL type of a column's values, for PostgreSQL's casts out of JSON. */
  readonly columnType: (column: string) => string;
}

/**
 * Rows of values as table `e` of a statement written as text, with the statement's parameters: for the
 * statements that take many rows at once, so Kysely does not compile thousands of values each time.
 */
export interface RowsTable {
  /** What follows `from`. */
  readonly from: string;
  /** The value at `position` of a row, for `column` (cast as PostgreSQL needs). */
  item(column: string, position: number): string;
  readonly parameters: unknown[];
}

/** The dialect of the engine `db` runs on (a store's Kysely instance, or a transaction on it). */
export function dialectOf<DB>(db: Kysely<DB>): SqlDialect {
  const adapter: object = db.getExecutor().adapter;
  if (!('sqlDialect' in adapter)) throw new Error('this Kysely instance was not opened by a Tillsync engine');
  return adapter.sqlDialect as SqlDialect;
}

import { Migrator, SqliteAdapter, sql, type CompiledQuery, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from './database.js';
import { migrationProvider } from './migrations/index.js';

/**
 * One database engine under the stores: the Kysely instance and how to run transactions on it. The stores
 * are written once against this; each engine (SQLite, PostgreSQL) has its own file.
 */
export interface SqlEngine {
  readonly kind: 'sqlite' | 'postgres';
  readonly db: Kysely<Database>;
  /** Runs `work` in a transaction that will write. On SQLite it takes the write lock at once. */
  write<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Runs `work` in a transaction that only reads, on one consistent snapshot. */
  read<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Locks a tenant's row until the transaction ends, so its writes are serialised (a no-op on SQLite). */
  lockTenant(trx: Kysely<Database>, tenantId: string): Promise<void>;
  /**
   * Runs a query inside the transaction in progress and answers its rows as arrays of values in the order of
   * its columns, which cost much less to make than an object per row. SQLite only: there the transaction's
   * connection is this process's one, and the call is synchronous, so nothing runs between it and the
   * transaction's other statements. PostgreSQL has no such mode through Kysely.
   */
  readonly queryRowArrays?: (query: CompiledQuery) => unknown[][];
  /**
   * Runs a statement that answers no rows (`begin immediate`, `savepoint a`, a pragma that sets) at once, on
   * the connection, without Kysely: how the group commit marks out its transactions, so that the write lock
   * is held for the work alone. SQLite only, synchronous like {@link queryRowArrays}.
   */
  readonly runStatement?: (text: string) => void;
  /**
   * SQLite on a file: resolves when another process may have let go of the file's write lock (its commit
   * changed the write-ahead log), or after `ms` at the latest. How a writer refused the lock waits for it
   * without sleeping past the moment it is free.
   */
  readonly writeLockMayBeFree?: (ms: number) => Promise<void>;
  close(): Promise<void>;
}

/** Brings the database to the latest migration; fails with the first migration's error. */
export async function migrateToLatest(engine: SqlEngine): Promise<void> {
  const migrator = new Migrator({ db: engine.db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === 'Error');
    throw new Error(
      `database migration ${failed?.migrationName ?? '?'} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
      { cause: error },
    );
  }
}

/**
 * Runs a query inside the transaction `trx` and answers its rows: on SQLite read as arrays (see
 * {@link SqlEngine.queryRowArrays}) and made into rows by `fromArrays`, elsewhere as the driver's objects.
 */
export async function queryRows<DB, R>(
  engine: SqlEngine,
  trx: Kysely<DB>,
  query: CompiledQuery<R>,
  fromArrays: (arrays: unknown[][]) => R[],
): Promise<R[]> {
  return engine.queryRowArrays
    ? fromArrays(engine.queryRowArrays(query))
    : (await trx.executeQuery(query)).rows;
}

/**
 * A JSON array as a table, one row per element, the element in column `e.value`: how a statement takes a
 * whole push's keys (and, on PostgreSQL, its rows) in one bound value, whatever their number. With it the
 * statement's text stays the same from push to push (SQLite reuses its prepared statement) and PostgreSQL gets
 * one round trip instead of a statement with thousands of values to parse. Elements are arrays; `e.value ->> N`
 * reads their Nth item as text or number (cast it where PostgreSQL needs another type). SQLite takes a push's
 * rows faster as VALUES (see {@link valuesGroups}).
 */
export function jsonElements<DB>(db: Kysely<DB>, json: string): RawBuilder<unknown> {
  return isSqlite(db) ? sql`json_each(${json}) as e` : sql`jsonb_array_elements(${json}::jsonb) as e(value)`;
}

/** Whether `db` runs on SQLite, where a statement's text differs from PostgreSQL's. */
export function isSqlite<DB>(db: Kysely<DB>): boolean {
  return db.getExecutor().adapter instanceof SqliteAdapter;
}

/** The most rows of one multi-row VALUES statement on SQLite: 256 rows of 9 values stay far below its 32,766. */
const MAX_VALUES_ROWS = 256;

/**
 * Rows in groups for multi-row `VALUES` statements on SQLite, each a power of two of at most
 * {@link MAX_VALUES_ROWS} rows: a push of any size then runs a handful of statement texts, which stay prepared,
 * where a text per row count would crowd the statement cache. On SQLite a statement of many rows costs far less
 * than a JSON array taken apart by `json_each` (every value parsed out of its text) or than a statement per row
 * through Kysely.
 */
export function valuesGroups<T>(rows: readonly T[]): T[][] {
  const groups: T[][] = [];
  for (let start = 0; start < rows.length;) {
    let size = MAX_VALUES_ROWS;
    while (size > rows.length - start) size /= 2;
    groups.push(rows.slice(start, start + size));
    start += size;
  }
  return groups;
}

/**
 * Items padded to a power of two with copies of the last: for a statement that may see an item twice (an IN
 * list, the rows an update is joined to), whose text then has one of a few sizes and stays prepared.
 */
export function paddedToPowerOfTwo<T>(items: readonly T[]): T[] {
  const last = items[items.length - 1];
  if (last === undefined) return [];
  const size = 2 ** Math.ceil(Math.log2(items.length));
  return [...items, ...new Array<T>(size - items.length).fill(last)];
}

const placeholderTexts = new Map<string, string>();

/** `(?, ?), (?, ?)`: the placeholders of `rowCount` rows of `columnCount` values, for a SQLite `VALUES`. */
export function valuesPlaceholders(rowCount: number, columnCount: number): string {
  const key = `${rowCount}x${columnCount}`;
  let text = placeholderTexts.get(key);
  if (text === undefined) {
    const row = `(${new Array<string>(columnCount).fill('?').join(', ')})`;
    text = new Array<string>(rowCount).fill(row).join(', ');
    placeholderTexts.set(key, text);
  }
  return text;
}

import { Migrator, SqliteAdapter, sql, type Kysely, type RawBuilder } from 'kysely';
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
 * A JSON array as a table, one row per element, the element in column `e.value`: how a statement takes a
 * whole push's rows in one bound value, whatever their number. With it the statement's text stays the same
 * from push to push (SQLite reuses its prepared statement) and PostgreSQL gets one round trip instead of a
 * statement with thousands of values to parse. Elements are arrays; `e.value ->> N` reads their Nth item as
 * text or number (cast it where PostgreSQL needs another type).
 */
export function jsonElements<DB>(db: Kysely<DB>, json: string): RawBuilder<unknown> {
  return db.getExecutor().adapter instanceof SqliteAdapter
    ? sql`json_each(${json}) as e`
    : sql`jsonb_array_elements(${json}::jsonb) as e(value)`;
}

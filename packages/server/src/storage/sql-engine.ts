import { Migrator, type CompiledQuery, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from './database.js';
import { migrationProvider } from './migrations/index.js';
import { dialectOf, type SqlDialect } from './sql-dialect.js';
import type { TenantWork, TenantWriteOptions } from './tenant-write-batches.js';

/**
 * One database engine under the stores: the Kysely instance and how to run transactions on it. The stores
 * are written once against this; each engine (SQLite, PostgreSQL) has its own folder, and what its SQL
 * does differently is its {@link SqlDialect}.
 */
export interface SqlEngine {
  /** Which engine this is, for what is shown to people; code asks {@link dialect} instead. */
  readonly kind: 'sqlite' | 'postgres';
  readonly db: Kysely<Database>;
  /** What the engine's SQL does differently (also at hand from any transaction: `dialectOf(trx)`). */
  readonly dialect: SqlDialect;
  /** Runs `work` in a transaction that will write. On SQLite it takes the write lock at once. */
  write<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Runs `work` in a transaction that only reads, on one consistent snapshot. */
  read<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Locks a tenant's row until the transaction ends, so its writes are serialised (a no-op on SQLite). */
  lockTenant(trx: Kysely<Database>, tenantId: string): Promise<void>;
  /**
   * Runs `work` in a write transaction that holds the tenant's lock ({@link lockTenant}), after this
   * process's earlier such work for the tenant: the work asked for meanwhile waits in memory (not each on a
   * connection of the pool blocked on the lock, which would leave none for the pulls) and then shares one
   * transaction, one turn of the lock and one commit, each piece in the order asked and answered on its own
   * (`TenantWriteBatches`). The tenant's pushes run here, and on PostgreSQL its jobs' writes of rows.
   */
  readonly tenantWrite: <T>(
    tenantId: string,
    work: TenantWork<T>,
    options?: TenantWriteOptions,
  ) => Promise<T>;
  /**
   * PostgreSQL: brings the planner's statistics of the tables that changed much since they were last
   * analysed up to date (`ANALYZE`), as autovacuum would, and answers their names. A table filled since its
   * last statistics (every table of a new database, a chain's first busy minutes, or any table of a database
   * whose autovacuum is off) is planned as if it were empty: a push's lookups then read whole tables under
   * the tenant's lock. Run by one process at a time; the others answer none.
   */
  readonly refreshStatistics?: () => Promise<string[]>;
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
  /**
   * SQLite: how the commits this connection makes from now on reach the disk, until set again (never inside a
   * transaction; see {@link Durability}). Every commit is `synced` unless its writer asks otherwise.
   */
  readonly setDurability?: (durability: Durability) => void;
  /**
   * SQLite on a file: syncs the write-ahead log to disk off the event loop and outside the write lock, and
   * resolves once every commit made before the call is on disk. Calls of the same moment share one sync.
   * How `group-synced` commits (see {@link Durability}) reach the disk.
   */
  readonly syncLog?: () => Promise<void>;
  close(): Promise<void>;
}

/**
 * How a commit must survive a power cut. `synced`: it is on disk before the commit returns (SQLite
 * `synchronous = FULL`), as every commit whose data a device or a client is told about must be. `lazy`: it is
 * written but synced only by the next synced commit or checkpoint (SQLite `synchronous = NORMAL`; in WAL mode
 * a synced commit syncs the lazy ones before it too), so a power cut may drop it: only for writes that the
 * system redoes by itself when they vanish, such as a job's claim, start and end, which its lease brings back.
 * `group-synced`: committed like a lazy one, then synced before its writer is answered by one sync of the log
 * shared with the commits of the same moment ({@link SqlEngine.syncLog}), while the write lock is free and
 * the event loop runs: for a client's write that no other reader must rely on before it is answered, such as
 * an enqueued job (never for synced rows, which a device may pull, and so build on, as soon as they are
 * committed). PostgreSQL commits are synced.
 */
export type Durability = 'synced' | 'lazy' | 'group-synced';

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

/** A JSON array as a table, one row per element (see {@link SqlDialect.jsonElements}). */
export function jsonElements<DB>(db: Kysely<DB>, json: string): RawBuilder<unknown> {
  return dialectOf(db).jsonElements(json);
}

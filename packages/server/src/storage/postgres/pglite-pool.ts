import type { PGlite } from '@electric-sql/pglite';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';

/** The commands whose row count Kysely reports as affected rows. */
type CountedCommand = PostgresQueryResult<unknown>['command'];

/**
 * PGlite as the pool Kysely's `PostgresDialect` takes. PGlite is one connection in this process, so the pool
 * hands it to one borrower at a time: a transaction (`begin` … `commit` as separate queries) then never
 * interleaves with another's statements. A borrower must not borrow again before releasing, as with any pool
 * of one.
 */
export class PglitePool implements PostgresPool {
  readonly #database: PGlite;
  /** Settles when the current borrower releases the connection. */
  #released: Promise<void> = Promise.resolve();

  constructor(database: PGlite) {
    this.#database = database;
  }

  async connect(): Promise<PostgresPoolClient> {
    const previous = this.#released;
    let release!: () => void;
    this.#released = new Promise<void>((resolve) => (release = resolve));
    await previous;
    return new PgliteClient(this.#database, release);
  }

  async end(): Promise<void> {
    await this.#released;
    await this.#database.close();
  }
}

/** The connection as one borrower holds it. */
class PgliteClient implements PostgresPoolClient {
  readonly #database: PGlite;
  readonly #release: () => void;

  constructor(database: PGlite, release: () => void) {
    this.#database = database;
    this.#release = release;
  }

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query(cursor: unknown): never;
  async query<R>(sql: unknown, parameters?: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
    if (typeof sql !== 'string') throw new Error('streaming queries (cursors) are not available on PGlite');
    const result = await this.#database.query<R>(sql, parameters === undefined ? [] : [...parameters]);
    return {
      command: (result.command ?? 'SELECT') as CountedCommand,
      rowCount: result.rowCount ?? result.affectedRows ?? 0,
      rows: result.rows,
    };
  }

  release(): void {
    this.#release();
  }
}

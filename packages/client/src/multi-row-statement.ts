import type Database from 'better-sqlite3';

/** The most bound values in one statement: SQLite's historic limit, which every build allows. */
const MAX_VARIABLES = 999;
/** The most rows in one statement: past it, a larger statement saves little more. */
const MAX_ROWS = 64;

/**
 * One `INSERT … VALUES (…), (…), …` written for many rows at once: a first sync writes hundreds of thousands
 * of rows, and one statement per row costs about half again as much as the rows themselves. The statement
 * for `n` rows is prepared once, for a few sizes (64, 16, 4, 1 rows), and a batch is written with the
 * largest that fit.
 */
export class MultiRowStatement {
  readonly #db: Database.Database;
  readonly #sql: (rows: number) => string;
  readonly #valuesPerRow: number;
  readonly #sizes: readonly number[];
  readonly #statements = new Map<number, { statement: Database.Statement; params: unknown[] }>();

  /**
   * @param sql - the statement for `rows` rows; its values are bound in row order, `valuesPerRow` per row
   */
  constructor(db: Database.Database, valuesPerRow: number, sql: (rows: number) => string) {
    this.#db = db;
    this.#sql = sql;
    this.#valuesPerRow = valuesPerRow;
    const largest = Math.max(1, Math.min(MAX_ROWS, Math.floor(MAX_VARIABLES / Math.max(1, valuesPerRow))));
    this.#sizes = [...new Set([largest, 16, 4, 1].filter((size) => size <= largest))];
  }

  /** The `(?, ?, …), (?, ?, …)` of `rows` rows of `valuesPerRow` values, for the `sql` callback. */
  static placeholders(rows: number, valuesPerRow: number): string {
    const row = `(${Array.from({ length: valuesPerRow }, () => '?').join(', ')})`;
    return Array.from({ length: rows }, () => row).join(', ');
  }

  /**
   * Writes `count` rows, in their order; `fill(index, params, offset)` puts row `index`'s values into
   * `params` from `offset`. Call it inside a transaction.
   */
  run(count: number, fill: (index: number, params: unknown[], offset: number) => void): void {
    let index = 0;
    for (const size of this.#sizes) {
      while (count - index >= size) {
        const { statement, params } = this.#statement(size);
        for (let row = 0; row < size; row++) fill(index + row, params, row * this.#valuesPerRow);
        statement.run(params);
        index += size;
      }
    }
  }

  #statement(rows: number): { statement: Database.Statement; params: unknown[] } {
    let prepared = this.#statements.get(rows);
    if (!prepared) {
      prepared = {
        statement: this.#db.prepare(this.#sql(rows)),
        params: new Array<unknown>(rows * this.#valuesPerRow),
      };
      this.#statements.set(rows, prepared);
    }
    return prepared;
  }
}

import type { CompiledSchema, RowValues, SchemaTable } from '@tillsync/protocol';
import type Database from 'better-sqlite3';
import { quoteIdentifier } from './capture/triggers.js';
import type { LocalStore } from './local-store.js';
import { MultiRowStatement } from './multi-row-statement.js';
import { indexesInBulk, indexRowsAfterStatement } from './search-index.js';

/** The prepared statements of one synced table. */
interface TableStatements {
  readonly table: SchemaTable;
  readonly select: Database.Statement;
  readonly upsert: Database.Statement;
  readonly remove: Database.Statement;
  /** The upsert of many rows in one statement, for the clean rows of a pull. */
  readonly upsertMany: MultiRowStatement;
  /** Reused for every upsert of the table: a first sync writes a million rows. */
  readonly params: unknown[];
  /** Where the table's search index lets the sync index the rows it inserts (`search-index.ts`). */
  readonly bulk: BulkInsert | null;
}

/** The statements of {@link SyncedTables.insertNew} for a table with a search index. */
interface BulkInsert {
  /** How many of a JSON array of ids the table holds. */
  readonly held: Database.Statement;
  readonly lastRowid: Database.Statement;
  readonly index: Database.Statement;
  readonly flag: Database.Statement;
}

/** Below this many rows, indexing them by trigger costs no more than the statements that save it. */
const MIN_BULK_ROWS = 16;

/** A whole row to write: its id and values, as {@link SyncedTables.upsert} takes them. */
export interface RowToWrite {
  readonly id: string;
  readonly values: Readonly<Record<string, unknown>>;
}

/**
 * Reads and writes the rows of the synced tables by id, with statements prepared once per table. Only the
 * columns the schema declares are read or written: a table may hold more columns of a shop program's own.
 */
export class SyncedTables {
  readonly schema: CompiledSchema;
  readonly #store: LocalStore;
  readonly #tables = new Map<string, TableStatements>();

  constructor(store: LocalStore, schema: CompiledSchema) {
    this.#store = store;
    this.schema = schema;
  }

  /** A row's declared columns (without `id`), or `null` when the row is not in the table. */
  read(table: SchemaTable, id: string): RowValues | null {
    const row = this.#statements(table).select.get(id) as unknown[] | undefined;
    if (!row) return null;
    const values: RowValues = {};
    table.columns.forEach((column, index) => {
      values[column.name] = row[index] as string | number | null;
    });
    return values;
  }

  /**
   * Writes a whole row. A column missing from `values` takes its declared default (the server always sends
   * whole rows; this only matters for a column the server's schema added since).
   */
  upsert(table: SchemaTable, id: string, values: Readonly<Record<string, unknown>>): void {
    const statements = this.#statements(table);
    fillRow(table, id, values, statements.params, 0);
    statements.upsert.run(statements.params);
  }

  /** {@link upsert} of many rows, in their order (a later row of the same id wins), with few statements. */
  upsertMany(table: SchemaTable, rows: readonly RowToWrite[]): void {
    this.#statements(table).upsertMany.run(rows.length, (index, params, offset) => {
      const row = rows[index]!;
      fillRow(table, row.id, row.values, params, offset);
    });
  }

  /**
   * {@link upsertMany} of rows the device most likely does not hold (the server's rows it had no stamp of: a
   * first sync's, nearly all), with their search index written in one statement after them rather than by
   * a trigger per row. Should some be held after all, every row goes the way of {@link upsertMany}. Call it
   * inside an applying transaction.
   */
  insertNew(table: SchemaTable, rows: readonly RowToWrite[]): void {
    const bulk = this.#statements(table).bulk;
    if (
      bulk === null ||
      rows.length < MIN_BULK_ROWS ||
      (bulk.held.pluck().get(JSON.stringify(rows.map((row) => row.id))) as number) > 0
    ) {
      this.upsertMany(table, rows);
      return;
    }
    const before = (bulk.lastRowid.pluck().get() as number | null) ?? 0;
    bulk.flag.run(2);
    try {
      this.upsertMany(table, rows);
    } finally {
      bulk.flag.run(1);
    }
    bulk.index.run(before);
  }

  remove(table: SchemaTable, id: string): void {
    this.#statements(table).remove.run(id);
  }

  /** Sets some columns of a row that exists. */
  update(table: SchemaTable, id: string, values: Readonly<Record<string, string | number | null>>): void {
    const names = Object.keys(values);
    if (names.length === 0) return;
    const sql = `UPDATE ${quoteIdentifier(table.name)} SET ${names.map((name) => `${quoteIdentifier(name)} = ?`).join(', ')} WHERE id = ?`;
    this.#store.statement(sql).run(...names.map((name) => values[name] ?? null), id);
  }

  #statements(table: SchemaTable): TableStatements {
    let statements = this.#tables.get(table.name);
    if (!statements) {
      const t = quoteIdentifier(table.name);
      const columns = table.columns.map((column) => quoteIdentifier(column.name));
      const select = this.#store.db
        .prepare(`SELECT ${columns.length > 0 ? columns.join(', ') : 'id'} FROM ${t} WHERE id = ?`)
        .raw(true);
      const conflict =
        columns.length > 0
          ? `DO UPDATE SET ${columns.map((column) => `${column} = excluded.${column}`).join(', ')}`
          : 'DO NOTHING';
      const upsertSql = (rows: number): string =>
        `INSERT INTO ${t} (id${columns.map((column) => `, ${column}`).join('')}) VALUES ${MultiRowStatement.placeholders(rows, columns.length + 1)} ON CONFLICT (id) ${conflict}`;
      const upsert = this.#store.db.prepare(upsertSql(1));
      const upsertMany = new MultiRowStatement(this.#store.db, columns.length + 1, upsertSql);
      const remove = this.#store.db.prepare(`DELETE FROM ${t} WHERE id = ?`);
      const db = this.#store.db;
      const bulk: BulkInsert | null = indexesInBulk(db, table.name)
        ? {
            held: db.prepare(`SELECT count(*) FROM ${t} WHERE id IN (SELECT value FROM json_each(?))`),
            lastRowid: db.prepare(`SELECT max(rowid) FROM ${t}`),
            index: indexRowsAfterStatement(db, table),
            flag: db.prepare('UPDATE _sync_apply_flag SET applying = ?'),
          }
        : null;
      statements = {
        table,
        select,
        upsert,
        remove,
        upsertMany,
        params: new Array<unknown>(columns.length + 1),
        bulk,
      };
      this.#tables.set(table.name, statements);
    }
    return statements;
  }
}

/** Puts a row's id and declared columns into `params` from `offset`, as {@link SyncedTables.upsert} writes them. */
function fillRow(
  table: SchemaTable,
  id: string,
  values: Readonly<Record<string, unknown>>,
  params: unknown[],
  offset: number,
): void {
  params[offset] = id;
  const columns = table.columns;
  for (let index = 0; index < columns.length; index++) {
    const column = columns[index]!;
    const value = values[column.name];
    params[offset + index + 1] =
      value !== undefined ? value : column.name in values ? null : (column.default ?? null);
  }
}

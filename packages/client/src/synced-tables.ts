import type { CompiledSchema, RowValues, SchemaTable } from '@tillsync/protocol';
import type Database from 'better-sqlite3';
import { quoteIdentifier } from './capture/triggers.js';
import type { LocalStore } from './local-store.js';
import { MultiRowStatement } from './multi-row-statement.js';
import { SearchBuild, unbuiltFrontier } from './search-build.js';
import { SearchIndex } from './search-index.js';

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
  /** For {@link SyncedTables.insertNew}: how many of a JSON array of ids the table holds. */
  readonly held: Database.Statement;
  readonly lastRowid: Database.Statement;
}

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
  /** The tables' search indexes, which the rows written here go into (`search-index.ts`). */
  readonly search: SearchIndex;
  /** The search indexes a fresh snapshot builds once its rows are in (`search-build.ts`). */
  readonly searchBuild: SearchBuild;
  readonly #store: LocalStore;
  readonly #tables = new Map<string, TableStatements>();
  /** The rows written since {@link indexWritten}, by table: indexed together, in few statements. */
  readonly #unindexed = new Map<string, { table: SchemaTable; ids: Set<string> }>();

  constructor(store: LocalStore, schema: CompiledSchema) {
    this.#store = store;
    this.schema = schema;
    this.search = new SearchIndex(store, schema);
    this.searchBuild = new SearchBuild(store, schema);
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
    this.#noteWritten(table, [id]);
  }

  /** {@link upsert} of many rows, in their order (a later row of the same id wins), with few statements. */
  upsertMany(table: SchemaTable, rows: readonly RowToWrite[]): void {
    this.#upsertMany(table, rows);
    this.#noteWritten(
      table,
      rows.map((row) => row.id),
    );
  }

  /**
   * {@link upsertMany} of rows the device most likely does not hold (the server's rows it had no stamp of: a
   * first sync's, nearly all), indexed for search at once by rowid, which costs less than by id. Should some
   * be held after all, every row goes the way of {@link upsertMany}.
   */
  insertNew(table: SchemaTable, rows: readonly RowToWrite[]): void {
    // A table a fresh snapshot fills, whose index is built once its rows are in: none is indexed yet.
    if (this.search.has(table) && unbuiltFrontier(this.#store, table.name) === 0) {
      this.#upsertMany(table, rows);
      return;
    }
    const statements = this.#statements(table);
    if (
      !this.search.has(table) ||
      (statements.held.pluck().get(JSON.stringify(rows.map((row) => row.id))) as number) > 0
    ) {
      this.upsertMany(table, rows);
      return;
    }
    const before = (statements.lastRowid.pluck().get() as number | null) ?? 0;
    this.#upsertMany(table, rows);
    this.search.indexRowsAfter(table, before);
  }

  remove(table: SchemaTable, id: string): void {
    this.search.forget(table, id);
    this.#statements(table).remove.run(id);
  }

  /** Sets some columns of a row that exists. */
  update(table: SchemaTable, id: string, values: Readonly<Record<string, string | number | null>>): void {
    const names = Object.keys(values);
    if (names.length === 0) return;
    const sql = `UPDATE ${quoteIdentifier(table.name)} SET ${names.map((name) => `${quoteIdentifier(name)} = ?`).join(', ')} WHERE id = ?`;
    this.#store.statement(sql).run(...names.map((name) => values[name] ?? null), id);
    this.#noteWritten(table, [id]);
  }

  /**
   * Writes the search index of the rows written here since the last call. The sync's own writes leave no
   * outbox entry for the catch-up to find: call it before the transaction that wrote them ends.
   */
  indexWritten(): void {
    for (const { table, ids } of this.#unindexed.values()) this.search.indexRows(table, [...ids]);
    this.#unindexed.clear();
  }

  #noteWritten(table: SchemaTable, ids: readonly string[]): void {
    if (!this.search.has(table)) return;
    let noted = this.#unindexed.get(table.name);
    if (!noted) this.#unindexed.set(table.name, (noted = { table, ids: new Set() }));
    for (const id of ids) noted.ids.add(id);
  }

  #upsertMany(table: SchemaTable, rows: readonly RowToWrite[]): void {
    this.#statements(table).upsertMany.run(rows.length, (index, params, offset) => {
      const row = rows[index]!;
      fillRow(table, row.id, row.values, params, offset);
    });
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
      statements = {
        table,
        select,
        upsert,
        remove,
        upsertMany,
        params: new Array<unknown>(columns.length + 1),
        held: this.#store.db.prepare(
          `SELECT count(*) FROM ${t} WHERE id IN (SELECT value FROM json_each(?))`,
        ),
        lastRowid: this.#store.db.prepare(`SELECT max(rowid) FROM ${t}`),
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

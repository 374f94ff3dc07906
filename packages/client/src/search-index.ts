import type { CompiledSchema, SchemaColumn, SchemaTable } from '@tillsync/protocol';
import type Database from 'better-sqlite3';
import { columnBit } from './capture/column-mask.js';
import { quoteIdentifier } from './capture/triggers.js';
import { StateKey } from './device-state.js';

/**
 * The search index of a synced table: an FTS5 table with the trigram tokenizer over the table's own text
 * columns, so that "contains, in any case" finds a row of a million by the index rather than by reading
 * every row. It holds no copy of the text (contentless: `content=''`), no positions (`detail='none'`), and
 * its rowids are the table's. A search asks for rows holding every trigram of the text, then checks each
 * candidate with LIKE on the row itself, so a candidate whose trigrams are scattered, or an entry left
 * behind by a row deleted or rewritten since, is never a match.
 *
 * No trigger keeps it: an FTS5 insert costs a write several times what the write costs (the capture's
 * trigger and the row together), and a sale is the hot path. Only this library writes it, in two ways:
 *
 * - the rows the sync writes itself (a pull, a snapshot, a push's answer that takes the server's row) are
 *   indexed by the sync, in the transaction that writes them, many rows per statement (`SyncedTables`);
 * - every other write (the till's, any program's) leaves its entry in the outbox, with its stamp and the
 *   columns it set. {@link SearchIndex.catchUp} indexes the rows whose entries are newer than the newest
 *   it indexed (the watermark, in `_sync_state`) and set a searched column. It runs before a search, before
 *   a push is built, and in the transaction that applies a push's answer before it removes entries, so no
 *   entry leaves the outbox with its row unindexed.
 *
 * A row that takes a rowid another row had is indexed as it is written (`INSERT OR REPLACE`, which
 * `contentless_delete` allows), which replaces the old row's entry. An entry of a row deleted by another
 * program stays until the table is indexed again (a schema change): it only ever costs a LIKE.
 *
 * Only this library touches the index, so a program writing the file needs no FTS5 of its own.
 */

/** The columns a search looks in: text the shop typed, not references (ids) or dates. */
export function searchedColumns(table: SchemaTable): SchemaColumn[] {
  return table.columns.filter(
    (column) => column.type === 'text' && column.references === undefined && column.format === undefined,
  );
}

/** The FTS5 table that indexes `tableName`'s searched columns. */
export function searchIndexName(tableName: string): string {
  return `_sync_search_${tableName}`;
}

/** The triggers that kept the index before (bookkeeping version 5 and earlier), dropped wherever found. */
function oldTriggerNames(tableName: string): string[] {
  return ['insert', 'update', 'delete'].map((kind) => `_sync_search_${tableName}_${kind}`);
}

/** The statement that makes a table's index: its shape, compared with the file's to tell an index to remake. */
function createIndexSql(table: SchemaTable): string {
  const list = searchedColumns(table)
    .map((column) => quoteIdentifier(column.name))
    .join(', ');
  return `CREATE VIRTUAL TABLE ${quoteIdentifier(searchIndexName(table.name))} USING fts5(${list}, content='', contentless_delete=1, tokenize='trigram', detail='none')`;
}

/**
 * Makes a table's search index, in the transaction that brings the file to a schema. The index is made and
 * filled from the rows when it is new, when its shape changed (its columns, or an index of an older
 * version), or when the table was made again (`rebuilt`: new rowids). A table with nothing to search has
 * none.
 */
export function installSearchIndex(db: Database.Database, table: SchemaTable, rebuilt: boolean): void {
  for (const trigger of oldTriggerNames(table.name))
    db.exec(`DROP TRIGGER IF EXISTS ${quoteIdentifier(trigger)}`);
  const columns = searchedColumns(table);
  const wanted = columns.length === 0 ? null : createIndexSql(table);
  const found = db
    .prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
    .get(searchIndexName(table.name)) as { sql: string } | undefined;
  if (!rebuilt && (found?.sql ?? null) === wanted) return;
  db.exec(`DROP TABLE IF EXISTS ${quoteIdentifier(searchIndexName(table.name))}`);
  if (wanted === null) return;
  db.exec(wanted);
  const list = columns.map((column) => quoteIdentifier(column.name)).join(', ');
  db.exec(
    `INSERT INTO ${quoteIdentifier(searchIndexName(table.name))} (rowid, ${list}) SELECT rowid, ${list} FROM ${quoteIdentifier(table.name)}`,
  );
}

/** Drops a table's search index (before the table is made again, or leaves the schema). */
export function dropSearchIndex(db: Database.Database, tableName: string): void {
  for (const trigger of oldTriggerNames(tableName))
    db.exec(`DROP TRIGGER IF EXISTS ${quoteIdentifier(trigger)}`);
  db.exec(`DROP TABLE IF EXISTS ${quoteIdentifier(searchIndexName(tableName))}`);
}

/** What the index needs of the device file (a `LocalStore`): its prepared statements and write transactions. */
export interface IndexedStore {
  statement(sql: string): Database.Statement;
  write<T>(fn: () => T): T;
}

/** The statements of one indexed table, as SQL (prepared on first use, once per store). */
interface IndexedTable {
  /** Indexes the rows of a JSON array of ids. */
  readonly byIds: string;
  /**
   * The entries above a rowid (of rows deleted since), read from the index's own table of rowids: asking
   * the index for a range of rowids reads all of it, which a first sync of a million rows would do per page.
   */
  readonly entriesAfter: string;
  /** Drops the entry at a rowid. */
  readonly forgetRowid: string;
  /** Indexes the rows above a rowid. */
  readonly after: string;
  /** Drops the entry of the row of an id. */
  readonly forget: string;
  /** Indexes the rows whose outbox entries are newer than the watermark and set a searched column. */
  readonly catchUp: string;
}

/** The watermark as SQL: the newest outbox stamp indexed (`_sync_pending.hlc`), -1 before any. */
const WATERMARK = `coalesce((SELECT CAST(value AS INTEGER) FROM _sync_state WHERE key = '${StateKey.searchIndexed}'), -1)`;

/**
 * Writes the search indexes of a schema's tables: the rows the sync writes, and the catch-up with the
 * other writers' rows (see the top of this file). Call its methods inside a write transaction, except
 * {@link catchUp}, which opens its own when it has work.
 */
export class SearchIndex {
  readonly #store: IndexedStore;
  readonly #tables = new Map<string, IndexedTable>();

  constructor(store: IndexedStore, schema: CompiledSchema) {
    this.#store = store;
    for (const table of schema.tables) {
      const columns = searchedColumns(table);
      if (columns.length === 0) continue;
      const list = columns.map((column) => quoteIdentifier(column.name)).join(', ');
      const t = quoteIdentifier(table.name);
      const index = quoteIdentifier(searchIndexName(table.name));
      const mask = table.columns.reduce(
        (bits, column, position) => (columns.includes(column) ? bits + columnBit(position) : bits),
        0,
      );
      this.#tables.set(table.name, {
        // Every insert into the index in rowid order: FTS5 writes what it gathered as a segment of its own
        // whenever a rowid is not above the last one, so rows in id order (random ids) made a segment each.
        byIds: `INSERT OR REPLACE INTO ${index} (rowid, ${list}) SELECT rowid, ${list} FROM ${t} WHERE id IN (SELECT value FROM json_each(?)) ORDER BY rowid`,
        entriesAfter: `SELECT id FROM ${quoteIdentifier(`${searchIndexName(table.name)}_docsize`)} WHERE id > ?`,
        forgetRowid: `DELETE FROM ${index} WHERE rowid = ?`,
        after: `INSERT INTO ${index} (rowid, ${list}) SELECT rowid, ${list} FROM ${t} WHERE rowid > ?`,
        forget: `DELETE FROM ${index} WHERE rowid = (SELECT rowid FROM ${t} WHERE id = ?)`,
        // The columns a pending row set are `cols` and, while a push of it is on the wire, `wire_cols`;
        // either NULL is every column, and then the mask test is NULL, which IS NOT 0.
        catchUp: `INSERT OR REPLACE INTO ${index} (rowid, ${list})
          SELECT t.rowid, ${columns.map((column) => `t.${quoteIdentifier(column.name)}`).join(', ')}
          FROM _sync_pending AS p JOIN ${t} AS t ON t.id = p.id
          WHERE p.tbl = ? AND p.hlc > ${WATERMARK} AND ((p.cols | p.wire_cols) & ${mask}) IS NOT 0
          ORDER BY t.rowid`,
      });
    }
  }

  /** Whether `table` has a search index. */
  has(table: SchemaTable): boolean {
    return this.#tables.has(table.name);
  }

  /** Indexes rows of `table` as they are now, by id (a row no longer there is left out). */
  indexRows(table: SchemaTable, ids: readonly string[]): void {
    if (ids.length === 0) return;
    const sql = this.#tables.get(table.name)?.byIds;
    if (sql !== undefined) this.#store.statement(sql).run(JSON.stringify(ids));
  }

  /** Indexes the rows of `table` above `rowid`: those just inserted (new rows take rowids above every other). */
  indexRowsAfter(table: SchemaTable, rowid: number): void {
    const sql = this.#tables.get(table.name);
    if (!sql) return;
    const stale = this.#store.statement(sql.entriesAfter).pluck().all(rowid) as number[];
    for (const entry of stale) this.#store.statement(sql.forgetRowid).run(entry);
    this.#store.statement(sql.after).run(rowid);
  }

  /** Drops the entry of a row about to be deleted. */
  forget(table: SchemaTable, id: string): void {
    const sql = this.#tables.get(table.name)?.forget;
    if (sql !== undefined) this.#store.statement(sql).run(id);
  }

  /**
   * Indexes the rows that writers other than the sync changed since the last catch-up: those whose outbox
   * entry is newer than the watermark and set a searched column (or the whole row). Then the watermark
   * moves to the newest entry, and the clock's floor with it, so every later write is stamped above it
   * (two writes in one millisecond may otherwise share a stamp). Without such entries it only reads.
   */
  catchUp(): void {
    if (this.#tables.size === 0) return;
    // Writes still in the capture log (capture/fold.ts) are behind too; the write transaction folds them.
    const behind = this.#store.statement(
      `SELECT 1 FROM _sync_pending WHERE hlc > ${WATERMARK} UNION ALL SELECT 1 FROM _sync_captured LIMIT 1`,
    );
    if (behind.get() === undefined) return;
    this.#store.write(() => {
      // Another program's catch-up may have come first.
      if (behind.get() === undefined) return;
      for (const [name, sql] of this.#tables) this.#store.statement(sql.catchUp).run(name);
      this.#store
        .statement(
          `INSERT INTO _sync_state (key, value) SELECT '${StateKey.searchIndexed}', CAST(max(hlc) AS TEXT) FROM _sync_pending
           WHERE true ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        )
        .run();
      this.#store.statement(`UPDATE _sync_clock SET hlc = max(hlc, ${WATERMARK}) WHERE id = 1`).run();
    });
  }
}

/**
 * The FTS5 query for rows holding every trigram of `text` (each quoted as a string), or null for a text
 * under three characters, which no trigram index can serve: such a search reads the rows.
 */
export function trigramQuery(text: string): string | null {
  const characters = [...text];
  const trigrams = new Set<string>();
  for (let start = 0; start + 3 <= characters.length; start++) {
    trigrams.add(
      `"${characters
        .slice(start, start + 3)
        .join('')
        .replaceAll('"', '""')}"`,
    );
  }
  return trigrams.size === 0 ? null : [...trigrams].join(' AND ');
}

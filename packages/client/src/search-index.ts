import type { SchemaColumn, SchemaTable } from '@tillsync/protocol';
import type Database from 'better-sqlite3';
import { quoteIdentifier } from './capture/triggers.js';

/**
 * The search index of a synced table: an FTS5 table with the trigram tokenizer over the table's own text
 * columns, kept by triggers, so that "contains, in any case" finds a row of a million by the index rather
 * than by reading every row. It holds no copy of the text (`content` is the table itself) and no positions
 * (`detail='none'`): a search asks for rows holding every trigram of the text, then checks each candidate
 * with LIKE on the row itself, so a candidate whose trigrams are scattered, or an entry left behind by an
 * `INSERT OR REPLACE` (which fires no delete trigger), is never a match.
 *
 * The triggers fire for every writer of the file, the sync's own writes included: any program writing a
 * synced table needs an SQLite with FTS5 and the trigram tokenizer (3.34 or later).
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

function triggerNames(tableName: string): string[] {
  return ['insert', 'update', 'delete'].map((kind) => `_sync_search_${tableName}_${kind}`);
}

/**
 * Makes a table's search index and its triggers, in the transaction that brings the file to a schema. The
 * index is filled from the rows when it is new, when its columns changed, or when the table was made again
 * (`rebuilt`: new rowids); otherwise only its triggers are made again. A table with nothing to search has
 * none.
 */
export function installSearchIndex(db: Database.Database, table: SchemaTable, rebuilt: boolean): void {
  const names = searchedColumns(table).map((column) => column.name);
  const indexed = (
    db.prepare('SELECT name FROM pragma_table_info(?)').all(searchIndexName(table.name)) as { name: string }[]
  ).map((column) => column.name);
  const same = !rebuilt && indexed.length > 0 && indexed.join(',') === names.join(',');
  if (!same) dropSearchIndex(db, table.name);
  if (names.length === 0) return;
  const columns = names.map(quoteIdentifier);
  const t = quoteIdentifier(table.name);
  const index = quoteIdentifier(searchIndexName(table.name));
  const list = columns.join(', ');
  const values = (row: 'NEW' | 'OLD'): string => columns.map((column) => `${row}.${column}`).join(', ');
  const [insert, update, remove] = triggerNames(table.name).map(quoteIdentifier) as [string, string, string];
  for (const trigger of [insert, update, remove]) db.exec(`DROP TRIGGER IF EXISTS ${trigger}`);
  if (!same) {
    db.exec(`CREATE VIRTUAL TABLE ${index} USING fts5(${list}, content=${t}, content_rowid='rowid',
      tokenize='trigram', detail='none')`);
    db.exec(`INSERT INTO ${index} (${index}) VALUES ('rebuild')`);
  }
  const forget = `INSERT INTO ${index} (${index}, rowid, ${list}) VALUES ('delete', OLD.rowid, ${values('OLD')})`;
  const note = `INSERT INTO ${index} (rowid, ${list}) VALUES (NEW.rowid, ${values('NEW')})`;
  // Rows the sync inserts in bulk are indexed by it, one statement for many rows (`indexRowsAfter`).
  db.exec(`CREATE TRIGGER ${insert} AFTER INSERT ON ${t} WHEN ${NOT_BULK} BEGIN ${note}; END`);
  // Only a write that changes the text: a program that writes every column of a row (a stock change
  // included) would otherwise pay for the index each time, and the index is most of such a write's cost.
  const changed = columns.map((column) => `OLD.${column} IS NOT NEW.${column}`).join(' OR ');
  db.exec(
    `CREATE TRIGGER ${update} AFTER UPDATE OF ${list} ON ${t} WHEN ${changed} BEGIN ${forget}; ${note}; END`,
  );
  db.exec(`CREATE TRIGGER ${remove} AFTER DELETE ON ${t} BEGIN ${forget}; END`);
}

/**
 * The insert trigger's guard: 2 in the apply flag (inside the sync's own transaction only, as 1 is; see
 * `LocalStore.applying`) means the sync indexes the rows it inserts itself. A row indexed by a trigger costs
 * several times as much: FTS5 writes what it holds at the end of every statement, so a trigger's one-row
 * insert makes a segment of its own, to be merged later.
 */
const NOT_BULK = '(SELECT applying FROM _sync_apply_flag) < 2';

/**
 * Whether the sync may index the rows it inserts into `tableName` itself: the table has a search index
 * whose insert trigger skips them (a file whose triggers predate the guard indexes every row by trigger).
 */
export function indexesInBulk(db: Database.Database, tableName: string): boolean {
  const trigger = db
    .prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?")
    .get(triggerNames(tableName)[0]) as { sql: string } | undefined;
  return trigger?.sql.includes(NOT_BULK) ?? false;
}

/**
 * The statement that indexes the rows of `table` whose rowid is above its one parameter: the rows the sync
 * has just inserted with the apply flag at 2 (new rows take rowids above every other).
 */
export function indexRowsAfterStatement(db: Database.Database, table: SchemaTable): Database.Statement {
  const columns = searchedColumns(table).map((column) => quoteIdentifier(column.name));
  const list = columns.join(', ');
  const index = quoteIdentifier(searchIndexName(table.name));
  return db.prepare(
    `INSERT INTO ${index} (rowid, ${list}) SELECT rowid, ${list} FROM ${quoteIdentifier(table.name)} WHERE rowid > ?`,
  );
}

/** Drops a table's search index and its triggers (before the table is made again, or leaves the schema). */
export function dropSearchIndex(db: Database.Database, tableName: string): void {
  for (const trigger of triggerNames(tableName))
    db.exec(`DROP TRIGGER IF EXISTS ${quoteIdentifier(trigger)}`);
  db.exec(`DROP TABLE IF EXISTS ${quoteIdentifier(searchIndexName(tableName))}`);
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

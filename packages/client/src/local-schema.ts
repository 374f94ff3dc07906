import {
  CompiledSchema,
  parseSchema,
  type SchemaColumn,
  type SchemaTable,
  type SyncSchema,
} from '@tillsync/protocol';
import { fullMask, remapMask } from './capture/column-mask.js';
import {
  NEXT_HLC_SQL,
  captureTriggerNames,
  installCaptureTriggers,
  quoteIdentifier,
  quoteLiteral,
} from './capture/triggers.js';
import { StateKey, type LocalStore } from './local-store.js';

/**
 * The synced tables on the device, made from the server's schema (`GET /api/sync/schema`): plain tables
 * under their own names and columns so that any program can use them with SQL.
 *
 * No FOREIGN KEY and no UNIQUE constraints: a child can arrive in an earlier pull page than its parent, and
 * uniqueness is judged by the server, across every device. NOT NULL and DEFAULT hold locally as well.
 */

/** The schema this device file was set up with, or `null` before pairing. */
export function readLocalSchema(store: LocalStore): CompiledSchema | null {
  const json = store.getState(StateKey.schema);
  return json === null ? null : new CompiledSchema(parseSchema(JSON.parse(json)));
}

/** The `CREATE TABLE` statement of a synced table. */
export function createTableSql(table: SchemaTable): string {
  const columns = [
    '"id" TEXT PRIMARY KEY NOT NULL',
    ...table.columns.map((column) => columnSql(column, true)),
  ];
  return `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(table.name)} (${columns.join(', ')})`;
}

function columnSql(column: SchemaColumn, create: boolean): string {
  const type = column.type === 'text' ? 'TEXT' : column.type === 'integer' ? 'INTEGER' : 'REAL';
  const fallback = column.default ?? null;
  const defaultSql =
    fallback === null
      ? ''
      : ` DEFAULT ${typeof fallback === 'string' ? quoteLiteral(fallback) : String(fallback)}`;
  // ALTER TABLE ADD COLUMN can only be NOT NULL with a default to give the rows already there.
  const notNull = column.required === true && (create || fallback !== null) ? ' NOT NULL' : '';
  return `${quoteIdentifier(column.name)} ${type}${notNull}${defaultSql}`;
}

/**
 * Brings the device file to `schema`: creates missing tables, adds missing columns, and (re)creates the
 * capture triggers, all in one transaction with the schema stored beside them. Rows already in a table
 * that the sync did not know before (a shop program's existing data) become pending inserts: that is how an
 * existing database is adopted. Columns and tables the new schema drops stay in the file, no longer synced.
 * The column masks of pending rows move to the new column order: a column the schema adds is in none of
 * them, so a write captured before it existed never sends it (PROTOCOL.md §2, schema).
 */
export function applyLocalSchema(store: LocalStore, schema: SyncSchema): CompiledSchema {
  const compiled = new CompiledSchema(parseSchema(schema));
  store.write(() => {
    const previous = readLocalSchema(store);
    for (const table of previous?.tables ?? []) {
      for (const trigger of captureTriggerNames(table.name))
        store.db.exec(`DROP TRIGGER IF EXISTS ${quoteIdentifier(trigger)}`);
    }
    for (const table of compiled.tables) {
      const existing = store.db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table.name) as {
        name: string;
      }[];
      if (existing.length === 0) {
        store.db.exec(createTableSql(table));
      } else {
        const names = new Set(existing.map((column) => column.name));
        if (!names.has('id')) {
          throw new Error(
            `the table "${table.name}" in ${store.dbPath} has no "id" column; it cannot be synced`,
          );
        }
        for (const column of table.columns) {
          if (!names.has(column.name)) {
            store.db.exec(
              `ALTER TABLE ${quoteIdentifier(table.name)} ADD COLUMN ${columnSql(column, false)}`,
            );
          }
        }
      }
      installCaptureTriggers(store.db, table);
      const before = previous?.table(table.name);
      if (before) remapPendingColumns(store, before, table);
      else adoptExistingRows(store, table);
      store
        .statement(
          `INSERT INTO _sync_checksums (tbl, count, sum) VALUES (?, 0, '0000000000000000') ON CONFLICT DO NOTHING`,
        )
        .run(table.name);
    }
    store.setState(StateKey.schema, JSON.stringify(compiled.source));
  });
  return compiled;
}

/** Moves the column masks of a table's pending rows from its old column order to the new one. */
function remapPendingColumns(store: LocalStore, before: SchemaTable, after: SchemaTable): void {
  const from = before.columns.map((column) => column.name);
  const to = after.columns.map((column) => column.name);
  if (from.length === to.length && from.every((name, index) => name === to[index])) return;
  const rows = store.db
    .prepare('SELECT id, cols, wire_cols FROM _sync_pending WHERE tbl = ?')
    .all(after.name) as { id: string; cols: number | null; wire_cols: number | null }[];
  const update = store.db.prepare(
    'UPDATE _sync_pending SET cols = ?, wire_cols = ? WHERE tbl = ? AND id = ?',
  );
  // A whole-row mask (NULL) meant the columns there were when it was captured: those, and no new one.
  const whole = fullMask(from.length);
  for (const row of rows) {
    update.run(
      remapMask(row.cols ?? whole, from, to),
      remapMask(row.wire_cols ?? whole, from, to),
      after.name,
      row.id,
    );
  }
}

function adoptExistingRows(store: LocalStore, table: SchemaTable): void {
  const t = quoteIdentifier(table.name);
  const any = store.db.prepare(`SELECT 1 FROM ${t} LIMIT 1`).get();
  if (any === undefined) return;
  store.db
    .prepare(
      `INSERT INTO _sync_pending (tbl, id, op, hlc, revision, base, cols)
       SELECT @table, id, 'upsert', (SELECT ${NEXT_HLC_SQL} FROM _sync_clock), 1, NULL, @cols FROM ${t}
       WHERE id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM _sync_rows r WHERE r.tbl = @table AND r.id = ${t}.id)
       ON CONFLICT (tbl, id) DO NOTHING`,
    )
    .run({ table: table.name, cols: fullMask(table.columns.length) });
}

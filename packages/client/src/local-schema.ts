import {
  CompiledSchema,
  fitValue,
  parseSchema,
  type ColumnSpec,
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
import { installSearchIndex } from './search-index.js';

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
 * Whether a column's table must be made again for the new schema: SQLite changes neither a column's type
 * nor its NOT NULL or DEFAULT in place. A type changed (a breaking change the server accepted), a required
 * column made optional (its NOT NULL would refuse the NULL the schema now allows), a default changed.
 */
function needsRebuild(was: ColumnSpec | undefined, now: ColumnSpec): boolean {
  if (was === undefined) return false;
  return (
    was.type !== now.type ||
    (was.required === true && now.required !== true) ||
    JSON.stringify(was.default ?? null) !== JSON.stringify(now.default ?? null)
  );
}

/**
 * Brings the device file to `schema`: creates missing tables, adds missing columns, makes a table again
 * where a column's type, NOT NULL or default changed (keeping every row, see `rebuildTable`), and (re)creates
 * the capture triggers, all in one transaction with the schema stored beside them. Rows already in a table
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
      let rebuilt = false;
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
        const before = previous?.table(table.name);
        if (
          before &&
          table.columns.some((column) => needsRebuild(before.columnsByName.get(column.name), column))
        ) {
          const retyped = table.columns.filter((column) => {
            const was = before.columnsByName.get(column.name);
            return was !== undefined && was.type !== column.type;
          });
          rebuildTable(store, table, new Set(retyped.map((column) => column.name)));
          rebuilt = true;
        }
      }
      installCaptureTriggers(store.db, table);
      installSearchIndex(store.db, table, rebuilt);
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

/**
 * Makes a table again with the new schema's columns, in the transaction that migrates the file (its
 * capture triggers are off, so nothing here is captured as a local change). Every row stays, with each
 * value brought to its column's type where it has such a form (`fitValue`, as the server does with its
 * rows): a pending row keeps its unsent values where they still fit. A value that does not fit becomes
 * NULL where the column allows it, else its default, else it stays as it was, so that the server refuses
 * it with its reason on the till rather than the row losing it unseen. Columns the schema no longer has stay,
 * as the file had them.
 */
function rebuildTable(store: LocalStore, table: SchemaTable, retyped: ReadonlySet<string>): void {
  const t = quoteIdentifier(table.name);
  const scratch = quoteIdentifier(`_sync_rebuild_${table.name}`);
  const local = store.db
    .prepare(`SELECT name, type, dflt_value FROM pragma_table_info(?)`)
    .all(table.name) as {
    name: string;
    type: string;
    dflt_value: string | null;
  }[];
  const kept = local.filter((column) => column.name !== 'id' && !table.columnsByName.has(column.name));
  const names = ['id', ...table.columns.map((column) => column.name), ...kept.map((column) => column.name)];
  // Only a changed type needs each value looked at; a NOT NULL or a default dropped is a copy in SQL, which a
  // table of a million rows takes in seconds rather than through JavaScript.
  const rows =
    retyped.size === 0 ? null : (store.db.prepare(`SELECT * FROM ${t}`).all() as Record<string, unknown>[]);
  const fitted = rows?.map((row) => {
    const values: Record<string, unknown> = { ...row };
    for (const column of table.columns) {
      if (!retyped.has(column.name)) continue;
      const fit = fitValue(column, row[column.name]);
      if (fit.fits && (fit.value !== null || column.required !== true)) values[column.name] = fit.value;
      else if (!fit.fits && column.required !== true) values[column.name] = null;
      else values[column.name] = column.default ?? row[column.name] ?? null;
    }
    return values;
  });
  // NOT NULL only where every row has a value: an optional column made required keeps its old rows.
  const holdsNull = (column: SchemaColumn): boolean =>
    fitted
      ? fitted.some((row) => row[column.name] === null)
      : store.db.prepare(`SELECT 1 FROM ${t} WHERE ${quoteIdentifier(column.name)} IS NULL LIMIT 1`).get() !==
        undefined;
  const columns = table.columns.map((column) =>
    column.required === true && holdsNull(column)
      ? columnSql({ ...column, required: false }, true)
      : columnSql(column, true),
  );
  const keptSql = kept.map(
    (column) =>
      `${quoteIdentifier(column.name)} ${column.type}${column.dflt_value === null ? '' : ` DEFAULT ${column.dflt_value}`}`,
  );
  store.db.exec(`DROP TABLE IF EXISTS ${scratch}`);
  store.db.exec(
    `CREATE TABLE ${scratch} ("id" TEXT PRIMARY KEY NOT NULL, ${[...columns, ...keptSql].join(', ')})`,
  );
  const list = names.map(quoteIdentifier).join(', ');
  if (fitted) {
    const insert = store.db.prepare(
      `INSERT INTO ${scratch} (${list}) VALUES (${names.map(() => '?').join(', ')})`,
    );
    for (const row of fitted) insert.run(...names.map((name) => row[name] ?? null));
  } else {
    store.db.exec(`INSERT INTO ${scratch} (${list}) SELECT ${list} FROM ${t}`);
  }
  store.db.exec(`DROP TABLE ${t}`);
  store.db.exec(`ALTER TABLE ${scratch} RENAME TO ${t}`);
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

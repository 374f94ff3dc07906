import { quoteIdentifier, quoteLiteral } from '../capture/triggers.js';
import type { LocalStore } from '../local-store.js';
import { parseAdoptMap, type AdoptMap } from './adopt-map.js';

/**
 * The bridge's bookkeeping in the device file, beside the sync's own (`_sync_*`):
 * - `_sync_adopt`: the attached database's map (one row), there while it is attached;
 * - `_sync_adopt_inbox`: the synced rows the sync itself wrote (a pull, a push's answer), noted by triggers
 *   in the same transaction, until the bridge has written them to the legacy database;
 * - `_sync_adopt_journal`: what a bring-in wrote to the device file and still has to note in the legacy
 *   database's `_sync_ids`, so a crash between the two commits is finished, not done twice;
 * - `_sync_adopt_saved_ids`: the id map kept by a detach, so a later attach gives the same rows the same ids;
 * - `_sync_adopt_refused`: the inbox's rows the legacy database refused (a `FOREIGN KEY`, a `CHECK`), with its
 *   message; they stay in the inbox and are tried again every cycle, and the status shows them meanwhile.
 */

/** An attached database as the device file records it. */
export interface StoredBinding {
  /** The map, its SQLite path made absolute. */
  readonly map: AdoptMap;
  readonly attachedAt: string;
}

/** A row of `_sync_ids`. */
export interface IdMapping {
  readonly tbl: string;
  readonly globalId: string;
  readonly localKey: number | null;
  readonly shadow: string | null;
}

const TABLES_SQL = `
  CREATE TABLE IF NOT EXISTS _sync_adopt (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    map TEXT NOT NULL,
    attached_at TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS _sync_adopt_inbox (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, id TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS _sync_adopt_journal (
    seq INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    tbl TEXT NOT NULL,
    global_id TEXT NOT NULL,
    local_key INTEGER,
    shadow TEXT
  );
  CREATE TABLE IF NOT EXISTS _sync_adopt_saved_ids (
    tbl TEXT NOT NULL,
    global_id TEXT NOT NULL,
    local_key INTEGER,
    shadow TEXT,
    PRIMARY KEY (tbl, global_id)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS _sync_adopt_refused (
    tbl TEXT NOT NULL,
    id TEXT NOT NULL,
    legacy_table TEXT NOT NULL,
    local_key TEXT,
    op TEXT NOT NULL,
    message TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    PRIMARY KEY (tbl, id)
  ) WITHOUT ROWID;
`;

/** A synced row the legacy database refused to take: it stays in the inbox and is tried again every cycle. */
export interface LegacyRefusal {
  /** The synced table and the row's id. */
  readonly table: string;
  readonly id: string;
  /** The legacy table, and the row's key there (`null` for a row it does not hold yet). */
  readonly legacyTable: string;
  readonly localKey: string | null;
  /** What the bridge tried: `write` (insert or update) or `delete`. */
  readonly op: 'write' | 'delete';
  /** The legacy database's own message. */
  readonly message: string;
  /** How many times it was tried. */
  readonly attempts: number;
  readonly firstAt: string;
  readonly lastAt: string;
}

function hasTable(store: LocalStore, name: string): boolean {
  return (
    store.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined
  );
}

/** The attached database, or `null` when none is attached. */
export function readBinding(store: LocalStore): StoredBinding | null {
  if (!hasTable(store, '_sync_adopt')) return null;
  const row = store.db.prepare('SELECT map, attached_at FROM _sync_adopt WHERE id = 1').get() as
    { map: string; attached_at: string } | undefined;
  if (!row) return null;
  return { map: parseAdoptMap(JSON.parse(row.map)), attachedAt: row.attached_at };
}

function inboxTriggerNames(store: LocalStore): string[] {
  return (
    store.db
      .prepare(
        `SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '\\_sync\\_adopt\\_inbox\\_%' ESCAPE '\\'`,
      )
      .all() as { name: string }[]
  ).map((row) => row.name);
}

/**
 * Records the binding and notes the sync's own writes to `syncedTables` from now on. Every row already in
 * them goes to the inbox once, so the legacy database receives what the device holds (all of it on a first
 * attach; after a detach, what changed meanwhile).
 */
export function installDeviceBookkeeping(
  store: LocalStore,
  map: AdoptMap,
  syncedTables: readonly { readonly name: string; readonly columns: readonly string[] }[],
  attachedAt: string,
): void {
  store.write(() => {
    store.db.exec(TABLES_SQL);
    store.db
      .prepare(
        'INSERT INTO _sync_adopt (id, map, attached_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET map = excluded.map, attached_at = excluded.attached_at',
      )
      .run(JSON.stringify(map), attachedAt);
    for (const name of inboxTriggerNames(store))
      store.db.exec(`DROP TRIGGER IF EXISTS ${quoteIdentifier(name)}`);
    // Only the sync's own writes (applying = 1): the bridge's and any program's are captured and pushed.
    const when = 'WHEN (SELECT applying FROM _sync_apply_flag) = 1';
    for (const { name: table, columns } of syncedTables) {
      const t = quoteIdentifier(table);
      const tbl = quoteLiteral(table);
      const name = (kind: string): string => quoteIdentifier(`_sync_adopt_inbox_${table}_${kind}`);
      // A pulled row that changes none of the bound columns (the echo of the device's own push) is no news.
      const changed = columns
        .map((column) => `NEW.${quoteIdentifier(column)} IS NOT OLD.${quoteIdentifier(column)}`)
        .join(' OR ');
      const note = (row: 'NEW' | 'OLD'): string =>
        `INSERT INTO _sync_adopt_inbox (tbl, id) VALUES (${tbl}, ${row}.id);`;
      store.db.exec(`CREATE TRIGGER ${name('insert')} AFTER INSERT ON ${t} ${when} BEGIN ${note('NEW')} END`);
      store.db.exec(
        `CREATE TRIGGER ${name('update')} AFTER UPDATE ON ${t} ${when}${changed === '' ? '' : ` AND (${changed})`} BEGIN ${note('NEW')} END`,
      );
      store.db.exec(`CREATE TRIGGER ${name('delete')} AFTER DELETE ON ${t} ${when} BEGIN ${note('OLD')} END`);
      store.db.exec(`INSERT INTO _sync_adopt_inbox (tbl, id) SELECT ${tbl}, id FROM ${t}`);
    }
  });
}

/** The refusals now waiting, newest first (none when nothing is attached). */
export function legacyRefusals(store: LocalStore, limit = 100): LegacyRefusal[] {
  if (!hasTable(store, '_sync_adopt_refused')) return [];
  const rows = store.db
    .prepare(
      'SELECT tbl, id, legacy_table, local_key, op, message, attempts, first_at, last_at FROM _sync_adopt_refused ORDER BY last_at DESC, tbl, id LIMIT ?',
    )
    .all(limit) as {
    tbl: string;
    id: string;
    legacy_table: string;
    local_key: string | null;
    op: 'write' | 'delete';
    message: string;
    attempts: number;
    first_at: string;
    last_at: string;
  }[];
  return rows.map((row) => ({
    table: row.tbl,
    id: row.id,
    legacyTable: row.legacy_table,
    localKey: row.local_key,
    op: row.op,
    message: row.message,
    attempts: row.attempts,
    firstAt: row.first_at,
    lastAt: row.last_at,
  }));
}

/** How many synced rows the legacy database refuses now (0 when nothing is attached). */
export function legacyRefusedCount(store: LocalStore): number {
  if (!hasTable(store, '_sync_adopt_refused')) return 0;
  return (store.statement('SELECT count(*) AS n FROM _sync_adopt_refused').get() as { n: number }).n;
}

/** A refusal in words a person can act on: which row of which table, and the database's message. */
export function describeRefusal(refusal: LegacyRefusal): string {
  const row =
    refusal.localKey === null
      ? `a new ${refusal.legacyTable} row (${refusal.table} ${refusal.id})`
      : `${refusal.legacyTable} ${refusal.localKey} (${refusal.table} ${refusal.id})`;
  return `the shop program's database refused to ${refusal.op === 'delete' ? 'delete' : 'write'} ${row}: ${refusal.message}`;
}

/** Notes the rows the legacy database refused in this run, and forgets those it took. */
export function noteRefusals(
  store: LocalStore,
  refused: readonly Omit<LegacyRefusal, 'attempts' | 'firstAt' | 'lastAt'>[],
  accepted: readonly { readonly table: string; readonly id: string }[],
  now: string,
): void {
  if (refused.length === 0 && (accepted.length === 0 || !hasTable(store, '_sync_adopt_refused'))) return;
  store.write(() => {
    store.db.exec(TABLES_SQL);
    const note = store.statement(
      `INSERT INTO _sync_adopt_refused (tbl, id, legacy_table, local_key, op, message, attempts, first_at, last_at)
       VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)
       ON CONFLICT (tbl, id) DO UPDATE SET local_key = excluded.local_key, op = excluded.op,
         message = excluded.message, attempts = attempts + 1, last_at = excluded.last_at`,
    );
    for (const row of refused)
      note.run(row.table, row.id, row.legacyTable, row.localKey, row.op, row.message, now, now);
    const forget = store.statement('DELETE FROM _sync_adopt_refused WHERE tbl = ? AND id = ?');
    for (const row of accepted) forget.run(row.table, row.id);
  });
}

/** Removes the binding, its triggers, inbox and journal; the saved id map stays. */
export function removeDeviceBookkeeping(store: LocalStore): void {
  store.write(() => {
    for (const name of inboxTriggerNames(store))
      store.db.exec(`DROP TRIGGER IF EXISTS ${quoteIdentifier(name)}`);
    store.db.exec(
      'DROP TABLE IF EXISTS _sync_adopt; DROP TABLE IF EXISTS _sync_adopt_inbox; DROP TABLE IF EXISTS _sync_adopt_journal; DROP TABLE IF EXISTS _sync_adopt_refused;',
    );
  });
}

/** Keeps the id map of a detached database (replacing what was kept of the same tables). */
export function saveIdMappings(store: LocalStore, mappings: readonly IdMapping[]): void {
  store.write(() => {
    store.db.exec(TABLES_SQL);
    const save = store.statement(
      'INSERT OR REPLACE INTO _sync_adopt_saved_ids (tbl, global_id, local_key, shadow) VALUES (?, ?, ?, ?)',
    );
    for (const mapping of mappings) save.run(mapping.tbl, mapping.globalId, mapping.localKey, mapping.shadow);
  });
}

/** The kept id map of these synced tables. */
export function savedIdMappings(store: LocalStore, tables: readonly string[]): IdMapping[] {
  if (!hasTable(store, '_sync_adopt_saved_ids') || tables.length === 0) return [];
  const rows = store.db
    .prepare(
      `SELECT tbl, global_id, local_key, shadow FROM _sync_adopt_saved_ids WHERE tbl IN (${tables.map(() => '?').join(', ')})`,
    )
    .all(...tables) as { tbl: string; global_id: string; local_key: number | null; shadow: string | null }[];
  return rows.map((row) => ({
    tbl: row.tbl,
    globalId: row.global_id,
    localKey: row.local_key,
    shadow: row.shadow,
  }));
}

/** Forgets the kept id map of these synced tables (it is back in the legacy database). */
export function dropSavedIdMappings(store: LocalStore, tables: readonly string[]): void {
  if (!hasTable(store, '_sync_adopt_saved_ids') || tables.length === 0) return;
  store.write(() => {
    store.db
      .prepare(`DELETE FROM _sync_adopt_saved_ids WHERE tbl IN (${tables.map(() => '?').join(', ')})`)
      .run(...tables);
  });
}

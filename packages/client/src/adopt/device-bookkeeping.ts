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
 * - `_sync_adopt_saved_ids`: the id map kept by a detach, so a later attach gives the same rows the same ids.
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
`;

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
  syncedTables: readonly string[],
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
    for (const table of syncedTables) {
      const t = quoteIdentifier(table);
      const tbl = quoteLiteral(table);
      const name = (kind: string): string => quoteIdentifier(`_sync_adopt_inbox_${table}_${kind}`);
      const note = (row: 'NEW' | 'OLD'): string =>
        `INSERT INTO _sync_adopt_inbox (tbl, id) VALUES (${tbl}, ${row}.id);`;
      store.db.exec(`CREATE TRIGGER ${name('insert')} AFTER INSERT ON ${t} ${when} BEGIN ${note('NEW')} END`);
      store.db.exec(`CREATE TRIGGER ${name('update')} AFTER UPDATE ON ${t} ${when} BEGIN ${note('NEW')} END`);
      store.db.exec(`CREATE TRIGGER ${name('delete')} AFTER DELETE ON ${t} ${when} BEGIN ${note('OLD')} END`);
      store.db.exec(`INSERT INTO _sync_adopt_inbox (tbl, id) SELECT ${tbl}, id FROM ${t}`);
    }
  });
}

/** Removes the binding, its triggers, inbox and journal; the saved id map stays. */
export function removeDeviceBookkeeping(store: LocalStore): void {
  store.write(() => {
    for (const name of inboxTriggerNames(store))
      store.db.exec(`DROP TRIGGER IF EXISTS ${quoteIdentifier(name)}`);
    store.db.exec(
      'DROP TABLE IF EXISTS _sync_adopt; DROP TABLE IF EXISTS _sync_adopt_inbox; DROP TABLE IF EXISTS _sync_adopt_journal;',
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

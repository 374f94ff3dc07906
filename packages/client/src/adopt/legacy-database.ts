/**
 * What the bridge needs of a shop program's own database, one implementation per engine
 * (`sqlite-legacy-database.ts`, `mysql-legacy-database.ts`). The shared core (`legacy-bridge.ts`) writes
 * plain SQL with `?` placeholders; the few places where the engines differ are named here.
 *
 * The bookkeeping an attach adds to that database, beside the program's tables and never in them:
 * - `_sync_changelog`: one row per insert, update or delete of a bound table (seq, tbl, local_key, op),
 *   written by triggers in the program's own transaction, deleted once the device file holds the change;
 * - `_sync_ids`: local integer key ↔ global id, per synced table, with the row's values as both sides last
 *   agreed (`shadow`, JSON), from which the next change of either side is told; a row the program deleted
 *   keeps its entry with `local_key` NULL until the delete has reached the device file;
 * - `_sync_keys`: a number per composite key (tbl, local_key, parts), so a join table's rows have an integer
 *   key in `_sync_changelog` and `_sync_ids` like the others; `parts` is the key's values as text, joined by
 *   the unit separator (U+001F), see {@link keyText};
 * - the triggers `_sync_adopt_<table>_<insert|update|delete>`, which skip the bridge's own writes.
 */

/** A value as the database gives it. */
export type LegacyValue = string | number | bigint | null;

/** A row as the database gives it, by column name. */
export type LegacyRow = Readonly<Record<string, unknown>>;

/** A column of a legacy table. */
export interface LegacyColumnInfo {
  /** As the database spells it. */
  readonly name: string;
  /** The declared type, lower case (`integer`, `decimal`, `varchar`, …). */
  readonly type: string;
  readonly notNull: boolean;
  readonly hasDefault: boolean;
  /** The digits after the point of a `decimal`/`numeric` column (`numeric(10,2)`: 2), or `null`. */
  readonly scale: number | null;
}

/** A declared foreign key of a legacy table. */
export interface LegacyForeignKey {
  readonly columns: readonly string[];
  readonly table: string;
  readonly referencedColumns: readonly string[];
}

/** A legacy table as the database describes it. */
export interface LegacyTableInfo {
  /** As the database spells it. */
  readonly name: string;
  readonly columns: readonly LegacyColumnInfo[];
  /** The primary key's columns, in key order (none when it has no primary key). */
  readonly primaryKey: readonly string[];
  /** The single-column integer primary key, or `null` (none, a composite key, or not an integer). */
  readonly integerKey: string | null;
  /** The integer primary key the database assigns itself on insert, or `null` when there is none. */
  readonly assignedKey: string | null;
  /** Its declared foreign keys. */
  readonly foreignKeys: readonly LegacyForeignKey[];
  /** The columns that are unique on their own (a one-column unique index), the key aside. */
  readonly uniqueColumns: readonly string[];
  /** Why the bridge cannot keep this table (no transactions), or `null`. */
  readonly problem: string | null;
}

/** The capture of one bound table. */
export interface CaptureTarget {
  /** The synced table it stands for: the changelog's `tbl`. */
  readonly syncedTable: string;
  readonly legacyTable: string;
  /** The integer key; for a composite key, its first column. */
  readonly key: string;
  /** A composite key's columns (the changelog then holds the row's `_sync_keys` number), or `null`. */
  readonly compositeKey: readonly string[] | null;
  /** The columns whose change is a change (the bound ones). */
  readonly watchedColumns: readonly string[];
}

/** What an insert or update did. */
export interface RunResult {
  /** The key the database assigned to an inserted row. */
  readonly insertId: number;
  readonly changes: number;
}

/** A shop program's database, opened by the bridge on its own connection. */
export interface LegacyDatabase {
  readonly engine: 'sqlite' | 'mysql';
  /** Where it is, for messages (a file, or `mysql://host:port/db` without the password). */
  readonly location: string;
  /** `INSERT OR IGNORE` or `INSERT IGNORE`. */
  readonly insertIgnore: string;
  /** What a SELECT ends with to lock the rows it reads until the transaction ends (`''` where all is locked). */
  readonly lockRows: string;
  /** An identifier in the engine's quotes. */
  quote(identifier: string): string;
  /** The SQL expression of a composite key's text (`_sync_keys.parts`) for a row (`NEW`, `OLD`, an alias). */
  keyTextOf(row: string, columns: readonly string[]): string;
  describeTable(name: string): Promise<LegacyTableInfo | null>;
  /** The program's tables (not the bookkeeping), by name. */
  listTables(): Promise<string[]>;
  select(sql: string, params?: readonly unknown[]): Promise<LegacyRow[]>;
  run(sql: string, params?: readonly unknown[]): Promise<RunResult>;
  /**
   * Runs `fn` in a transaction. With `applying`, the capture triggers skip its writes (a flag table in
   * SQLite, the session variable `@tillsync_applying` in MariaDB), which no other connection ever sees set.
   */
  transaction<T>(fn: () => Promise<T>, options?: { readonly applying?: boolean }): Promise<T>;
  /** Runs `fn` inside a savepoint of the transaction: when it throws, only its own writes are undone. */
  savepoint<T>(fn: () => Promise<T>): Promise<T>;
  /** Creates the bookkeeping if missing and (re)creates the triggers of exactly these tables. */
  install(targets: readonly CaptureTarget[]): Promise<void>;
  /** Drops every capture trigger. */
  dropTriggers(): Promise<void>;
  /** Drops the bookkeeping tables. */
  dropBookkeeping(): Promise<void>;
  close(): Promise<void>;
}

/** The separator of a composite key's parts in `_sync_keys.parts`. */
export const KEY_SEPARATOR = '\u001f';

/** A composite key's text, as the triggers' {@link LegacyDatabase.keyTextOf} makes it, from its values. */
export function keyText(values: readonly unknown[]): string {
  return values
    .map((value) => {
      if (value === null || value === undefined) return '';
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'bigint') return String(value);
      return JSON.stringify(value);
    })
    .join(KEY_SEPARATOR);
}

/**
 * The SQL both engines' triggers use for a composite key (the synced table's name `tbl` as a literal): the
 * row's number in `_sync_keys`, a changelog entry under it, and a number for a new key.
 */
export function compositeKeySql(
  legacy: Pick<LegacyDatabase, 'keyTextOf' | 'insertIgnore'>,
  tbl: string,
  keyColumns: readonly string[],
): {
  readonly number: (row: 'NEW' | 'OLD') => string;
  readonly log: (row: 'NEW' | 'OLD', op: string) => string;
  readonly keep: string;
} {
  const parts = (row: 'NEW' | 'OLD'): string => legacy.keyTextOf(row, keyColumns);
  return {
    number: (row) => `(SELECT local_key FROM _sync_keys WHERE tbl = ${tbl} AND parts = ${parts(row)})`,
    log: (row, op) =>
      `INSERT INTO _sync_changelog (tbl, local_key, op) SELECT ${tbl}, local_key, '${op}' FROM _sync_keys WHERE tbl = ${tbl} AND parts = ${parts(row)};`,
    keep: `${legacy.insertIgnore} INTO _sync_keys (tbl, parts) VALUES (${tbl}, ${parts('NEW')});`,
  };
}

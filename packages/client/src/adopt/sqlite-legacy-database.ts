import Database from 'better-sqlite3';
import { quoteIdentifier, quoteLiteral } from '../capture/triggers.js';
import {
  KEY_SEPARATOR,
  compositeKeySql,
  type CaptureTarget,
  type LegacyDatabase,
  type LegacyRow,
  type LegacyTableInfo,
  type RunResult,
} from './legacy-database.js';

/**
 * A shop program's SQLite file. The bridge opens it on its own connection and changes none of its settings
 * that outlive the connection (no journal mode, no user_version): the program keeps the file as it was.
 */
export class SqliteLegacyDatabase implements LegacyDatabase {
  readonly engine = 'sqlite';
  readonly location: string;
  readonly insertIgnore = 'INSERT OR IGNORE';
  readonly lockRows = '';
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  #savepoints = 0;

  constructor(file: string, options: { readonly busyTimeoutMs?: number } = {}) {
    this.location = file;
    this.#db = new Database(file, { fileMustExist: true });
    this.#db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 10_000))}`);
    // Fails here, not halfway through an attach, when the file is not SQLite.
    this.#db.prepare('SELECT count(*) FROM sqlite_master').get();
  }

  quote(identifier: string): string {
    return quoteIdentifier(identifier);
  }

  keyTextOf(row: string, columns: readonly string[]): string {
    return columns
      .map((column) => `IFNULL(CAST(${row}.${quoteIdentifier(column)} AS TEXT), '')`)
      .join(` || ${quoteLiteral(KEY_SEPARATOR)} || `);
  }

  describeTable(name: string): Promise<LegacyTableInfo | null> {
    const table = this.#db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`)
      .get(name) as { name: string } | undefined;
    if (!table) return Promise.resolve(null);
    const columns = this.#db.prepare('SELECT * FROM pragma_table_info(?)').all(table.name) as {
      name: string;
      type: string;
      notnull: number;
      dflt_value: unknown;
      pk: number;
    }[];
    const keys = columns.filter((column) => column.pk > 0).sort((a, b) => a.pk - b.pk);
    const onlyKey = keys.length === 1 ? keys[0] : undefined;
    const integerKey = onlyKey && /int/i.test(onlyKey.type) ? onlyKey.name : null;
    // Only an INTEGER PRIMARY KEY is the rowid, which SQLite assigns on an insert without it.
    const rowidKey = onlyKey?.type.toUpperCase() === 'INTEGER' ? onlyKey.name : null;
    const foreignKeys = new Map<number, { table: string; columns: string[]; referencedColumns: string[] }>();
    for (const row of this.#db
      .prepare('SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq')
      .all(table.name) as { id: number; table: string; from: string; to: string | null }[]) {
      let key = foreignKeys.get(row.id);
      if (!key) foreignKeys.set(row.id, (key = { table: row.table, columns: [], referencedColumns: [] }));
      key.columns.push(row.from);
      key.referencedColumns.push(row.to ?? '');
    }
    const uniqueColumns: string[] = [];
    for (const index of this.#db.prepare('SELECT * FROM pragma_index_list(?)').all(table.name) as {
      name: string;
      unique: number;
      origin: string;
    }[]) {
      if (index.unique !== 1 || index.origin === 'pk') continue;
      const indexed = this.#db.prepare('SELECT name FROM pragma_index_info(?)').all(index.name) as {
        name: string | null;
      }[];
      const only = indexed.length === 1 ? indexed[0]?.name : null;
      if (typeof only === 'string' && !uniqueColumns.includes(only)) uniqueColumns.push(only);
    }
    return Promise.resolve({
      name: table.name,
      columns: columns.map((column) => ({
        name: column.name,
        type: column.type.toLowerCase(),
        notNull: column.notnull === 1 && column.name !== rowidKey,
        hasDefault: column.dflt_value !== null,
        scale:
          /^(decimal|numeric)\s*\(\s*\d+\s*,\s*(\d+)\s*\)/i.exec(column.type)?.[2] === undefined
            ? null
            : Number(/,\s*(\d+)/.exec(column.type)?.[1]),
      })),
      primaryKey: keys.map((key) => key.name),
      integerKey,
      assignedKey: rowidKey,
      foreignKeys: [...foreignKeys.values()].map((key) => ({
        ...key,
        // A reference without columns names the parent's primary key.
        referencedColumns: key.referencedColumns.every((column) => column === '')
          ? this.#primaryKeyOf(key.table)
          : key.referencedColumns,
      })),
      uniqueColumns,
      problem: null,
    });
  }

  listTables(): Promise<string[]> {
    const rows = this.#db
      .prepare(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_sync\\_%' ESCAPE '\\' ORDER BY name`,
      )
      .all() as { name: string }[];
    return Promise.resolve(rows.map((row) => row.name));
  }

  #primaryKeyOf(table: string): string[] {
    return (
      this.#db.prepare('SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk').all(table) as {
        name: string;
      }[]
    ).map((row) => row.name);
  }

  select(sql: string, params: readonly unknown[] = []): Promise<LegacyRow[]> {
    return Promise.resolve(this.#statement(sql).all(...params) as LegacyRow[]);
  }

  run(sql: string, params: readonly unknown[] = []): Promise<RunResult> {
    const result = this.#statement(sql).run(...params);
    return Promise.resolve({ insertId: Number(result.lastInsertRowid), changes: result.changes });
  }

  async transaction<T>(fn: () => Promise<T>, options: { readonly applying?: boolean } = {}): Promise<T> {
    // IMMEDIATE: the program's writers wait for the bridge (busy timeout) instead of failing halfway.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      if (options.applying) this.#db.exec('UPDATE _sync_applying SET applying = 1');
      let result: T;
      try {
        result = await fn();
      } finally {
        // Back to 0 before the commit, so no other connection ever sees 1.
        if (options.applying) this.#db.exec('UPDATE _sync_applying SET applying = 0');
      }
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  async savepoint<T>(fn: () => Promise<T>): Promise<T> {
    const name = `_sync_row_${++this.#savepoints}`;
    this.#db.exec(`SAVEPOINT ${name}`);
    try {
      const result = await fn();
      this.#db.exec(`RELEASE ${name}`);
      return result;
    } catch (error) {
      this.#db.exec(`ROLLBACK TO ${name}`);
      this.#db.exec(`RELEASE ${name}`);
      throw error;
    }
  }

  async install(targets: readonly CaptureTarget[]): Promise<void> {
    await this.transaction(async () => {
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS _sync_changelog (
          seq INTEGER PRIMARY KEY,
          tbl TEXT NOT NULL,
          local_key INTEGER NOT NULL,
          op TEXT NOT NULL,
          changed_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
        );
        CREATE TABLE IF NOT EXISTS _sync_ids (
          tbl TEXT NOT NULL,
          global_id TEXT NOT NULL,
          local_key INTEGER,
          shadow TEXT,
          PRIMARY KEY (tbl, global_id)
        );
        CREATE UNIQUE INDEX IF NOT EXISTS _sync_ids_local_key ON _sync_ids (tbl, local_key);
        CREATE TABLE IF NOT EXISTS _sync_keys (
          local_key INTEGER PRIMARY KEY,
          tbl TEXT NOT NULL,
          parts TEXT NOT NULL,
          UNIQUE (tbl, parts)
        );
        CREATE TABLE IF NOT EXISTS _sync_applying (applying INTEGER NOT NULL);
        INSERT INTO _sync_applying (applying) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM _sync_applying);
      `);
      this.#dropTriggers();
      for (const target of targets)
        for (const statement of triggerStatements(target, this)) this.#db.exec(statement);
      return Promise.resolve();
    });
  }

  dropTriggers(): Promise<void> {
    this.#db.transaction(() => this.#dropTriggers()).immediate();
    return Promise.resolve();
  }

  dropBookkeeping(): Promise<void> {
    this.#db.exec(
      'DROP TABLE IF EXISTS _sync_changelog; DROP TABLE IF EXISTS _sync_ids; DROP TABLE IF EXISTS _sync_keys; DROP TABLE IF EXISTS _sync_applying;',
    );
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#statements.clear();
    if (this.#db.open) this.#db.close();
    return Promise.resolve();
  }

  #dropTriggers(): void {
    const triggers = this.#db
      .prepare(
        `SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '\\_sync\\_adopt\\_%' ESCAPE '\\'`,
      )
      .all() as { name: string }[];
    for (const trigger of triggers) this.#db.exec(`DROP TRIGGER IF EXISTS ${quoteIdentifier(trigger.name)}`);
  }

  #statement(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/** The triggers that note a bound table's writes in `_sync_changelog`, skipping the bridge's own. */
function triggerStatements(target: CaptureTarget, legacy: SqliteLegacyDatabase): string[] {
  const t = quoteIdentifier(target.legacyTable);
  const key = quoteIdentifier(target.key);
  const tbl = quoteLiteral(target.syncedTable);
  const name = (kind: string): string => quoteIdentifier(`_sync_adopt_${target.legacyTable}_${kind}`);
  const when = 'WHEN (SELECT applying FROM _sync_applying) = 0';
  const keyColumns = target.compositeKey ?? [target.key];
  const watched = [...new Set([...keyColumns, ...target.watchedColumns])].map(quoteIdentifier).join(', ');
  if (target.compositeKey !== null) {
    // The row's number in `_sync_keys` stands for its key; a changed key is a delete and an insert.
    const parts = (row: 'NEW' | 'OLD'): string => legacy.keyTextOf(row, keyColumns);
    const { number, log, keep } = compositeKeySql(legacy, tbl, keyColumns);
    return [
      `CREATE TRIGGER ${name('insert')} AFTER INSERT ON ${t} ${when} BEGIN ${keep} ${log('NEW', 'I')} END`,
      `CREATE TRIGGER ${name('update')} AFTER UPDATE OF ${watched} ON ${t} ${when}
       BEGIN
         UPDATE _sync_ids SET local_key = NULL
           WHERE tbl = ${tbl} AND local_key = ${number('OLD')} AND ${parts('NEW')} IS NOT ${parts('OLD')};
         ${keep} ${log('NEW', 'U')}
       END`,
      `CREATE TRIGGER ${name('delete')} AFTER DELETE ON ${t} ${when}
       BEGIN
         UPDATE _sync_ids SET local_key = NULL WHERE tbl = ${tbl} AND local_key = ${number('OLD')};
         ${log('OLD', 'D')}
       END`,
    ];
  }
  const log = (row: 'NEW' | 'OLD', op: string): string =>
    `INSERT INTO _sync_changelog (tbl, local_key, op) VALUES (${tbl}, ${row}.${key}, '${op}');`;
  return [
    `CREATE TRIGGER ${name('insert')} AFTER INSERT ON ${t} ${when}
     BEGIN ${log('NEW', 'I')} END`,
    // A changed key moves the row's global id with it.
    `CREATE TRIGGER ${name('update')} AFTER UPDATE OF ${watched} ON ${t} ${when}
     BEGIN
       UPDATE _sync_ids SET local_key = NEW.${key}
         WHERE tbl = ${tbl} AND local_key = OLD.${key} AND NEW.${key} IS NOT OLD.${key};
       ${log('NEW', 'U')}
     END`,
    // The global id stays, without its key, until the delete has reached the device file.
    `CREATE TRIGGER ${name('delete')} AFTER DELETE ON ${t} ${when}
     BEGIN
       UPDATE _sync_ids SET local_key = NULL WHERE tbl = ${tbl} AND local_key = OLD.${key};
       ${log('OLD', 'D')}
     END`,
  ];
}

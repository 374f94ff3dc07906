import Database from 'better-sqlite3';
import { quoteIdentifier, quoteLiteral } from '../capture/triggers.js';
import type {
  CaptureTarget,
  LegacyDatabase,
  LegacyRow,
  LegacyTableInfo,
  RunResult,
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
    const keys = columns.filter((column) => column.pk > 0);
    // Only an INTEGER PRIMARY KEY is the rowid, which SQLite assigns on an insert without it.
    const rowidKey =
      keys.length === 1 && keys[0]?.type.toUpperCase() === 'INTEGER' ? (keys[0]?.name ?? null) : null;
    return Promise.resolve({
      name: table.name,
      columns: columns.map((column) => ({
        name: column.name,
        type: column.type.toLowerCase(),
        notNull: column.notnull === 1 && column.pk === 0,
        hasDefault: column.dflt_value !== null,
      })),
      assignedKey: rowidKey,
      problem: null,
    });
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
        CREATE TABLE IF NOT EXISTS _sync_applying (applying INTEGER NOT NULL);
        INSERT INTO _sync_applying (applying) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM _sync_applying);
      `);
      this.#dropTriggers();
      for (const target of targets)
        for (const statement of triggerStatements(target)) this.#db.exec(statement);
      return Promise.resolve();
    });
  }

  dropTriggers(): Promise<void> {
    this.#db.transaction(() => this.#dropTriggers()).immediate();
    return Promise.resolve();
  }

  dropBookkeeping(): Promise<void> {
    this.#db.exec(
      'DROP TABLE IF EXISTS _sync_changelog; DROP TABLE IF EXISTS _sync_ids; DROP TABLE IF EXISTS _sync_applying;',
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
function triggerStatements(target: CaptureTarget): string[] {
  const t = quoteIdentifier(target.legacyTable);
  const key = quoteIdentifier(target.key);
  const tbl = quoteLiteral(target.syncedTable);
  const name = (kind: string): string => quoteIdentifier(`_sync_adopt_${target.legacyTable}_${kind}`);
  const when = 'WHEN (SELECT applying FROM _sync_applying) = 0';
  const log = (row: 'NEW' | 'OLD', op: string): string =>
    `INSERT INTO _sync_changelog (tbl, local_key, op) VALUES (${tbl}, ${row}.${key}, '${op}');`;
  const watched = [...new Set([target.key, ...target.watchedColumns])].map(quoteIdentifier).join(', ');
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

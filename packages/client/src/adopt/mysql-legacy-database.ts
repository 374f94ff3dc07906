import {
  KEY_SEPARATOR,
  compositeKeySql,
  type CaptureTarget,
  type LegacyDatabase,
  type LegacyRow,
  type LegacyTableInfo,
  type RunResult,
} from './legacy-database.js';

/** The part of a mysql2 connection the bridge calls. */
interface MysqlConnection {
  query(sql: string, params?: unknown[]): Promise<[unknown, unknown]>;
  end(): Promise<void>;
}

/**
 * A shop program's MariaDB (or MySQL) database, on one connection of the bridge's own: the session variable
 * `@tillsync_applying` that its triggers read is this connection's alone.
 */
export class MysqlLegacyDatabase implements LegacyDatabase {
  readonly engine = 'mysql';
  readonly location: string;
  readonly insertIgnore = 'INSERT IGNORE';
  readonly lockRows = ' FOR UPDATE';
  readonly #connection: MysqlConnection;
  #savepoints = 0;

  private constructor(location: string, connection: MysqlConnection) {
    this.location = location;
    this.#connection = connection;
  }

  /** Connects to `mysql://user:password@host:port/database`. */
  static async connect(url: string): Promise<MysqlLegacyDatabase> {
    const parsed = new URL(url);
    if (parsed.protocol !== 'mysql:' && parsed.protocol !== 'mariadb:') {
      throw new TypeError(`${url} is not a mysql:// URL`);
    }
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    if (database === '') throw new TypeError('the URL names no database (mysql://user@host:3306/DATABASE)');
    // Loaded here: a device without a MariaDB database never loads the driver.
    const { default: mysql } = await import('mysql2/promise');
    const connection = await mysql.createConnection({
      host: parsed.hostname,
      port: parsed.port === '' ? 3306 : Number(parsed.port),
      user: decodeURIComponent(parsed.username),
      password: decodeURIComponent(parsed.password),
      database,
      // Dates and decimals as the text the database holds: the conversions read them, nothing is rounded.
      dateStrings: true,
      decimalNumbers: false,
      supportBigNumbers: true,
      connectTimeout: 5000,
    });
    return new MysqlLegacyDatabase(`mysql://${parsed.host}/${database}`, connection);
  }

  quote(identifier: string): string {
    return `\`${identifier.replaceAll('`', '``')}\``;
  }

  keyTextOf(row: string, columns: readonly string[]): string {
    return `CONCAT_WS('${KEY_SEPARATOR}', ${columns.map((column) => `${row}.${this.quote(column)}`).join(', ')})`;
  }

  async describeTable(name: string): Promise<LegacyTableInfo | null> {
    const tables = await this.select(
      'SELECT TABLE_NAME AS name, ENGINE AS engine FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
      [name],
    );
    const table = tables[0] as { name: string; engine: string | null } | undefined;
    if (!table) return null;
    const columns = (await this.select(
      `SELECT COLUMN_NAME AS name, DATA_TYPE AS type, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS dflt,
              COLUMN_KEY AS columnKey, EXTRA AS extra, NUMERIC_SCALE AS scale
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [table.name],
    )) as {
      name: string;
      type: string;
      nullable: string;
      dflt: unknown;
      columnKey: string;
      extra: string;
      scale: number | string | null;
    }[];
    const keys = (await this.select(
      `SELECT COLUMN_NAME AS name FROM information_schema.KEY_COLUMN_USAGE
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`,
      [table.name],
    )) as { name: string }[];
    const only = keys.length === 1 ? columns.find((column) => column.name === keys[0]?.name) : undefined;
    const integerKey = only && /^(tiny|small|medium|big)?int$/i.test(only.type) ? only.name : null;
    const assigned = only && integerKey !== null && /auto_increment/i.test(only.extra) ? only.name : null;
    const references = (await this.select(
      `SELECT CONSTRAINT_NAME AS name, COLUMN_NAME AS col, REFERENCED_TABLE_NAME AS parent,
              REFERENCED_COLUMN_NAME AS parentCol
       FROM information_schema.KEY_COLUMN_USAGE
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND REFERENCED_TABLE_NAME IS NOT NULL
       ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION`,
      [table.name],
    )) as { name: string; col: string; parent: string; parentCol: string }[];
    const foreignKeys = new Map<string, { table: string; columns: string[]; referencedColumns: string[] }>();
    for (const row of references) {
      let key = foreignKeys.get(row.name);
      if (!key) foreignKeys.set(row.name, (key = { table: row.parent, columns: [], referencedColumns: [] }));
      key.columns.push(row.col);
      key.referencedColumns.push(row.parentCol);
    }
    const indexes = (await this.select(
      `SELECT INDEX_NAME AS name, max(COLUMN_NAME) AS col, count(*) AS n FROM information_schema.STATISTICS
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY'
       GROUP BY INDEX_NAME`,
      [table.name],
    )) as { name: string; col: string; n: number | string }[];
    const engine = (table.engine ?? '').toLowerCase();
    return {
      name: table.name,
      columns: columns.map((column) => ({
        name: column.name,
        type: column.type.toLowerCase(),
        notNull: column.nullable === 'NO' && !/auto_increment/i.test(column.extra),
        // MariaDB reports a column without a default as NULL and a NULL default as the text 'NULL'.
        hasDefault: column.dflt !== null,
        scale:
          /^(decimal|numeric)$/i.test(column.type) && column.scale !== null ? Number(column.scale) : null,
      })),
      primaryKey: keys.map((key) => key.name),
      integerKey,
      assignedKey: assigned,
      foreignKeys: [...foreignKeys.values()],
      uniqueColumns: indexes.filter((index) => Number(index.n) === 1).map((index) => index.col),
      problem:
        engine === 'innodb'
          ? null
          : `${table.name} uses the ${table.engine ?? 'unknown'} engine, which has no transactions; the bridge needs InnoDB`,
    };
  }

  async listTables(): Promise<string[]> {
    const rows = (await this.select(
      `SELECT TABLE_NAME AS name FROM information_schema.TABLES
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT LIKE '\\_sync\\_%'
       ORDER BY TABLE_NAME`,
    )) as { name: string }[];
    return rows.map((row) => row.name);
  }

  async select(sql: string, params: readonly unknown[] = []): Promise<LegacyRow[]> {
    const [rows] = await this.#connection.query(sql, [...params]);
    return rows as LegacyRow[];
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<RunResult> {
    const [result] = await this.#connection.query(sql, [...params]);
    const header = result as { insertId?: number; affectedRows?: number };
    return { insertId: Number(header.insertId ?? 0), changes: Number(header.affectedRows ?? 0) };
  }

  async transaction<T>(fn: () => Promise<T>, options: { readonly applying?: boolean } = {}): Promise<T> {
    await this.#connection.query('START TRANSACTION');
    try {
      if (options.applying) await this.#connection.query('SET @tillsync_applying = 1');
      let result: T;
      try {
        result = await fn();
      } finally {
        if (options.applying) await this.#connection.query('SET @tillsync_applying = NULL');
      }
      await this.#connection.query('COMMIT');
      return result;
    } catch (error) {
      await this.#connection.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  async savepoint<T>(fn: () => Promise<T>): Promise<T> {
    const name = `_sync_row_${++this.#savepoints}`;
    await this.#connection.query(`SAVEPOINT ${name}`);
    try {
      const result = await fn();
      await this.#connection.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (error) {
      await this.#connection.query(`ROLLBACK TO SAVEPOINT ${name}`);
      throw error;
    }
  }

  async install(targets: readonly CaptureTarget[]): Promise<void> {
    await this.#connection.query(`CREATE TABLE IF NOT EXISTS _sync_changelog (
        seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        tbl VARCHAR(64) NOT NULL,
        local_key BIGINT NOT NULL,
        op CHAR(1) NOT NULL,
        changed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
      ) ENGINE=InnoDB`);
    await this.#connection.query(`CREATE TABLE IF NOT EXISTS _sync_ids (
        tbl VARCHAR(64) NOT NULL,
        global_id CHAR(36) NOT NULL,
        local_key BIGINT NULL,
        shadow LONGTEXT NULL,
        PRIMARY KEY (tbl, global_id),
        UNIQUE KEY _sync_ids_local_key (tbl, local_key)
      ) ENGINE=InnoDB`);
    await this.#connection.query(`CREATE TABLE IF NOT EXISTS _sync_keys (
        local_key BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        tbl VARCHAR(64) NOT NULL,
        parts VARCHAR(700) NOT NULL,
        UNIQUE KEY _sync_keys_parts (tbl, parts)
      ) ENGINE=InnoDB`);
    await this.dropTriggers();
    for (const target of targets) {
      for (const statement of this.#triggerStatements(target)) await this.#connection.query(statement);
    }
  }

  async dropTriggers(): Promise<void> {
    const triggers = (await this.select(
      `SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS
       WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE '\\_sync\\_adopt\\_%'`,
    )) as { name: string }[];
    for (const trigger of triggers)
      await this.#connection.query(`DROP TRIGGER IF EXISTS ${this.quote(trigger.name)}`);
  }

  async dropBookkeeping(): Promise<void> {
    await this.#connection.query('DROP TABLE IF EXISTS _sync_changelog, _sync_ids, _sync_keys');
  }

  async close(): Promise<void> {
    await this.#connection.end().catch(() => {});
  }

  /** The triggers that note a bound table's writes in `_sync_changelog`, skipping the bridge's own. */
  #triggerStatements(target: CaptureTarget): string[] {
    const t = this.quote(target.legacyTable);
    const key = this.quote(target.key);
    const tbl = `'${target.syncedTable.replaceAll("'", "''")}'`;
    const name = (kind: string): string => this.quote(`_sync_adopt_${target.legacyTable}_${kind}`);
    const log = (row: 'NEW' | 'OLD', op: string): string =>
      `INSERT INTO _sync_changelog (tbl, local_key, op) VALUES (${tbl}, ${row}.${key}, '${op}');`;
    const keyColumns = target.compositeKey ?? [target.key];
    const watched = [...new Set([...keyColumns, ...target.watchedColumns])].map((column) =>
      this.quote(column),
    );
    const changed = watched.map((column) => `NOT (OLD.${column} <=> NEW.${column})`).join(' OR ');
    if (target.compositeKey !== null) {
      // The row's number in `_sync_keys` stands for its key; a changed key is a delete and an insert.
      const parts = (row: 'NEW' | 'OLD'): string => this.keyTextOf(row, keyColumns);
      const { number, log: logKey, keep } = compositeKeySql(this, tbl, keyColumns);
      return [
        `CREATE TRIGGER ${name('insert')} AFTER INSERT ON ${t} FOR EACH ROW
         BEGIN IF @tillsync_applying IS NULL THEN ${keep} ${logKey('NEW', 'I')} END IF; END`,
        `CREATE TRIGGER ${name('update')} AFTER UPDATE ON ${t} FOR EACH ROW
         BEGIN IF @tillsync_applying IS NULL AND (${changed}) THEN
           IF NOT (${parts('NEW')} <=> ${parts('OLD')}) THEN
             UPDATE _sync_ids SET local_key = NULL WHERE tbl = ${tbl} AND local_key = ${number('OLD')};
           END IF;
           ${keep} ${logKey('NEW', 'U')}
         END IF; END`,
        `CREATE TRIGGER ${name('delete')} AFTER DELETE ON ${t} FOR EACH ROW
         BEGIN IF @tillsync_applying IS NULL THEN
           UPDATE _sync_ids SET local_key = NULL WHERE tbl = ${tbl} AND local_key = ${number('OLD')};
           ${logKey('OLD', 'D')}
         END IF; END`,
      ];
    }
    return [
      `CREATE TRIGGER ${name('insert')} AFTER INSERT ON ${t} FOR EACH ROW
       BEGIN IF @tillsync_applying IS NULL THEN ${log('NEW', 'I')} END IF; END`,
      `CREATE TRIGGER ${name('update')} AFTER UPDATE ON ${t} FOR EACH ROW
       BEGIN IF @tillsync_applying IS NULL AND (${changed}) THEN
         UPDATE _sync_ids SET local_key = NEW.${key}
           WHERE tbl = ${tbl} AND local_key = OLD.${key} AND NOT (NEW.${key} <=> OLD.${key});
         ${log('NEW', 'U')}
       END IF; END`,
      `CREATE TRIGGER ${name('delete')} AFTER DELETE ON ${t} FOR EACH ROW
       BEGIN IF @tillsync_applying IS NULL THEN
         UPDATE _sync_ids SET local_key = NULL WHERE tbl = ${tbl} AND local_key = OLD.${key};
         ${log('OLD', 'D')}
       END IF; END`,
    ];
  }
}

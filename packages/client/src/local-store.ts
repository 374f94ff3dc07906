import { CompiledSchema, parseSchema } from '@tillsync/protocol';
import Database from 'better-sqlite3';
import { fullMask } from './capture/column-mask.js';
import { ANY_CAPTURED_SQL, CAPTURE_LOG_SQL, foldCaptured } from './capture/fold.js';
import { installCaptureTriggers } from './capture/triggers.js';
import { StateKey, stateReader, type STORE_VERSION, type StateReader } from './device-state.js';
import { installSearchIndex } from './search-index.js';

/**
 * The device's SQLite file: the synced tables under their own names (created by `local-schema.ts`) and the
 * sync bookkeeping beside them in tables whose names start with `_sync_`. This file opens it and owns the
 * bookkeeping's layout and its migrations.
 *
 * The bookkeeping's version lives in `_sync_state`, not in `PRAGMA user_version`: the file may belong to an
 * existing shop program that numbers its own migrations with it.
 */

/** Options for {@link LocalStore.open}. */
export interface LocalStoreOptions {
  /** The device's SQLite file; created when missing. */
  readonly dbPath: string;
  /**
   * How long a write waits for another program's write to finish.
   * @defaultValue 10000
   */
  readonly busyTimeoutMs?: number;
}

export { StateKey } from './device-state.js';

/**
 * Numbered migrations of the bookkeeping. A landed migration never changes; a change of layout is a new one.
 * Each is SQL, or a function for one that needs the file's schema.
 */
const MIGRATIONS = [
  // 1: the first layout.
  `
  -- The hybrid logical clock as one integer, ms * 65536 + counter: advancing it is max(hlc + 1, now * 65536)
  -- (a counter past 0xffff carries into the milliseconds by itself), cheap enough for every captured write.
  -- Stamps are formatted from it only when the sync reads them.
  CREATE TABLE _sync_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hlc INTEGER NOT NULL,
    node TEXT NOT NULL
  );
  INSERT INTO _sync_clock (id, hlc, node) VALUES (1, 0, 'unpaired');

  -- 1 only inside the sync's own apply transactions (set back to 0 before they commit), so the capture
  -- triggers skip the sync's writes and no other connection ever sees 1.
  CREATE TABLE _sync_apply_flag (applying INTEGER NOT NULL);
  INSERT INTO _sync_apply_flag (applying) VALUES (0);

  -- The outbox: one row per locally changed row, hlc the clock at its last write (the stamp of the change).
  -- revision grows with every captured write, so the answer
  -- to a push can tell whether the row changed again while the push was on the wire. base holds, per
  -- counter column, the value last received from the server (null: the row is not on the server).
  -- in_push is 1 while the row is part of the push in flight.
  CREATE TABLE _sync_pending (
    tbl TEXT NOT NULL,
    id TEXT NOT NULL,
    op TEXT NOT NULL,
    hlc INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    base TEXT,
    in_push INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    error_message TEXT,
    PRIMARY KEY (tbl, id)
  ) WITHOUT ROWID;

  -- What an INSERT OR REPLACE overwrote: the BEFORE INSERT trigger of a table with counters notes the old
  -- counter values here, since the replaced row is gone when the AFTER INSERT trigger runs.
  CREATE TABLE _sync_replaced (
    tbl TEXT NOT NULL,
    id TEXT NOT NULL,
    base TEXT,
    PRIMARY KEY (tbl, id)
  ) WITHOUT ROWID;

  -- The server's state as this device last learnt it: one row per live row on the server, with its
  -- updatedAt. The table checksums are kept from it.
  CREATE TABLE _sync_rows (
    tbl TEXT NOT NULL,
    id TEXT NOT NULL,
    stamp TEXT NOT NULL,
    PRIMARY KEY (tbl, id)
  ) WITHOUT ROWID;

  -- Per table: count and sum of _sync_rows (PROTOCOL.md §2), changed in the same transaction as it.
  CREATE TABLE _sync_checksums (
    tbl TEXT PRIMARY KEY NOT NULL,
    count INTEGER NOT NULL,
    sum TEXT NOT NULL
  ) WITHOUT ROWID;

  -- The push in flight: written before it is sent, deleted in the transaction that applies its answer.
  CREATE TABLE _sync_push (
    push_id TEXT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL,
    covers TEXT NOT NULL,
    created_at TEXT NOT NULL
  ) WITHOUT ROWID;

  -- Every write that last-write-wins overrode on this device: both versions, the winner, when.
  CREATE TABLE _sync_conflicts (
    id INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    row_id TEXT NOT NULL,
    winner TEXT NOT NULL,
    source TEXT NOT NULL,
    local_op TEXT NOT NULL,
    local_values TEXT,
    local_stamp TEXT NOT NULL,
    server_op TEXT NOT NULL,
    server_values TEXT,
    server_stamp TEXT NOT NULL,
    at TEXT NOT NULL
  );
  CREATE INDEX _sync_conflicts_row ON _sync_conflicts (tbl, row_id);

  -- Unsent local versions replaced by a force pull with discard-local.
  CREATE TABLE _sync_set_aside (
    id INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    row_id TEXT NOT NULL,
    op TEXT NOT NULL,
    local_values TEXT,
    stamp TEXT NOT NULL,
    error_code TEXT,
    error_message TEXT,
    set_aside_at TEXT NOT NULL
  );
  CREATE INDEX _sync_set_aside_row ON _sync_set_aside (tbl, row_id);

  -- The last cycles, newest last.
  CREATE TABLE _sync_log (
    id INTEGER PRIMARY KEY,
    cycle_trigger TEXT NOT NULL,
    mode TEXT NOT NULL,
    started_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    pushed INTEGER NOT NULL,
    pulled INTEGER NOT NULL,
    conflicts INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    rejected_rows TEXT NOT NULL,
    repairs TEXT NOT NULL,
    error TEXT
  );
  `,
  // 2: the error code of a failed cycle, so a worker tells an ended session from a server that is down.
  `
  ALTER TABLE _sync_log ADD COLUMN error_code TEXT;
  `,
  // 3: column-level writes (protocol 2). The outbox notes which columns each pending row set, the log
  // names the rows whose edits lost, and the device keeps the list of its edits that lost.
  (store) => {
    store.db.exec(`
    -- cols: the synced columns the row's pending writes set, a mask (capture/column-mask.ts); NULL is every
    -- column. wire_cols: the columns of the push on the wire (in_push = 1), put back into cols when that
    -- push is not taken. base_stamp: the server's stamp of the row as the device had it when its pending
    -- writes began, kept only once a pull or a push's answer has moved _sync_rows past it (the push's base,
    -- PROTOCOL.md §1).
    ALTER TABLE _sync_pending ADD COLUMN cols INTEGER;
    ALTER TABLE _sync_pending ADD COLUMN wire_cols INTEGER DEFAULT 0;
    ALTER TABLE _sync_pending ADD COLUMN base_stamp TEXT;

    -- The rows whose edits lost in a cycle, named, for its log line.
    ALTER TABLE _sync_log ADD COLUMN conflict_rows TEXT NOT NULL DEFAULT '[]';

    -- This device's own edits that lost to a later write made without knowing them (PROTOCOL.md §5):
    -- per column (col), or for the whole row (col NULL: a delete of mine lost to a later write, or a write of
    -- mine lost to a later delete: kind). Values as JSON. The newest 500 are kept.
    CREATE TABLE _sync_lost_edits (
      id INTEGER PRIMARY KEY,
      tbl TEXT NOT NULL,
      row_id TEXT NOT NULL,
      row_name TEXT,
      kind TEXT NOT NULL,
      col TEXT,
      mine TEXT,
      winning TEXT,
      my_stamp TEXT NOT NULL,
      winning_stamp TEXT NOT NULL,
      at TEXT NOT NULL
    );
    `);
    // A file paired before: its triggers note columns from now on, and what is pending already counts as
    // whole-row writes, as it was captured (those on the wire, too).
    const json = store.getState(StateKey.schema);
    if (json === null) return;
    const schema = new CompiledSchema(parseSchema(JSON.parse(json)));
    for (const table of schema.tables) {
      installCaptureTriggers(store.db, table);
      const whole = fullMask(table.columns.length);
      store.db
        .prepare(
          'UPDATE _sync_pending SET cols = ?, wire_cols = CASE WHEN in_push = 1 THEN ? ELSE 0 END WHERE tbl = ?',
        )
        .run(whole, whole, table.name);
    }
  },
  // 4: a search index per synced table with text to search (search-index.ts), filled from the rows a file
  // paired before already holds.
  (store) => {
    const json = store.getState(StateKey.schema);
    if (json === null) return;
    const schema = new CompiledSchema(parseSchema(JSON.parse(json)));
    for (const table of schema.tables) installSearchIndex(store.db, table, true);
  },
  // 5: a pending delete of a row with counters keeps their values as deleted (gone, JSON like base), so the
  // delete still carries the delta of the writes before it; the search index is kept only for writes that
  // change its text.
  (store) => {
    store.db.exec('ALTER TABLE _sync_pending ADD COLUMN gone TEXT');
    const json = store.getState(StateKey.schema);
    if (json === null) return;
    const schema = new CompiledSchema(parseSchema(JSON.parse(json)));
    for (const table of schema.tables) {
      installCaptureTriggers(store.db, table);
      installSearchIndex(store.db, table, false);
    }
  },
  // 6: the search index kept off the write path: no triggers any more, a contentless index the sync writes
  // itself and catches up with the outbox (search-index.ts). Made again from the rows.
  (store) => {
    const json = store.getState(StateKey.schema);
    if (json === null) return;
    const schema = new CompiledSchema(parseSchema(JSON.parse(json)));
    for (const table of schema.tables) installSearchIndex(store.db, table, false);
  },
  // 7: captured writes appended to a log the sync folds into the outbox (capture/fold.ts), instead of each
  // upserting its row's entry: a sale's write is one page cheaper to commit.
  (store) => {
    store.db.exec(CAPTURE_LOG_SQL);
    const json = store.getState(StateKey.schema);
    if (json === null) return;
    const schema = new CompiledSchema(parseSchema(JSON.parse(json)));
    for (const table of schema.tables) installCaptureTriggers(store.db, table);
  },
  // 8: the stamp of each row as the device last received it from the server (a pull, or the `current` of a
  // push's answer), where this device's own push has moved `stamp` past it: the base of the row's next
  // writes (PROTOCOL.md §1). An answer that took the device's write says nothing of the row's other columns,
  // so `stamp` (which the checksums need) is then not what the device knows of the row. NULL: `stamp` is as
  // received; the rows of a file migrated from 7 start so, as their base was taken before.
  `
  ALTER TABLE _sync_rows ADD COLUMN received TEXT;
  `,
] as const satisfies readonly (string | ((store: LocalStore) => void))[] & { length: typeof STORE_VERSION };

/**
 * The device's SQLite file, opened for the sync: WAL mode (other programs read and write it meanwhile), a
 * busy timeout, the bookkeeping migrated to the current layout, and prepared statements kept for reuse.
 */
export class LocalStore implements StateReader {
  readonly dbPath: string;
  readonly db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  readonly #state = stateReader((sql) => this.statement(sql));
  /** Whether the file has the capture log yet (it has once migrated). */
  #logged = false;

  private constructor(dbPath: string, db: Database.Database) {
    this.dbPath = dbPath;
    this.db = db;
  }

  /** Opens (or creates) the device file and brings the bookkeeping up to date. */
  static open(options: LocalStoreOptions): LocalStore {
    const db = new Database(options.dbPath);
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 10_000))}`);
      db.pragma('journal_mode = WAL');
      // NORMAL: a crash of the process loses nothing committed; the few commits that must survive a power
      // loss too (a push about to be sent, rotated tokens) use durableWrite.
      db.pragma('synchronous = NORMAL');
      const store = new LocalStore(options.dbPath, db);
      store.#migrate();
      store.#logged = true;
      return store;
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** A prepared statement for `sql`, compiled once per store. */
  statement(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Runs `fn` in a write transaction taken at once (`BEGIN IMMEDIATE`), so it never fails halfway for want
   * of the write lock; nested calls become savepoints. The transaction first folds the capture log into the
   * outbox, so `fn` sees every write captured before it.
   */
  write<T>(fn: () => T): T {
    if (this.db.inTransaction) return this.db.transaction(fn)();
    return this.db
      .transaction(() => {
        this.#fold();
        return fn();
      })
      .immediate();
  }

  /**
   * Folds the capture log into the outbox when it holds anything, for a read of the outbox outside a write
   * transaction (inside one, the transaction's start folded it).
   */
  settleCaptured(): void {
    if (!this.#logged || this.db.inTransaction) return;
    if (this.statement(ANY_CAPTURED_SQL).get() !== undefined) this.write(() => undefined);
  }

  /** Like {@link write}, and synced to disk before it returns, so it survives a power loss. */
  durableWrite<T>(fn: () => T): T {
    if (this.db.inTransaction) return this.write(fn);
    this.db.pragma('synchronous = FULL');
    try {
      return this.write(fn);
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  /**
   * Runs `fn` inside a write transaction with capture off: the rows it writes into synced tables are the
   * server's, not local changes. The flag is back to 0 before the commit, so no other connection sees it.
   */
  applying<T>(fn: () => T): T {
    return this.write(() => {
      const flag = this.statement('UPDATE _sync_apply_flag SET applying = ?');
      flag.run(1);
      try {
        return fn();
      } finally {
        flag.run(0);
      }
    });
  }

  getState(key: StateKey): string | null {
    return this.#state.getState(key);
  }

  /** Several state values in one query (absent keys map to `null`). */
  getStates<K extends StateKey>(keys: readonly K[]): Record<K, string | null> {
    return this.#state.getStates(keys);
  }

  /** Sets (or with `null`, removes) one state value. */
  setState(key: StateKey, value: string | null): void {
    if (value === null) this.statement('DELETE FROM _sync_state WHERE key = ?').run(key);
    else {
      this.statement(
        'INSERT INTO _sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ).run(key, value);
    }
  }

  /** The version of the schema the synced tables are at, or `null` before pairing. */
  schemaVersion(): number | null {
    const row = this.statement(
      "SELECT json_extract(value, '$.version') AS version FROM _sync_state WHERE key = ?",
    ).get(StateKey.schema) as { version: unknown } | undefined;
    return typeof row?.version === 'number' ? row.version : null;
  }

  /** The number of rows waiting to be pushed. */
  pendingCount(): number {
    this.settleCaptured();
    return this.#state.pendingCount();
  }

  close(): void {
    this.#statements.clear();
    if (this.db.open) this.db.close();
  }

  #fold(): void {
    if (this.#logged) foldCaptured((sql) => this.statement(sql));
  }

  #migrate(): void {
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS _sync_state (key TEXT PRIMARY KEY NOT NULL, value TEXT) WITHOUT ROWID',
    );
    const current = Number(this.getState(StateKey.storeVersion) ?? '0');
    if (current > MIGRATIONS.length) {
      throw new Error(
        `${this.dbPath} was written by a newer Tillsync (bookkeeping version ${current}); update this program`,
      );
    }
    for (let version = current + 1; version <= MIGRATIONS.length; version++) {
      this.write(() => {
        // Another process may have migrated between our read and our write lock.
        if (Number(this.getState(StateKey.storeVersion) ?? '0') >= version) return;
        const migration = MIGRATIONS[version - 1] ?? '';
        if (typeof migration === 'string') this.db.exec(migration);
        else migration(this);
        this.setState(StateKey.storeVersion, String(version));
      });
    }
  }
}

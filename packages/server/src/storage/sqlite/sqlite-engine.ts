import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely } from 'kysely';
import type { Database } from '../database.js';
import type { Durability, SqlEngine } from '../sql-engine.js';
import { TenantWriteBatches } from '../tenant-write-batches.js';
import { SqliteKyselyDialect, sqliteDialect } from './sqlite-dialect.js';

/**
 * The embedded engine: one SQLite file in WAL mode. Kysely's SQLite driver keeps a single connection, so
 * transactions in this process run one after another; `busy_timeout` covers other processes (the `admin`
 * commands) writing the same file.
 */
export function openSqliteEngine(filePath: string): SqlEngine {
  if (filePath !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(filePath)), { recursive: true });
  const database = new BetterSqlite3(filePath);
  // Pages of 16 KiB for a new file (an existing one keeps its own): a pull reads its page of rows through the
  // sequence index and finds each row in a shallower tree, and a push's rows fill fewer pages.
  database.pragma('page_size = 16384');
  database.pragma('journal_mode = WAL');
  // A page cache of 64 MiB instead of SQLite's 2 MiB: a push of 1,000 rows with random ids into a big tenant
  // touches some 1,000 leaf pages of 16 KiB, first to read the stored rows and then to write them; with the
  // default cache each is read from the file twice, and the tree's inner pages are read again and again
  // (BENCHMARKS.md, "Push ingest into a big tenant").
  database.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
  // FULL: every commit is synced to disk before it returns, so a push is on disk before its answer goes out.
  // With NORMAL a power cut may drop the commits since the last checkpoint, pushes the server has already
  // acknowledged among them: the device, having marked those rows clean, would never send them again
  // (BENCHMARKS.md, "Durability", gives the cost; the simulation's power cuts are the test). Only the job
  // store's own transitions commit lazily, at NORMAL (see `setDurability`).
  database.pragma(SYNCHRONOUS.synced);
  database.pragma('busy_timeout = 10000');
  database.pragma('foreign_keys = ON');
  const logWatch = filePath === ':memory:' ? null : new LogWatch(`${filePath}-wal`);
  const logSync = filePath === ':memory:' ? null : new LogSync(`${filePath}-wal`);
  const statements = new StatementCache(database);
  const arrayStatements = new StatementCache(database, (statement) => statement.raw(true));
  const db = new Kysely<Database>({
    dialect: new SqliteKyselyDialect({
      database: { prepare: (text) => statements.prepare(text), close: () => database.close() },
    }),
  });

  const runStatement = (text: string): void => void statements.prepare(text).run();
  const inTransaction = <T>(begin: string, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> =>
    db.connection().execute(async (connection) => {
      runStatement(begin);
      try {
        const result = await work(connection);
        runStatement('commit');
        return result;
      } catch (error) {
        runStatement('rollback');
        throw error;
      }
    });

  const write = <T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T> =>
    inTransaction('begin immediate', work);
  // One writer at a time on the file anyway: the tenant's lock is a no-op, and a batch shares one commit.
  const lockTenant = (): Promise<void> => Promise.resolve();
  const tenantWrites = new TenantWriteBatches({ write, lockTenant });
  return {
    kind: 'sqlite',
    db,
    dialect: sqliteDialect,
    write,
    tenantWrite: (tenantId, work, options) => tenantWrites.run(tenantId, work, options),
    read: (work) => inTransaction('begin', work),
    lockTenant,
    queryRowArrays: (query) => arrayStatements.prepare(query.sql).all(query.parameters) as unknown[][],
    runStatement,
    setDurability: (durability) => runStatement(`pragma ${SYNCHRONOUS[durability]}`),
    ...(logWatch ? { writeLockMayBeFree: (ms: number) => logWatch.change(ms) } : {}),
    syncLog: () => logSync?.sync() ?? Promise.resolve(),
    close: async () => {
      logWatch?.close();
      await logSync?.close();
      await db.destroy();
    },
  };
}

/** The page cache of the server's connection, in KiB. */
const PAGE_CACHE_KIB = 65_536;

/** The `synchronous` setting of each {@link Durability}: FULL syncs the log at every commit, NORMAL does not. */
const SYNCHRONOUS: Readonly<Record<Durability, string>> = {
  synced: 'synchronous = FULL',
  lazy: 'synchronous = NORMAL',
  // Committed unsynced; its writer then waits for a sync of the log (LogSync).
  'group-synced': 'synchronous = NORMAL',
};

/**
 * Syncs a database's write-ahead log with `fdatasync` on a descriptor of its own, in the thread pool: a sync
 * of a file writes out everything written to it, by any descriptor, so the commits made before the call are
 * on disk when it resolves, while the write lock is free for other writers and the event loop runs on. A call
 * made while a sync is under way may follow a commit that sync began before: it waits for the next sync,
 * which every call of that moment shares. The log is never removed while this process has the database open
 * (SQLite removes it at the last close), so the descriptor stays the log's; when there is no log yet,
 * everything committed is in the database file, which checkpoints sync.
 */
class LogSync {
  readonly #path: string;
  #fd: number | null = null;
  #running: Promise<void> | null = null;
  #next: Promise<void> | null = null;

  constructor(path: string) {
    this.#path = path;
  }

  sync(): Promise<void> {
    const running = this.#running;
    if (!running) return this.#start();
    const startNext = (): Promise<void> => {
      this.#next = null;
      return this.#start();
    };
    this.#next ??= running.then(startNext, startNext);
    return this.#next;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#running, this.#next]);
    if (this.#fd !== null) fs.closeSync(this.#fd);
    this.#fd = null;
  }

  #start(): Promise<void> {
    const run: Promise<void> = this.#datasync().finally(() => {
      if (this.#running === run) this.#running = null;
    });
    this.#running = run;
    return run;
  }

  #datasync(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#fd === null) {
        try {
          this.#fd = fs.openSync(this.#path, 'r');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return resolve();
          return reject(error instanceof Error ? error : new Error(String(error)));
        }
      }
      fs.fdatasync(this.#fd, (error) => (error ? reject(error) : resolve()));
    });
  }
}

/**
 * Watches a database's write-ahead log: every commit, of any process, writes to it before it lets go of
 * the write lock, so a change of the file is the moment to ask for the lock again. The watch starts when
 * first waited on; where the file cannot be watched, a wait is its timeout alone.
 */
class LogWatch {
  readonly #path: string;
  #watcher: fs.FSWatcher | null = null;
  #failed = false;
  readonly #waiting = new Set<() => void>();

  constructor(path: string) {
    this.#path = path;
  }

  /** Resolves at the log's next change, or after `ms`. */
  change(ms: number): Promise<void> {
    this.#watch();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiting.add(done);
    });
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = null;
    this.#endWaits();
  }

  #endWaits(): void {
    for (const done of [...this.#waiting]) done();
  }

  #watch(): void {
    if (this.#watcher || this.#failed) return;
    try {
      this.#watcher = fs.watch(this.#path, { persistent: false }, () => this.#endWaits());
      this.#watcher.on('error', () => {
        this.#watcher?.close();
        this.#watcher = null;
      });
    } catch {
      this.#failed = true;
    }
  }
}

/** How many prepared statements a connection keeps for reuse. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * Statements prepared once per text and reused: Kysely prepares every query it runs, and for the statements a
 * push runs each time, preparing cost as much as running. The least recently used statement is dropped when
 * the cache is full. Kysely runs one statement at a time on the connection, so a cached one is never in use
 * twice.
 */
class StatementCache {
  readonly #database: BetterSqlite3.Database;
  /** Sets up a statement once when it is prepared (such as its mode of answering rows). */
  readonly #setUp: (statement: BetterSqlite3.Statement) => void;
  readonly #statements = new Map<string, BetterSqlite3.Statement>();

  constructor(
    database: BetterSqlite3.Database,
    setUp: (statement: BetterSqlite3.Statement) => void = () => {},
  ) {
    this.#database = database;
    this.#setUp = setUp;
  }

  prepare(text: string): BetterSqlite3.Statement {
    let statement = this.#statements.get(text);
    if (statement) {
      this.#statements.delete(text);
    } else {
      statement = this.#database.prepare(text);
      this.#setUp(statement);
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        const oldest = this.#statements.keys().next();
        if (!oldest.done) this.#statements.delete(oldest.value);
      }
    }
    this.#statements.set(text, statement);
    return statement;
  }
}

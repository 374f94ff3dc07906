import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/**
 * Checkpoints the device file's write-ahead log from a thread of its own while the sync writes much (a first
 * sync, its search index built after): left to SQLite, the commit that finds the log past 1,000 pages copies
 * them into the file and syncs both to disk, tens of milliseconds on which the event loop, and a till's
 * write, wait (about every 300 rows a first sync writes). Here the sync's connection checkpoints nothing
 * (`wal_autocheckpoint` 0) and a worker thread, on a connection of its own, copies what the log holds a few
 * times a second (`PASSIVE`: it waits for no writer and no reader, and the writer goes on meanwhile), on the
 * other core. {@link stop} gives the connection its own checkpoints back.
 *
 * A checkpoint only copies committed pages into the file: a kill at any point loses nothing.
 */

/** How often the worker is asked to checkpoint while the sync writes. */
const CHECKPOINT_EVERY_MS = 50;
/**
 * The log's length, in pages, past which the connection checkpoints once itself. A log starts again from
 * its beginning only at a write transaction that begins with every page of it copied, which the worker's
 * checkpoints, taken while the sync goes on writing, never leave; the connection's own checkpoint, between
 * two of its writes, copies the few pages written since the worker's last (a millisecond or two) and lets
 * the next write start the log again. About 16 MB of log.
 */
const RESTART_AFTER_PAGES = 4096;
/** SQLite's own default, given back when the worker stops. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

/** The worker: one connection, a passive checkpoint for each message, `null` to end. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.dbPath, { fileMustExist: true });
parentPort.on('message', (message) => {
  if (message === null) {
    db.close();
    parentPort.close();
    return;
  }
  let pages = 0;
  try {
    pages = db.pragma('wal_checkpoint(PASSIVE)')[0].log;
  } catch {
    // A busy file or a closed one: the next request tries again, and stop() gives SQLite its own back.
  }
  parentPort.postMessage(pages);
});
`;

export class WalCheckpointer {
  readonly #db: Database.Database;
  readonly #worker: Worker;
  #busy = false;
  #lastAsked = 0;
  /** The log's length in pages, as the worker's last checkpoint found it. */
  #logPages = 0;

  private constructor(db: Database.Database, worker: Worker) {
    this.#db = db;
    this.#worker = worker;
    worker.on('message', (pages: number) => {
      this.#busy = false;
      this.#logPages = pages;
    });
    // A worker that fails leaves the log to grow until stop() gives the connection its checkpoints back.
    worker.on('error', () => {
      this.#busy = true;
    });
    // It must never keep the process alive.
    worker.unref();
  }

  /** Starts checkpointing `db`'s file from a worker thread; `db` stops checkpointing itself meanwhile. */
  static start(db: Database.Database): WalCheckpointer {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { dbPath: db.name, driver } });
    db.pragma('wal_autocheckpoint = 0');
    return new WalCheckpointer(db, worker);
  }

  /**
   * Asks for a checkpoint after a write, unless one is under way or was asked for a moment ago; checkpoints
   * once itself when the log has grown long. Call it outside a transaction.
   */
  wrote(): void {
    const now = performance.now();
    if (this.#busy) return;
    if (this.#logPages >= RESTART_AFTER_PAGES) {
      this.#logPages = 0;
      this.#db.pragma('wal_checkpoint(PASSIVE)');
    }
    if (now - this.#lastAsked < CHECKPOINT_EVERY_MS) return;
    this.#busy = true;
    this.#lastAsked = now;
    this.#worker.postMessage('checkpoint');
  }

  /** Gives the connection its own checkpoints back and ends the worker (its checkpoint under way ends first). */
  stop(): void {
    if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    this.#worker.postMessage(null);
  }
}

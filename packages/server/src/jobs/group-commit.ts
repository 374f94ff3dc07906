import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from '../storage/database.js';
import { runAgainOnConflict } from '../storage/conflicts.js';
import type { Durability, SqlEngine } from '../storage/sql-engine.js';

interface Pending {
  readonly work: (trx: Kysely<Database>) => Promise<unknown>;
  readonly durability: Durability;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** How one piece of work went. */
export type Outcome =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/** At most this many pieces of work share one transaction. */
const MAX_BATCH = 256;
/** How long it keeps asking for a write lock another process holds before it waits for it the blocking way. */
const LOCK_PATIENCE_MS = 10_000;
/** The longest pause between two asks for the write lock. */
const MAX_LOCK_PAUSE_MS = 4;

/**
 * Group commit: write transactions asked for while the last one ran, or while another process held the
 * file's write lock, run in ONE database transaction, each inside a savepoint of its own. A piece of work
 * that throws is rolled back to its savepoint alone (its writes vanish, the others' stay), so each keeps
 * the all-or-nothing of its own transaction, while many workers finishing jobs at once pay for one commit,
 * and on SQLite one round of the file lock that other processes wait on, instead of one each.
 *
 * The write lock is asked for without SQLite's busy handler, which sleeps with the event loop stopped: while
 * another process writes, this one goes on running jobs, and what they ask for meanwhile joins the batch. It
 * asks again as soon as the other's commit reaches the write-ahead log, rather than after a guessed pause, so
 * the lock is not left idle and a process that writes less often (the server, between workers) gets its turn.
 *
 * Each piece says how its commit must survive a power cut ({@link Durability}): any `synced` piece makes its
 * whole batch's commit synced; a batch of `lazy` and `group-synced` pieces commits unsynced, and its
 * `group-synced` pieces are answered after a sync of the log that follows the commit.
 *
 * Work must only use the database: it runs one after another on the shared connection. SQLite only (one
 * writer at a time anyway); on PostgreSQL each piece has its own transaction, synced, run again when the
 * database ends it to break a deadlock (so work must not keep what it did before its transaction commits).
 */
export class GroupCommit {
  readonly #engine: SqlEngine;
  #queue: Pending[] = [];
  #draining = false;
  /** The connection's own busy timeout, put back after each ask for the lock. */
  #busyTimeoutMs: number | null = null;

  /** Runs the statements that mark out a transaction at once, without Kysely: the lock is held for the work alone. */
  readonly #run: (text: string) => void;

  constructor(engine: SqlEngine) {
    this.#engine = engine;
    this.#run = engine.runStatement ?? notSqlite;
  }

  /**
   * Runs `work` in a transaction of its own or shared. `durability`: `lazy` only for writes that nobody is
   * told about and that are redone when a power cut drops them (a job's claim, start, end, renewal; a
   * schedule's tick); `group-synced` for a write whose result a client is told but that nobody else builds on
   * (an enqueue); anything that writes synced rows is `synced`.
   */
  run<T>(work: (trx: Kysely<Database>) => Promise<T>, durability: Durability = 'synced'): Promise<T> {
    // PostgreSQL runs transactions side by side: sharing one would only make them wait on each other's row
    // locks (and deadlock when two batches lock rows in different orders).
    if (!this.#engine.dialect.writeIsSerialised) return this.#writeAgainOnConflict(work);
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, durability, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#draining) {
        this.#draining = true;
        setImmediate(() => void this.#drain());
      }
    });
  }

  /**
   * One PostgreSQL transaction, run again when the database ended it for a deadlock or a serialization
   * failure: nothing of it was stored, and the work only uses the database, so running it again is safe.
   */
  #writeAgainOnConflict<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    return runAgainOnConflict(() => this.#engine.write(work));
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) await this.#commitNext();
    } finally {
      this.#draining = false;
      if (this.#queue.length > 0) {
        this.#draining = true;
        setImmediate(() => void this.#drain());
      }
    }
  }

  /** Takes the write lock, then the work queued by then, and commits it as one transaction. */
  async #commitNext(): Promise<void> {
    const run = this.#run;
    const deadline = Date.now() + LOCK_PATIENCE_MS;
    for (let asks = 0; ; asks++) {
      let batch: Pending[] = [];
      let outcomes: Outcome[] | null = null;
      try {
        outcomes = await this.#engine.db.connection().execute(async (connection) => {
          // The batch is what is queued when the transaction begins (nothing runs between here and there).
          const unsynced = this.#queue
            .slice(0, MAX_BATCH)
            .every((pending) => pending.durability !== 'synced');
          if (unsynced) this.#setDurability('lazy');
          try {
            if (!this.#begin(run, Date.now() > deadline)) return null;
            batch = this.#queue.splice(0, MAX_BATCH);
            try {
              const done = await runPieces(run, connection, batch);
              run('commit');
              return done;
            } catch (error) {
              run('rollback');
              throw error;
            }
          } finally {
            // The connection's other writers (pushes) commit synced.
            if (unsynced) this.#setDurability('synced');
          }
        });
      } catch (error) {
        // The shared commit failed: nothing of any piece was stored.
        for (const pending of batch.length > 0 ? batch : this.#queue.splice(0, MAX_BATCH))
          pending.reject(error);
        return;
      }
      if (outcomes) {
        this.#answer(batch, outcomes);
        return;
      }
      // Another process writes: ask again when its commit is written, or soon, and run other work meanwhile.
      const pause = Math.min(MAX_LOCK_PAUSE_MS, 1 + asks / 4) * (0.5 + Math.random());
      await (this.#engine.writeLockMayBeFree?.(pause) ??
        new Promise((resolve) => setTimeout(resolve, pause)));
    }
  }

  /**
   * Answers each piece of a committed batch: at once, except the `group-synced` pieces of a batch that did not
   * commit synced, which are answered when the log's sync that follows the commit is done. The next batch
   * does not wait for that sync: it begins at once, and its own `group-synced` pieces share the next sync.
   */
  #answer(batch: readonly Pending[], outcomes: readonly Outcome[]): void {
    const settle = (pending: Pending, index: number): void => {
      const outcome = outcomes[index];
      if (outcome?.ok) pending.resolve(outcome.value);
      else pending.reject(outcome ? outcome.error : new Error('the work did not run'));
    };
    const synced = batch.some((pending) => pending.durability === 'synced');
    const waiting: Array<[Pending, number]> = [];
    batch.forEach((pending, index) => {
      if (pending.durability === 'group-synced' && !synced) waiting.push([pending, index]);
      else settle(pending, index);
    });
    if (waiting.length === 0) return;
    void (this.#engine.syncLog?.() ?? Promise.resolve()).then(
      () => {
        for (const [pending, index] of waiting) settle(pending, index);
      },
      (error: unknown) => {
        for (const [pending] of waiting) pending.reject(error);
      },
    );
  }

  #setDurability(durability: Durability): void {
    this.#engine.setDurability?.(durability);
  }

  /**
   * Begins a write transaction if the lock is free now (false if another process holds it). `wait`: the
   * blocking way, with the connection's busy timeout, for when asking has gone on too long.
   */
  #begin(run: (text: string) => void, wait: boolean): boolean {
    if (wait) {
      run('begin immediate');
      return true;
    }
    this.#busyTimeoutMs ??= this.#readBusyTimeout();
    run('pragma busy_timeout = 0');
    try {
      run('begin immediate');
      return true;
    } catch (error) {
      if (isBusy(error)) return false;
      throw error;
    } finally {
      run(`pragma busy_timeout = ${this.#busyTimeoutMs}`);
    }
  }

  #readBusyTimeout(): number {
    const read = this.#engine.queryRowArrays ?? notSqlite;
    return Number(read(CompiledQuery.raw('pragma busy_timeout'))[0]?.[0] ?? 0);
  }
}

/** Runs each piece in a savepoint of its own (a lone piece needs none: its error rolls the whole back). */
async function runPieces(
  run: (text: string) => void,
  connection: Kysely<Database>,
  batch: readonly Pending[],
): Promise<Outcome[]> {
  const only = batch.length === 1 ? batch[0] : undefined;
  if (only) return [{ ok: true, value: await only.work(connection) }];
  const outcomes: Outcome[] = [];
  for (const [index, pending] of batch.entries()) {
    const name = `job_work_${index}`;
    run(`savepoint ${name}`);
    try {
      const value = await pending.work(connection);
      run(`release savepoint ${name}`);
      outcomes.push({ ok: true, value });
    } catch (error) {
      run(`rollback to savepoint ${name}`);
      run(`release savepoint ${name}`);
      outcomes.push({ ok: false, error });
    }
  }
  return outcomes;
}

function notSqlite(): never {
  throw new Error('a group commit runs on SQLite, whose engine runs statements at once');
}

function isBusy(error: unknown): boolean {
  return errorCode(error)?.startsWith('SQLITE_BUSY') ?? false;
}

function errorCode(error: unknown): string | null {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : null;
}

interface Asked<Ask, Answer> {
  readonly ask: Ask;
  readonly resolve: (answer: Answer) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Asks of the same moment (claims of BullMQ deliveries, ends of jobs that write nothing) answered together
 * by one piece of work in one write: the asks wait until that write begins, so those made while the last
 * one ran, or while another process held the lock, are answered by a few statements for all of them. The
 * answers are given once it has committed; if it fails, every ask it took fails with it.
 */
export class SharedWrite<Ask, Answer> {
  readonly #write: <T>(work: (trx: Kysely<Database>) => Promise<T>) => Promise<T>;
  readonly #answer: (trx: Kysely<Database>, asks: readonly Ask[]) => Promise<Answer[]>;
  readonly #waiting: Array<Asked<Ask, Answer>> = [];

  constructor(
    write: <T>(work: (trx: Kysely<Database>) => Promise<T>) => Promise<T>,
    answer: (trx: Kysely<Database>, asks: readonly Ask[]) => Promise<Answer[]>,
  ) {
    this.#write = write;
    this.#answer = answer;
  }

  ask(ask: Ask): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      this.#waiting.push({ ask, resolve, reject });
      if (this.#waiting.length > 1) return;
      let taken: Array<Asked<Ask, Answer>> | null = null;
      this.#write((trx) => {
        // A write run again (PostgreSQL ended it for a conflict) answers the asks it took the first time.
        taken ??= this.#waiting.splice(0);
        return this.#answer(
          trx,
          taken.map((waiting) => waiting.ask),
        );
      }).then(
        (answers) => {
          for (const [index, waiting] of (taken ?? []).entries()) {
            const answer = answers[index];
            if (answer === undefined)
              waiting.reject(new Error('the shared write gave no answer to this ask'));
            else waiting.resolve(answer);
          }
        },
        (error: unknown) => {
          // Asks made after the write began wait for a write of their own.
          for (const waiting of taken ?? this.#waiting.splice(0)) waiting.reject(error);
        },
      );
    });
  }
}

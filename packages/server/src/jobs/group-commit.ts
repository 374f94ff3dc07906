import { sql, type Kysely } from 'kysely';
import type { Database } from '../storage/database.js';
import type { SqlEngine } from '../storage/sql-engine.js';

interface Pending {
  readonly work: (trx: Kysely<Database>) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** At most this many pieces of work share one transaction. */
const MAX_BATCH = 64;

/**
 * Group commit: write transactions asked for in the same turn of the event loop run in ONE database
 * transaction, each inside a savepoint of its own. A piece of work that throws is rolled back to its
 * savepoint alone (its writes vanish, the others' stay), so each keeps the all-or-nothing of its own
 * transaction, while many workers finishing jobs at once pay for one commit, and on SQLite one round of
 * the file lock that other processes wait on, instead of one each.
 *
 * Work must only use the database: it runs one after another on the shared connection. SQLite only (one
 * writer at a time anyway); on PostgreSQL each piece has its own transaction.
 */
export class GroupCommit {
  readonly #engine: SqlEngine;
  #queue: Pending[] = [];
  #scheduled = false;

  constructor(engine: SqlEngine) {
    this.#engine = engine;
  }

  run<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    // PostgreSQL runs transactions side by side: sharing one would only make them wait on each other's row
    // locks (and deadlock when two batches lock rows in different orders).
    if (this.#engine.kind === 'postgres') return this.#engine.write(work);
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue.splice(0, MAX_BATCH);
    if (this.#queue.length > 0) setImmediate(() => void this.#flush());
    else this.#scheduled = false;
    if (batch.length === 1) {
      const only = batch[0] as Pending;
      await this.#engine.write(only.work).then(only.resolve, only.reject);
      return;
    }
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      await this.#engine.write(async (trx) => {
        for (const [index, pending] of batch.entries()) {
          const name = sql.raw(`job_work_${index}`);
          await sql`savepoint ${name}`.execute(trx);
          try {
            const value = await pending.work(trx);
            await sql`release savepoint ${name}`.execute(trx);
            outcomes.push({ ok: true, value });
          } catch (error) {
            await sql`rollback to savepoint ${name}`.execute(trx);
            await sql`release savepoint ${name}`.execute(trx);
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The shared commit failed: nothing of any piece was stored.
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok) pending.resolve(outcome.value);
      else pending.reject(outcome ? outcome.error : new Error('the work did not run'));
    });
  }
}

import type { Kysely } from 'kysely';
import type { Database } from './database.js';
import { runAgainOnConflict } from './conflicts.js';

/** At most this many pieces of work share one transaction. */
const MAX_BATCH = 64;

/** What the batches run on: the engine's write transactions and its lock of a tenant. */
export interface BatchEngine {
  write<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  lockTenant(trx: Kysely<Database>, tenantId: string): Promise<void>;
}

/**
 * What the pieces of one transaction of {@link TenantWriteBatches} share: writes left to the end of the
 * transaction, made once for every piece (a push's answer, the jobs it triggers), and what a piece keeps
 * there for the pieces after it. A piece alone has one of its own.
 */
export class WriteBatch {
  readonly #slots = new Map<object, unknown>();
  readonly #beforeCommit: Array<() => Promise<void>> = [];
  readonly #reads: ReadonlyMap<object, readonly unknown[]>;

  /** `reads`: what the pieces said they read first ({@link TenantWriteOptions.reads}), by kind. */
  constructor(reads: ReadonlyMap<object, readonly unknown[]> = new Map()) {
    this.#reads = reads;
  }

  /**
   * What the pieces of this transaction said they read first, of the kind `key`, in their order: a piece
   * may read them all at once for every piece (one round trip under the lock instead of one each).
   */
  readsOf<T>(key: object): readonly T[] {
    return (this.#reads.get(key) ?? []) as readonly T[];
  }

  /** What is kept under `key` for this transaction, made by `make` on first use. */
  slot<T>(key: object, make: () => T): T {
    if (!this.#slots.has(key)) this.#slots.set(key, make());
    return this.#slots.get(key) as T;
  }

  /** Runs `write` in the transaction after every piece has run, before it commits. */
  beforeCommit(write: () => Promise<void>): void {
    this.#beforeCommit.push(write);
  }

  /** The writes left to the end, in the order they were asked for. */
  async finish(): Promise<void> {
    for (const write of this.#beforeCommit.splice(0)) await write();
  }
}

/** A piece of work of a tenant's write transaction. */
export type TenantWork<T> = (trx: Kysely<Database>, batch: WriteBatch) => Promise<T>;

/** How a piece of work waits for its turn. */
export interface TenantWriteOptions {
  /**
   * Aborted when whoever asked has stopped waiting (a device's push whose connection closed): work whose
   * signal is aborted before its turn comes is not run (it rejects with the signal's reason).
   */
  readonly signal?: AbortSignal;
  /**
   * Ahead of the work queued without it (a job's end, which holds the job's claim and which the pushes that
   * triggered it wait for): which of two writers that wait side by side goes first is not given by anything
   * else, so putting one first changes no outcome a sequence of them could not have had.
   */
  readonly first?: boolean;
  /** What the work reads first, of a kind (`key`): the batch hands them all to its pieces (`readsOf`). */
  readonly reads?: { readonly key: object; readonly value: unknown };
}

interface Pending {
  readonly work: TenantWork<unknown>;
  readonly signal: AbortSignal | undefined;
  readonly first: boolean;
  readonly reads: TenantWriteOptions['reads'];
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit of a tenant's locked writes (its pushes, and on PostgreSQL its jobs' commits): the work asked
 * for while the tenant's last transaction ran is run, one piece after the other in the order asked, in ONE
 * transaction that takes the tenant's lock once (`SqlEngine.lockTenant`) and commits once. Each piece
 * sees the writes of the pieces before it, and takes its sequence numbers after theirs, exactly as if each
 * had had a transaction of its own in that order; each is answered on its own once the whole has committed.
 *
 * Every turn of the lock costs its round trips (begin, the lock, commit), and while it is held every other
 * writer of the tenant (in this process and the others) waits: a busy tenant's writes are bound by how long
 * each holds it, so sharing the turn is what lets a chain's pushes keep up. A piece that fails makes the
 * database roll the whole transaction back: then every piece of that batch is run again in a transaction
 * of its own, in the same order, so the failure is its piece's alone and the others' outcomes are those
 * they would have had (work must therefore only use the database, or be harmless to run twice).
 */
export class TenantWriteBatches {
  readonly #engine: BatchEngine;
  /** The work waiting per tenant; a tenant is here while its queue is drained. */
  readonly #queues = new Map<string, Pending[]>();

  constructor(engine: BatchEngine) {
    this.#engine = engine;
  }

  /**
   * Runs `work` in a write transaction that holds the tenant's lock, shared with the work queued beside it.
   * Work whose signal is aborted before its turn is not run: a push whose device stopped waiting would only
   * hold the lock for an answer nobody reads, while the device's retry of the same pushId, queued behind it,
   * is judged in its place.
   */
  run<T>(tenantId: string, work: TenantWork<T>, options: TenantWriteOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        work,
        signal: options.signal,
        first: options.first === true,
        reads: options.reads,
        resolve: resolve as (value: unknown) => void,
        reject,
      };
      const queue = this.#queues.get(tenantId);
      if (queue) {
        const behind = pending.first ? queue.findIndex((waiting) => !waiting.first) : -1;
        if (behind === -1) queue.push(pending);
        else queue.splice(behind, 0, pending);
        return;
      }
      this.#queues.set(tenantId, [pending]);
      void this.#drain(tenantId);
    });
  }

  async #drain(tenantId: string): Promise<void> {
    const queue = this.#queues.get(tenantId) ?? [];
    try {
      while (queue.length > 0) {
        const batch: Pending[] = [];
        while (batch.length < MAX_BATCH && queue.length > 0) {
          const pending = queue.shift()!;
          if (pending.signal?.aborted === true) pending.reject(pending.signal.reason);
          else batch.push(pending);
        }
        if (batch.length > 0) await this.#runBatch(tenantId, batch);
      }
    } finally {
      this.#queues.delete(tenantId);
    }
  }

  /** Runs a batch in one transaction, or, if that fails, each of its pieces in one of its own. Never throws. */
  async #runBatch(tenantId: string, batch: readonly Pending[]): Promise<void> {
    if (batch.length > 1) {
      let values: unknown[] | null = null;
      try {
        values = await this.#engine.write(async (trx) => {
          await this.#engine.lockTenant(trx, tenantId);
          const reads = new Map<object, unknown[]>();
          for (const { reads: read } of batch)
            if (read) reads.set(read.key, [...(reads.get(read.key) ?? []), read.value]);
          const shared = new WriteBatch(reads);
          const done: unknown[] = [];
          for (const pending of batch) done.push(await pending.work(trx, shared));
          await shared.finish();
          return done;
        });
      } catch {
        // Nothing of the batch was stored: each piece runs again alone, below.
      }
      if (values !== null) {
        batch.forEach((pending, index) => pending.resolve(values[index]));
        return;
      }
    }
    for (const pending of batch) {
      try {
        pending.resolve(await this.#writeAlone(tenantId, pending.work));
      } catch (error) {
        pending.reject(error);
      }
    }
  }

  /** One piece in a transaction of its own, run again when the database ended it for a conflict. */
  #writeAlone(tenantId: string, work: Pending['work']): Promise<unknown> {
    return runAgainOnConflict(() =>
      this.#engine.write(async (trx) => {
        await this.#engine.lockTenant(trx, tenantId);
        const own = new WriteBatch();
        const value = await work(trx, own);
        await own.finish();
        return value;
      }),
    );
  }
}

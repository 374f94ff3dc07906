import { ProtocolError, type SyncSchema } from '@tillsync/protocol';
import { OfflineError } from '../errors.js';
import type { CycleCounts } from './cycle-counts.js';
import { ALL_TABLES, type CycleRemote, type CycleStore } from './cycle-store.js';
import { PullPager, type PageSizes, type PullEnd } from './pull-pager.js';
import { PushJournal } from './push-journal.js';
import { TableRepairs } from './table-repairs.js';

/** What the steps of one cycle are asked to do (`SyncCycleRequest` adds why the cycle runs). */
export interface CycleRunRequest {
  /** Skip the push ("Force pull"): pending rows stay pending. */
  readonly pullOnly?: boolean;
  /** With `pullOnly`: replace the pending rows by the server's, setting the local versions aside. */
  readonly discardLocal?: boolean;
  /**
   * Stops the cycle at its next step or request (a worker being stopped). What it committed stays; it ends
   * with the outcome `stopped`. A token refresh on the wire is let finish, or the session would be lost.
   */
  readonly signal?: AbortSignal;
}

/** Options for {@link CycleRun}. */
export interface CycleRunOptions {
  readonly store: CycleStore;
  readonly remote: CycleRemote;
  readonly request: CycleRunRequest;
  /** Where the steps count what they did. */
  readonly counts: CycleCounts;
  /** Keeps the cycle's lease alive; called between two pushes and two pages. */
  readonly heartbeat: () => void;
  readonly now: () => number;
  readonly pushBatchSize: number;
  readonly pageSizes: PageSizes;
  readonly applyBatchSize: number;
}

/**
 * The steps of one cycle, in their order, over the cycle's store port and remote:
 *
 *   health + schema (+ the first pull page when nothing is to be pushed) ─▶ resend the push left in flight
 *   ─▶ push the pending rows ─▶ pull pages (or a resync that was due) ─▶ [discard-local] ─▶ due repairs
 *   (left unfinished, or the tables of deletes the server refused)
 *   ─▶ compare checksums and repair
 *
 * A first sync ends here, with its rows in: the search indexes it left to build are built after the cycle
 * (`index-build.ts`), and a search meanwhile finds what it would with them whole.
 */
export class CycleRun {
  readonly #store: CycleStore;
  readonly #remote: CycleRemote;
  readonly #request: CycleRunRequest;
  readonly #journal: PushJournal;
  readonly #pager: PullPager;
  readonly #repairs: TableRepairs;
  /** The protocol the server speaks, from its health answer. */
  #serverProtocol = 1;

  constructor(options: CycleRunOptions) {
    const { store, remote, counts, heartbeat } = options;
    const signal = options.request.signal;
    this.#store = store;
    this.#remote = remote;
    this.#request = options.request;
    this.#pager = new PullPager({
      remote,
      counts,
      pageSizes: options.pageSizes,
      applyBatchSize: options.applyBatchSize,
      knowsTable: (table) => store.knowsTable(table),
      // A page names a table the device does not know: the server's schema changed during the cycle.
      refreshSchema: async () => store.useSchema(await this.#fetchSchema()),
      heartbeat,
      signal,
      othersWrote: () => store.othersWrote(),
    });
    this.#repairs = new TableRepairs({ store, pager: this.#pager, counts });
    this.#journal = new PushJournal({
      store,
      remote,
      counts,
      batchSize: options.pushBatchSize,
      now: options.now,
      heartbeat,
      signal,
      columnLevel: () => this.#serverProtocol >= 2,
      pullAhead: {
        start: (received) => {
          if (this.#repairs.due() !== ALL_TABLES) this.#pager.prefetch(store.cursor(), received);
        },
        drop: () => this.#pager.dropPrefetched(),
      },
    });
  }

  /** Runs the steps; throws the first failure (what was committed before it stays). */
  async run(): Promise<void> {
    const { pullOnly = false, discardLocal = false, signal } = this.#request;
    await this.#connect();
    // Even a force pull first settles a push left on the wire: its answer says which counter deltas the
    // server already has, which the pull's merge must know.
    const unfinished = this.#repairs.due();
    await this.#journal.resendInFlight();
    if (!pullOnly) await this.#journal.pushPending();
    // The push adds the tables of the deletes the server refused and the device gave up (`apply-push.ts`).
    const due = this.#repairs.due();
    const end = due === ALL_TABLES ? await this.#repairs.resync('resumed') : await this.#pull();
    signal?.throwIfAborted();
    if (pullOnly && discardLocal) await this.#repairs.discardLocal();
    if (due instanceof Set && due.size > 0) {
      const resumed = new Set([...due].filter((table) => unfinished instanceof Set && unfinished.has(table)));
      const restored = new Set([...due].filter((table) => !resumed.has(table)));
      if (resumed.size > 0) await this.#repairs.repair(resumed, 'resumed');
      if (restored.size > 0) await this.#repairs.repair(restored, 'refused-delete');
    }
    if (end.checksums) await this.#repairs.compareChecksums(end.checksums);
  }

  /**
   * The health check, the schema and, when nothing is to be pushed first, the first pull page are asked
   * for together: an idle cycle waits for one round trip, not three. The health check's failure is the one
   * reported (the others fail with it when the server is down).
   */
  async #connect(): Promise<void> {
    const schema = this.#fetchSchema();
    if (this.#canPullFirst()) this.#pager.prefetch(this.#store.cursor());
    try {
      await this.#health();
      this.#store.useSchema(await schema);
    } catch (error) {
      // No request outlives its cycle: the schema and the first page settle (their outcome unused) first.
      await Promise.allSettled([schema, this.#pager.dropPrefetched()]);
      throw error;
    }
  }

  async #health(): Promise<void> {
    try {
      this.#serverProtocol = await this.#remote.health();
    } catch (error) {
      // A server that answers its health check with an error is as unusable as one that does not answer.
      if (error instanceof ProtocolError && error.status >= 500) {
        throw new OfflineError(
          '/api/sync/health',
          `The server is not available (health answered HTTP ${error.status})`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Asks for the server's schema; a failure is handled where the answer is awaited. */
  #fetchSchema(): Promise<SyncSchema> {
    const answer = this.#remote.schema();
    answer.catch(() => {});
    return answer;
  }

  /**
   * Whether the pull may start before the push: no push is on the wire, nothing is pending (or the cycle
   * only pulls), and no resync is due.
   */
  #canPullFirst(): boolean {
    const pending = this.#request.pullOnly !== true && this.#store.hasPending();
    return !this.#store.hasStoredPush() && !pending && this.#repairs.due() !== ALL_TABLES;
  }

  /** Pulls pages from the device's cursor until `hasMore` is false; a `410` turns into a fresh snapshot. */
  async #pull(): Promise<PullEnd> {
    // A fresh snapshot brings the rows that exist as it begins, not the deletes made before (PROTOCOL.md
    // §2). One begun again from the start in a file that holds rows of the server (a first sync stopped
    // before its first page was in) sweeps the rows it did not bring, as a resync does.
    if (this.#store.cursor() === '' && this.#store.holdsServerRows()) return this.#repairs.resync('resumed');
    const first = this.#store.cursor() === '';
    if (first) this.#store.beginFirstPull();
    let end: PullEnd;
    try {
      end = await this.#pager.pages(this.#store.cursor(), (changes, cursor, storeId) =>
        this.#store.applyPage(changes, cursor === undefined ? {} : { cursor, storeId }),
      );
    } catch (error) {
      if (first) this.#store.endFirstPull();
      if (error instanceof ProtocolError && error.code === 'RESYNC_REQUIRED') {
        return this.#repairs.resync('resync');
      }
      throw error;
    }
    if (first) this.#store.endFirstPull();
    return end;
  }
}

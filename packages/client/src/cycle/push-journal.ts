import { ProtocolError, type PushResponse } from '@tillsync/protocol';
import { v7 as uuidv7 } from 'uuid';
import { sentKey } from '../outbox.js';
import { nextTurn, noteConflicts, type CycleCounts } from './cycle-counts.js';
import type { CycleRemote, PushJournalStore, StoredPush } from './cycle-store.js';

/** The first pull page, asked for as soon as the last push is answered (see {@link PushJournal.pushPending}). */
export interface PullAhead {
  /**
   * Asks for the first pull page now, when the pull may start. `received`: the rows of the push the server
   * has just committed, whose answer the device applies while the page is on the wire; they are no longer
   * pending, though the device's count still holds them until that answer is applied.
   */
  start(received: number): void;
  /** Lets go of a page asked for early, once its request has settled, so the pull asks again. */
  drop(): Promise<void>;
}

/** Options for {@link PushJournal}. */
export interface PushJournalOptions {
  readonly store: PushJournalStore;
  readonly remote: Pick<CycleRemote, 'push'>;
  /** Where the pushed, conflicting and rejected changes are counted. */
  readonly counts: CycleCounts;
  /**
   * The most changes in one push; halved for the rest of the cycle when the server finds a push too large.
   * @defaultValue 1000
   */
  readonly batchSize?: number;
  /** @defaultValue `Date.now` */
  readonly now?: () => number;
  /** Called between two pushes: the cycle's lease stays alive through a long push. */
  readonly heartbeat?: () => void;
  /** Stops the push between two requests. */
  readonly signal?: AbortSignal | undefined;
  /** The pull that may be asked for while the last push's answer is applied. */
  readonly pullAhead?: PullAhead;
  /**
   * Whether the server takes column-level writes (protocol 2; see `NextPushRequest.columnLevel`), asked as
   * each push is built.
   * @defaultValue always
   */
  readonly columnLevel?: () => boolean;
}

const NO_PULL_AHEAD: PullAhead = { start: () => {}, drop: () => Promise.resolve() };

/**
 * The push step: pending rows go out in bounded batches, each stored in the journal before it is sent and
 * deleted in the transaction that applies its answer; a push a crash left behind is resent first, with the
 * same pushId and bytes, so the server applies it once whatever was lost.
 */
export class PushJournal {
  readonly #store: PushJournalStore;
  readonly #remote: Pick<CycleRemote, 'push'>;
  readonly #counts: CycleCounts;
  readonly #now: () => number;
  readonly #heartbeat: () => void;
  readonly #signal: AbortSignal | undefined;
  readonly #pullAhead: PullAhead;
  readonly #columnLevel: () => boolean;
  #batchSize: number;

  constructor(options: PushJournalOptions) {
    this.#store = options.store;
    this.#remote = options.remote;
    this.#counts = options.counts;
    this.#batchSize = Math.max(1, options.batchSize ?? 1000);
    this.#now = options.now ?? Date.now;
    this.#heartbeat = options.heartbeat ?? (() => {});
    this.#signal = options.signal;
    this.#pullAhead = options.pullAhead ?? NO_PULL_AHEAD;
    this.#columnLevel = options.columnLevel ?? (() => true);
  }

  /** Resends a push whose answer a crash or a lost connection kept from being applied, with the same pushId. */
  async resendInFlight(): Promise<void> {
    for (const push of this.#store.storedPushes()) {
      const answer = await this.#post(push);
      if (answer === 'too-large') this.#batchSize = Math.max(1, Math.floor(this.#batchSize / 2));
      else this.#confirm(push, answer);
    }
  }

  /**
   * Pushes the pending rows in bounded batches, parents before children; each row once per cycle, and no
   * more rows than were pending when the push began: a till writing faster than a push round trip would
   * otherwise keep the cycle pushing its new rows and never let it pull. Later rows go in the next cycle.
   *
   * One push is on the wire at a time, and the next is sent only once the server has answered this one, so
   * the server commits them in order. The device's work overlaps the server's: the next push is built and
   * stored while this one is on the wire, and this one's answer is applied while the next one (or, after
   * the last push, the first pull page) is on the wire.
   */
  async pushPending(): Promise<void> {
    // Nothing pending: no push, and no write transaction to find that out.
    if (!this.#store.hasPending()) return;
    // A till wrote while the first page was asked for: that page, and its checksums, come from before this
    // push, so the pull starts again after it (push before pull, always).
    await this.#pullAhead.drop();
    const sent = new Set<string>();
    const pendingAtStart = this.#store.pendingCount();
    this.#signal?.throwIfAborted();
    let push = this.#storeNext(sent, pendingAtStart);
    let answer = push && this.#post(push);
    while (push && answer) {
      let next: StoredPush | null = null;
      let response: PushResponse | 'too-large';
      try {
        // A turn first, so the request is written before the next push is built.
        await nextTurn();
        this.#signal?.throwIfAborted();
        this.#heartbeat();
        next = this.#storeNext(sent, pendingAtStart);
        response = await answer;
      } catch (error) {
        await answer.catch(() => undefined);
        // Never sent: its rows go out again in a later push, after this one's.
        if (next) this.#unstore(next, sent);
        throw error;
      }
      if (response === 'too-large') {
        if (next) this.#unstore(next, sent);
        this.#tooLarge(push, sent);
        push = this.#storeNext(sent, pendingAtStart);
        answer = push && this.#post(push);
        continue;
      }
      // The server has committed this push: the next one may go, or else the pull may start.
      const following = next && this.#post(next);
      if (!following) this.#pullAhead.start(committedRows(response));
      try {
        this.#confirm(push, response);
      } catch (error) {
        await Promise.allSettled([following, this.#pullAhead.drop()]);
        throw error;
      }
      push = next;
      answer = following;
    }
  }

  /**
   * Builds the next batch of pending rows into a push and stores it in the journal, before it is sent.
   * `null` when nothing is left to push in this cycle.
   */
  #storeNext(sent: Set<string>, pendingAtStart: number): StoredPush | null {
    if (sent.size >= pendingAtStart) return null;
    return this.#store.storeNextPush({
      sent,
      maxChanges: this.#batchSize,
      createdAt: new Date(this.#now()).toISOString(),
      columnLevel: this.#columnLevel(),
      encode: (changes) => {
        const pushId = uuidv7();
        return { pushId, body: JSON.stringify({ pushId, changes }) };
      },
    });
  }

  /** Drops a stored push that was never sent; its rows are pending as before, to go in a later push. */
  #unstore(push: StoredPush, sent: Set<string>): void {
    this.#store.dropPush(push);
    for (const cover of push.covers) sent.delete(sentKey(cover.table, cover.id));
  }

  /** The server refused a push as too large: a single row is marked with the error, else smaller pushes. */
  #tooLarge(push: StoredPush, sent: Set<string>): void {
    const [only] = push.covers;
    if (push.covers.length === 1 && only) {
      const message = 'This row is larger than the server accepts in one push; make it smaller';
      this.#store.markRejected(only.table, only.id, 'PAYLOAD_TOO_LARGE', message);
      this.#counts.rejected.push({ table: only.table, id: only.id, code: 'PAYLOAD_TOO_LARGE', message });
    } else {
      // Nothing of it was stored: send its rows again, in smaller pushes.
      this.#batchSize = Math.max(1, Math.floor(push.covers.length / 2));
      for (const cover of push.covers) sent.delete(sentKey(cover.table, cover.id));
    }
  }

  /**
   * Sends one stored push. An answer that says nothing was stored (400, 413, or another refusal of the
   * request as a whole) drops the stored push: its rows are still pending and go out in a later push. A
   * lost answer, a 5xx or an auth failure keeps it, to be resent as it is.
   */
  #post(push: StoredPush): Promise<PushResponse | 'too-large'> {
    const answer = this.#postOnce(push);
    // Handled where it is awaited; this keeps a failure while the device works meanwhile from counting as
    // unhandled.
    answer.catch(() => {});
    return answer;
  }

  async #postOnce(push: StoredPush): Promise<PushResponse | 'too-large'> {
    try {
      return await this.#remote.push(push.body);
    } catch (error) {
      if (error instanceof ProtocolError && refusedWhole(error.status)) {
        this.#store.dropPush(push);
        if (error.status === 413) return 'too-large';
      }
      throw error;
    }
  }

  /** Applies a push's answer (and deletes the stored push, in the same transaction). */
  #confirm(push: StoredPush, response: PushResponse): void {
    const outcome = this.#store.confirmPush(push, response);
    this.#counts.pushed += outcome.pushed;
    noteConflicts(this.#counts, outcome.conflictRows);
    this.#counts.rejected.push(...outcome.rejected);
  }
}

/** The rows a push's answer took: the rejected ones stay pending. */
function committedRows(response: PushResponse): number {
  return response.results.filter((result) => result.status !== 'rejected').length;
}

/** Answers that refuse a push as a whole, with nothing stored: the stored push can be dropped. */
function refusedWhole(status: number): boolean {
  return status >= 400 && status < 500 && status !== 401 && status !== 408 && status !== 429;
}

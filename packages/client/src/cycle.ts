import {
  DEFAULT_PULL_LIMIT,
  MAX_PULL_LIMIT,
  ProtocolError,
  formatChecksum,
  type PullResponse,
  type PushResponse,
  type SyncSchema,
  type TableChecksum,
} from '@tillsync/protocol';
import { v7 as uuidv7 } from 'uuid';
import { PullApplier, type ApplierParts } from './apply-pull.js';
import { applyPushAnswer, type RejectedRow } from './apply-push.js';
import { ConflictLog } from './conflicts.js';
import { CycleLease } from './cycle-lease.js';
import { AuthError, NotPairedError, OfflineError, SyncBusyError } from './errors.js';
import { LocalClock } from './local-clock.js';
import { applyLocalSchema, readLocalSchema } from './local-schema.js';
import { StateKey, type LocalStore } from './local-store.js';
import { Outbox, sentKey, type PushCover } from './outbox.js';
import { ServerRows } from './server-rows.js';
import { DeviceSession, readCredentials } from './session.js';
import {
  SyncLog,
  type SyncLogEntry,
  type SyncMode,
  type SyncOutcome,
  type SyncTrigger,
  type TableRepair,
} from './sync-log.js';
import { SyncedTables } from './synced-tables.js';
import type { DeviceCallContext, Transport } from './transport.js';

/**
 * One sync cycle (PROTOCOL.md §2, DESIGN.md "The cycle"):
 *
 *   lease ─▶ health (5 s) ─▶ schema ─▶ resend the push left in flight ─▶ push batches ─▶ pull pages ─▶
 *   [discard-local] ─▶ repairs ─▶ checksums ─▶ stamp the outcome
 *
 * Push before pull, always: a pull applied over unpushed rows would have to guess which counter deltas the
 * server has. Every step commits as it goes, so a process killed anywhere loses nothing:
 * - a push is stored with its `pushId` before it is sent, and its answer applied in the transaction that
 *   deletes it; one left behind is resent first, with the same `pushId` and bytes;
 * - a pull page and its cursor commit together;
 * - a repair is noted as due before it starts, and done again until it ends.
 */

/** The answer of `tillsync sync` (PROTOCOL.md §4). */
export interface SyncSummary {
  readonly ok: boolean;
  readonly trigger: SyncTrigger;
  /** Changes the server took (applied, or answered with its own newer version). */
  readonly pushed: number;
  /** Server changes applied to the device. */
  readonly pulled: number;
  /** Local versions that lost to a later write (kept in the conflict log). */
  readonly conflicts: number;
  /** Changes the server refused; they stay pending with their error. */
  readonly rejected: number;
  readonly durationMs: number;
  /** Why the cycle failed, or `null`. */
  readonly error: string | null;
}

/** What a cycle is asked to do. */
export interface SyncCycleRequest {
  readonly trigger: SyncTrigger;
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

/** The error of a cycle stopped by its signal. */
export const STOPPED_MESSAGE =
  'Sync was stopped before this cycle finished; the next cycle goes on from here';

/** Options for {@link SyncCycle}. */
export interface SyncCycleOptions {
  readonly store: LocalStore;
  readonly transport: Transport;
  /** @defaultValue `Date.now` */
  readonly now?: () => number;
  /**
   * The most changes in one push.
   * @defaultValue 1000
   */
  readonly pushBatchSize?: number;
  /**
   * The page size asked of the server (which may cap it lower).
   * @defaultValue 1000; for a snapshot (a first sync, a repair) the most the protocol allows, 5000, since
   * the server's work per page is what bounds a first sync
   */
  readonly pullPageSize?: number;
  /**
   * The most pulled changes applied in one transaction; the event loop is free between two, so a till's
   * write waits for at most one of them. Slices start at 250 changes and are sized to take a few
   * milliseconds each, up to this.
   * @defaultValue 2000
   */
  readonly applyBatchSize?: number;
}

/** Counts of one cycle, filled as it goes. */
interface CycleCounts {
  pushed: number;
  pulled: number;
  conflicts: number;
  rejected: RejectedRow[];
  repairs: TableRepair[];
}

/** The page sizes asked of the server: from a cursor, and from the start (a snapshot). */
interface PageSizes {
  readonly regular: number;
  readonly snapshot: number;
}

/** A push stored in `_sync_push`: what is sent, and what its answer is applied to. */
interface StoredPush {
  readonly pushId: string;
  readonly body: string;
  readonly covers: readonly PushCover[];
}

/** The last page of a pull, or of a snapshot. */
interface PullEnd {
  readonly checksums: Readonly<Record<string, TableChecksum>> | undefined;
}

const EMPTY_CHECKSUM: TableChecksum = { count: 0, sum: formatChecksum(0n) };
const ALL_TABLES = '*';

/**
 * Runs one cycle on a device file. It never throws for a failed cycle: the result says how it ended, and the
 * outcome is stored for the status and appended to the sync log. A separate object from the `SyncClient`,
 * so that a background worker can run cycles on its own schedule.
 */
export class SyncCycle {
  readonly #store: LocalStore;
  readonly #transport: Transport;
  readonly #now: () => number;
  readonly #pushBatchSize: number;
  readonly #pageSizes: PageSizes;
  readonly #applyBatchSize: number;
  readonly #clock: LocalClock;
  readonly #log: SyncLog;
  /** The parts for the device's schema, kept across cycles: their statements are prepared once. */
  readonly #parts = new PartsCache();

  constructor(options: SyncCycleOptions) {
    this.#store = options.store;
    this.#transport = options.transport;
    this.#now = options.now ?? Date.now;
    this.#pushBatchSize = Math.max(1, options.pushBatchSize ?? 1000);
    const pageSize = options.pullPageSize === undefined ? undefined : Math.max(1, options.pullPageSize);
    this.#pageSizes = {
      regular: pageSize ?? DEFAULT_PULL_LIMIT,
      snapshot: pageSize ?? MAX_PULL_LIMIT,
    };
    this.#applyBatchSize = Math.max(1, options.applyBatchSize ?? 2000);
    this.#clock = new LocalClock(this.#store, this.#now);
    this.#log = new SyncLog(this.#store);
  }

  /** Runs the cycle and returns its log entry (the summary is {@link toSummary} of it). */
  async run(request: SyncCycleRequest): Promise<SyncLogEntry> {
    const started = this.#now();
    const mode: SyncMode = !request.pullOnly ? 'sync' : request.discardLocal ? 'discard-local' : 'pull-only';
    const counts: CycleCounts = { pushed: 0, pulled: 0, conflicts: 0, rejected: [], repairs: [] };
    const lease = new CycleLease(this.#store, this.#now);
    const finish = (outcome: SyncOutcome, error: string | null, errorCode: string | null): SyncLogEntry => ({
      trigger: request.trigger,
      mode,
      startedAt: new Date(started).toISOString(),
      durationMs: Math.max(0, Math.round(this.#now() - started)),
      ok: error === null,
      outcome,
      pushed: counts.pushed,
      pulled: counts.pulled,
      conflicts: counts.conflicts,
      rejected: counts.rejected,
      repairs: counts.repairs,
      error,
      errorCode,
    });
    const failed = (error: unknown): SyncLogEntry =>
      request.signal?.aborted
        ? finish('stopped', STOPPED_MESSAGE, 'STOPPED')
        : finish(outcomeOf(error), messageOf(error), codeOf(error));

    try {
      await lease.acquire(5000, request.signal);
    } catch (error) {
      // Another process's cycle owns the status and the log; this one only reports why it did not run.
      if (error instanceof SyncBusyError) return finish('error', error.message, codeOf(error));
      if (request.signal?.aborted) return failed(error);
      throw error;
    }
    let entry: SyncLogEntry;
    try {
      await this.#cycle(request, counts, lease);
      entry = finish('synced', null, null);
    } catch (error) {
      entry = failed(error);
    }
    try {
      // The lease ends in the transaction that stamps the outcome: one commit, not two.
      this.#store.write(() => {
        this.#log.append(entry);
        this.#store.setState(StateKey.lastOutcome, entry.outcome);
        this.#store.setState(StateKey.lastError, entry.error ?? rejectionNote(counts.rejected));
        if (entry.ok) this.#store.setState(StateKey.lastSyncedAt, new Date(this.#now()).toISOString());
        lease.release();
      });
    } catch (error) {
      lease.release();
      throw error;
    }
    return entry;
  }

  async #health(signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.#transport.health(signal);
    } catch (error) {
      // A server that answers its health check with an error is as unusable as one that does not answer.
      if (error instanceof ProtocolError && error.status >= 500) {
        throw new OfflineError(
          '/api/sync/health',
          `The server is not available (health answered HTTP ${error.status})`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }

  async #cycle(request: SyncCycleRequest, counts: CycleCounts, lease: CycleLease): Promise<void> {
    if (!readCredentials(this.#store)) throw new NotPairedError(this.#store.dbPath);
    const signal = request.signal;
    const session = new DeviceSession(this.#store, this.#transport, this.#now);
    const run = new CycleRun(this.#store, this.#transport, session, this.#clock, lease, counts, this.#parts, {
      now: this.#now,
      pushBatchSize: this.#pushBatchSize,
      pageSizes: this.#pageSizes,
      applyBatchSize: this.#applyBatchSize,
      signal,
    });
    // The health check, the schema and, when nothing is to be pushed first, the first pull page are asked
    // for together: an idle cycle waits for one round trip, not three. The health check's failure is the
    // one reported (the others fail with it when the server is down).
    const schema = run.fetchSchema();
    if (run.canPullFirst(request.pullOnly === true)) run.prefetchPull();
    try {
      await this.#health(signal);
      run.useSchema(await schema);
    } catch (error) {
      // No request outlives its cycle: the schema and the first page settle (their outcome unused) first.
      await Promise.allSettled([schema, run.dropPrefetchedPull()]);
      throw error;
    }
    // Even a force pull first settles a push left on the wire: its answer says which counter deltas the
    // server already has, which the pull's merge must know.
    await run.resendInFlightPushes();
    if (!request.pullOnly) await run.push();
    const due = run.dueRepairs();
    const end = due === ALL_TABLES ? await run.resync('resumed') : await run.pull();
    signal?.throwIfAborted();
    if (request.pullOnly && request.discardLocal) await run.discardLocal();
    if (due instanceof Set && due.size > 0) await run.repair(due, 'resumed');
    if (end.checksums) await run.compareChecksums(end.checksums);
  }
}

/** The summary of a cycle as `tillsync sync` prints it. */
export function toSummary(entry: SyncLogEntry): SyncSummary {
  return {
    ok: entry.ok,
    trigger: entry.trigger,
    pushed: entry.pushed,
    pulled: entry.pulled,
    conflicts: entry.conflicts,
    rejected: entry.rejected.length,
    durationMs: entry.durationMs,
    error: entry.error,
  };
}

/** The applier and its parts for one schema, made again only when the device's schema changes. */
class PartsCache {
  #schemaJson: string | null = null;
  #parts: ApplierParts | null = null;
  #applier: PullApplier | null = null;

  get(
    store: LocalStore,
    clock: LocalClock,
    now: () => number,
  ): { parts: ApplierParts; applier: PullApplier } {
    const json = store.getState(StateKey.schema);
    if (!this.#parts || !this.#applier || json !== this.#schemaJson) {
      const schema = readLocalSchema(store);
      if (!schema) throw new Error(`${store.dbPath} has no schema yet: pair it first`);
      this.#parts = {
        store,
        schema,
        tables: new SyncedTables(store, schema),
        outbox: new Outbox(store),
        serverRows: new ServerRows(store),
        conflicts: new ConflictLog(store, now),
        clock,
      };
      this.#applier = new PullApplier(this.#parts);
      this.#schemaJson = json;
    }
    return { parts: this.#parts, applier: this.#applier };
  }
}

/** The steps of one cycle, sharing its session, parts and counts. */
class CycleRun {
  readonly #store: LocalStore;
  readonly #transport: Transport;
  readonly #session: DeviceSession;
  readonly #clock: LocalClock;
  readonly #lease: CycleLease;
  readonly #counts: CycleCounts;
  readonly #partsCache: PartsCache;
  readonly #now: () => number;
  readonly #pageSizes: PageSizes;
  readonly #applyBatchSize: number;
  readonly #signal: AbortSignal | undefined;
  #pushBatchSize: number;
  #parts!: ApplierParts;
  #applier!: PullApplier;
  /** Tables taken from a snapshot in this cycle: their state is past the regular cursor's. */
  readonly #repaired = new Set<string>();
  /** The first pull page, asked for before the push when there was nothing to push. */
  #prefetched: { readonly since: string; readonly page: Promise<PullResponse> } | null = null;

  constructor(
    store: LocalStore,
    transport: Transport,
    session: DeviceSession,
    clock: LocalClock,
    lease: CycleLease,
    counts: CycleCounts,
    partsCache: PartsCache,
    settings: {
      now: () => number;
      pushBatchSize: number;
      pageSizes: PageSizes;
      applyBatchSize: number;
      signal: AbortSignal | undefined;
    },
  ) {
    this.#partsCache = partsCache;
    this.#store = store;
    this.#transport = transport;
    this.#session = session;
    this.#clock = clock;
    this.#lease = lease;
    this.#counts = counts;
    this.#now = settings.now;
    this.#pushBatchSize = settings.pushBatchSize;
    this.#pageSizes = settings.pageSizes;
    this.#signal = settings.signal;
    this.#applyBatchSize = settings.applyBatchSize;
  }

  /** An authenticated call, cut short when the cycle is stopped. */
  #call<T>(fn: (context: DeviceCallContext) => Promise<T>): Promise<T> {
    return this.#session.call(fn, this.#signal);
  }

  /** Fetches the server's schema and, when its version differs from the device's, migrates the device file. */
  async refreshSchema(): Promise<void> {
    this.useSchema(await this.fetchSchema());
  }

  /** Asks for the server's schema; a failure is handled where the answer is awaited. */
  fetchSchema(): Promise<SyncSchema> {
    const answer = this.#call((context) => this.#transport.schema(context));
    answer.catch(() => {});
    return answer;
  }

  /** Migrates the device file to the server's schema when its version differs, and takes its parts. */
  useSchema(remote: SyncSchema): void {
    const local = this.#store.getState(StateKey.schema);
    const localVersion = local === null ? null : (JSON.parse(local) as { version?: unknown }).version;
    if (localVersion !== remote.version) applyLocalSchema(this.#store, remote);
    ({ parts: this.#parts, applier: this.#applier } = this.#partsCache.get(
      this.#store,
      this.#clock,
      this.#now,
    ));
  }

  /**
   * Whether the pull may start before the push: no push is on the wire, nothing is pending (or the cycle
   * only pulls), and no resync is due.
   */
  canPullFirst(pullOnly: boolean): boolean {
    const inFlight = this.#store.statement('SELECT 1 FROM _sync_push LIMIT 1').get() !== undefined;
    const pending =
      !pullOnly && this.#store.statement('SELECT 1 FROM _sync_pending LIMIT 1').get() !== undefined;
    return !inFlight && !pending && this.dueRepairs() !== ALL_TABLES;
  }

  /** Asks for the first pull page now, from the device's cursor; {@link pull} takes it from there. */
  prefetchPull(): void {
    const since = this.#store.getState(StateKey.cursor) ?? '';
    this.#prefetched = { since, page: this.#fetchPage(since, this.#pageSizeFrom(since)) };
  }

  /** Lets go of the first page asked for early, once its request has settled, so the pull asks again. */
  async dropPrefetchedPull(): Promise<void> {
    const prefetched = this.#prefetched;
    this.#prefetched = null;
    await prefetched?.page.catch(() => undefined);
  }

  /** Resends a push whose answer a crash or a lost connection kept from being applied, with the same pushId. */
  async resendInFlightPushes(): Promise<void> {
    const inFlight = this.#store
      .statement('SELECT push_id, body, covers FROM _sync_push ORDER BY created_at, push_id')
      .all() as {
      push_id: string;
      body: string;
      covers: string;
    }[];
    for (const stored of inFlight) {
      const push = {
        pushId: stored.push_id,
        body: stored.body,
        covers: JSON.parse(stored.covers) as PushCover[],
      };
      const answer = await this.#post(push);
      if (answer === 'too-large') this.#pushBatchSize = Math.max(1, Math.floor(this.#pushBatchSize / 2));
      else this.#applyAnswer(push, answer);
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
  async push(): Promise<void> {
    const { outbox } = this.#parts;
    // Nothing pending: no push, and no write transaction to find that out.
    if (!outbox.any()) return;
    // A till wrote while the first page was asked for: that page, and its checksums, come from before this
    // push, so the pull starts again after it (push before pull, always).
    await this.dropPrefetchedPull();
    const sent = new Set<string>();
    const pendingAtStart = outbox.count();
    this.#signal?.throwIfAborted();
    let push = this.#storePush(sent, pendingAtStart);
    let answer = push && this.#post(push);
    while (push && answer) {
      let next: StoredPush | null = null;
      let response: PushResponse | 'too-large';
      try {
        // A turn first, so the request is written before the next push is built.
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.#signal?.throwIfAborted();
        this.#lease.heartbeat();
        next = this.#storePush(sent, pendingAtStart);
        response = await answer;
      } catch (error) {
        await answer.catch(() => undefined);
        // Never sent: its rows go out again in a later push, after this one's.
        if (next) this.#unstorePush(next, sent);
        throw error;
      }
      if (response === 'too-large') {
        if (next) this.#unstorePush(next, sent);
        this.#tooLarge(push, sent);
        push = this.#storePush(sent, pendingAtStart);
        answer = push && this.#post(push);
        continue;
      }
      // The server has committed this push: the next one may go, or else the pull may start.
      const following = next && this.#post(next);
      if (!following && this.dueRepairs() !== ALL_TABLES) this.prefetchPull();
      try {
        this.#applyAnswer(push, response);
      } catch (error) {
        await Promise.allSettled([following, this.dropPrefetchedPull()]);
        throw error;
      }
      push = next;
      answer = following;
    }
  }

  /**
   * Reads the next batch of pending rows and stores it as a push in `_sync_push`, before it is sent (and
   * synced to disk: a push the server applied but this device forgot would be rebuilt with a new pushId and
   * its counter deltas added twice). `null` when nothing is left to push in this cycle.
   */
  #storePush(sent: Set<string>, pendingAtStart: number): StoredPush | null {
    if (sent.size >= pendingAtStart) return null;
    const { outbox, schema } = this.#parts;
    const size = this.#pushBatchSize;
    return this.#store.durableWrite(() => {
      const batch = outbox.nextBatch(schema, sent, size);
      if (batch.changes.length === 0) return null;
      const pushId = uuidv7();
      const body = JSON.stringify({ pushId, changes: batch.changes });
      this.#store
        .statement('INSERT INTO _sync_push (push_id, body, covers, created_at) VALUES (?, ?, ?, ?)')
        .run(pushId, body, JSON.stringify(batch.covers), new Date(this.#now()).toISOString());
      return { pushId, body, covers: batch.covers };
    });
  }

  /** Drops a stored push that was never sent; its rows are pending as before, to go in a later push. */
  #unstorePush(push: StoredPush, sent: Set<string>): void {
    this.#dropStoredPush(push);
    for (const cover of push.covers) sent.delete(sentKey(cover.table, cover.id));
  }

  #dropStoredPush(push: StoredPush): void {
    this.#store.write(() => {
      this.#store.statement('DELETE FROM _sync_push WHERE push_id = ?').run(push.pushId);
      this.#parts.outbox.endPush(push.covers);
    });
  }

  /** The server refused a push as too large: a single row is marked with the error, else smaller pushes. */
  #tooLarge(push: StoredPush, sent: Set<string>): void {
    const [only] = push.covers;
    if (push.covers.length === 1 && only) {
      const message = 'This row is larger than the server accepts in one push; make it smaller';
      this.#store.write(() => this.#parts.outbox.setError(only.table, only.id, 'PAYLOAD_TOO_LARGE', message));
      this.#counts.rejected.push({ table: only.table, id: only.id, code: 'PAYLOAD_TOO_LARGE', message });
    } else {
      // Nothing of it was stored: send its rows again, in smaller pushes.
      this.#pushBatchSize = Math.max(1, Math.floor(push.covers.length / 2));
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
      return await this.#call((context) => this.#transport.push(push.body, context));
    } catch (error) {
      if (error instanceof ProtocolError && refusedWhole(error.status)) {
        this.#dropStoredPush(push);
        if (error.status === 413) return 'too-large';
      }
      throw error;
    }
  }

  /** Applies a push's answer (and deletes the stored push, in the same transaction). */
  #applyAnswer(push: StoredPush, response: PushResponse): void {
    const outcome = applyPushAnswer(this.#parts, this.#applier, push.pushId, push.covers, response);
    this.#counts.pushed += outcome.pushed;
    this.#counts.conflicts += outcome.conflicts;
    this.#counts.rejected.push(...outcome.rejected);
  }

  /** The repairs a crash left unfinished: every table (a resync), some tables, or none. */
  dueRepairs(): Set<string> | typeof ALL_TABLES {
    const json = this.#store.getState(StateKey.repairsDue);
    const due = json === null ? [] : (JSON.parse(json) as string[]);
    return due.includes(ALL_TABLES) ? ALL_TABLES : new Set(due);
  }

  /** Pulls pages from the device's cursor until `hasMore` is false; a `410` turns into a fresh snapshot. */
  async pull(): Promise<PullEnd> {
    try {
      return await this.#pages(this.#store.getState(StateKey.cursor) ?? '', (changes, cursor) =>
        this.#applier.applyPage(changes, cursor === undefined ? {} : { cursor }),
      );
    } catch (error) {
      if (error instanceof ProtocolError && error.code === 'RESYNC_REQUIRED') return this.resync('resync');
      throw error;
    }
  }

  /** Takes every table again from a fresh snapshot, keeping the unsent rows, and moves the cursor to its end. */
  async resync(reason: TableRepair['reason']): Promise<PullEnd> {
    this.#markDue([ALL_TABLES]);
    await this.#snapshot(new Set(this.#parts.schema.tables.map((table) => table.name)), reason, true);
    // The snapshot compared its own checksums.
    return { checksums: undefined };
  }

  /** Takes some tables again from a fresh snapshot, keeping their unsent rows. */
  async repair(tables: ReadonlySet<string>, reason: TableRepair['reason']): Promise<void> {
    this.#markDue([...tables]);
    await this.#snapshot(tables, reason, false);
  }

  /**
   * Compares the last page's checksums with the device's, for the tables with nothing left to push (a
   * pending row makes a table differ until it is pushed), and repairs the tables that differ.
   */
  async compareChecksums(checksums: Readonly<Record<string, TableChecksum>>): Promise<void> {
    const { schema, outbox, serverRows } = this.#parts;
    const pendingTables = outbox.tablesWithPending();
    const differing = new Set<string>();
    for (const table of schema.tables) {
      if (pendingTables.has(table.name) || this.#repaired.has(table.name)) continue;
      const server = checksums[table.name] ?? EMPTY_CHECKSUM;
      const local = serverRows.checksum(table.name);
      if (server.count !== local.count || server.sum !== local.sum) differing.add(table.name);
    }
    if (differing.size > 0) await this.repair(differing, 'checksum');
  }

  /**
   * Force pull with discard-local: every pending row is set aside (`_sync_set_aside`) and dropped from the
   * outbox, then the tables it was in are taken again from a fresh snapshot, which restores the server's
   * rows and removes local rows the server never had.
   */
  async discardLocal(): Promise<void> {
    const { outbox, tables, schema, conflicts } = this.#parts;
    const affected = this.#store.write(() => {
      const names = new Set<string>();
      for (const pending of outbox.list(Number.MAX_SAFE_INTEGER)) {
        const table = schema.table(pending.table);
        conflicts.setAside({
          table: pending.table,
          rowId: pending.id,
          op: pending.op,
          values: table && pending.op === 'upsert' ? tables.read(table, pending.id) : null,
          stamp: pending.stamp,
          errorCode: pending.errorCode,
          errorMessage: pending.errorMessage,
        });
        outbox.remove(pending.table, pending.id);
        names.add(pending.table);
      }
      // Noted in the same transaction: until the snapshot has restored them, these rows hold discarded values.
      this.#markDue([...names]);
      return names;
    });
    if (affected.size > 0) await this.#snapshot(affected, 'discard-local', false);
  }

  #markDue(tables: readonly string[]): void {
    const json = this.#store.getState(StateKey.repairsDue);
    const due = new Set(json === null ? [] : (JSON.parse(json) as string[]));
    for (const table of tables) due.add(table);
    this.#store.setState(StateKey.repairsDue, JSON.stringify([...due]));
  }

  /**
   * Pulls a fresh snapshot (from the empty cursor) and applies the changes of `targets` only, noting the live
   * rows it contains; then, in one transaction, removes the rows of those tables that the server does not
   * have (unless they are pending), recomputes their checksums, compares them with the snapshot's, and
   * clears the repair from the due list. The regular cursor moves only when every table was taken.
   */
  async #snapshot(
    targets: ReadonlySet<string>,
    reason: TableRepair['reason'],
    everyTable: boolean,
  ): Promise<void> {
    const store = this.#store;
    store.db.exec(
      'CREATE TEMP TABLE IF NOT EXISTS _sync_seen (tbl TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (tbl, id)) WITHOUT ROWID',
    );
    store.db.exec('DELETE FROM temp._sync_seen');
    let finalCursor = '';
    const end = await this.#pages('', (changes, cursor) => {
      if (cursor !== undefined) finalCursor = cursor;
      return this.#applier.applyPage(changes, { only: targets, noteSeen: true });
    });
    const { serverRows, schema } = this.#parts;
    const repairs = store.applying(() => {
      const results: TableRepair[] = [];
      for (const table of targets) {
        if (!schema.table(table)) continue;
        this.#sweep(table);
        const local = serverRows.recompute(table);
        const server = end.checksums?.[table] ?? EMPTY_CHECKSUM;
        results.push({
          table,
          reason,
          matched: end.checksums === undefined || (local.count === server.count && local.sum === server.sum),
        });
        this.#repaired.add(table);
      }
      if (everyTable) {
        store.setState(StateKey.cursor, finalCursor);
        store.setState(StateKey.repairsDue, null);
      } else {
        const json = store.getState(StateKey.repairsDue);
        const due = (json === null ? [] : (JSON.parse(json) as string[])).filter(
          (table) => !targets.has(table),
        );
        store.setState(StateKey.repairsDue, due.length > 0 ? JSON.stringify(due) : null);
      }
      return results;
    });
    store.db.exec('DELETE FROM temp._sync_seen');
    this.#counts.repairs.push(...repairs);
  }

  /** After a snapshot: the rows of `table` the snapshot did not have are not on the server. */
  #sweep(table: string): void {
    const store = this.#store;
    const t = `"${table}"`;
    const notSeen = (alias: string): string =>
      `NOT EXISTS (SELECT 1 FROM temp._sync_seen AS s WHERE s.tbl = @table AND s.id = ${alias}.id)`;
    store.db
      .prepare(
        `DELETE FROM ${t} WHERE ${notSeen(t)} AND NOT EXISTS (SELECT 1 FROM _sync_pending AS p WHERE p.tbl = @table AND p.id = ${t}.id)`,
      )
      .run({ table });
    // A pending upsert of a row the server lacks recreates it, counters as starting values.
    store.db
      .prepare(
        `UPDATE _sync_pending SET base = NULL WHERE tbl = @table AND op = 'upsert' AND ${notSeen('_sync_pending')}`,
      )
      .run({ table });
    store.db
      .prepare(
        `DELETE FROM _sync_pending WHERE tbl = @table AND op = 'delete' AND ${notSeen('_sync_pending')}`,
      )
      .run({ table });
    store.db.prepare(`DELETE FROM _sync_rows WHERE tbl = @table AND ${notSeen('_sync_rows')}`).run({ table });
  }

  /**
   * Pulls pages from `since` until `hasMore` is false, applying each with `apply`. The next page is asked for
   * while this one is applied (its cursor is known as soon as this page arrives), and the event loop gets a
   * turn between pages so the app embedding the client stays responsive.
   */
  async #pages(
    since: string,
    apply: (
      changes: PullResponse['changes'],
      cursor: string | undefined,
    ) => { applied: number; conflicts: number },
  ): Promise<PullEnd> {
    const slicer = new SliceSizer(this.#applyBatchSize);
    const prefetched = this.#prefetched;
    this.#prefetched = null;
    const limit = this.#pageSizeFrom(since);
    let next = prefetched?.since === since ? prefetched.page : this.#fetchPage(since, limit);
    for (;;) {
      const page = await next;
      if (page.changes.some((change) => !this.#parts.schema.table(change.table))) await this.#schemaChanged();
      if (page.hasMore) next = this.#fetchPage(page.cursor, limit);
      // A page is applied in slices, the event loop free between them, so the app's own writes never wait
      // for a whole page. The cursor moves with the last slice: a crash in between pulls the page again, and
      // a change applied twice leaves the row, its stamp and the checksums as once.
      // The first slice waits a turn too: the page was parsed and checked in the turn that brought it.
      for (let start = 0; start < page.changes.length || start === 0;) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.#signal?.throwIfAborted();
        const end = Math.min(page.changes.length, start + slicer.size);
        const last = end === page.changes.length;
        const began = performance.now();
        const outcome = apply(page.changes.slice(start, end), last ? page.cursor : undefined);
        slicer.took(end - start, performance.now() - began);
        this.#counts.pulled += outcome.applied;
        this.#counts.conflicts += outcome.conflicts;
        if (last) break;
        start = end;
      }
      if (!page.hasMore) return { checksums: page.checksums };
      this.#lease.heartbeat();
    }
  }

  /** The page size of a pull from `since`: a snapshot takes the largest pages. */
  #pageSizeFrom(since: string): number {
    return since === '' ? this.#pageSizes.snapshot : this.#pageSizes.regular;
  }

  /** Asks for one pull page. */
  #fetchPage(since: string, limit: number): Promise<PullResponse> {
    const page = this.#call((context) => this.#transport.pull(since, limit, context));
    // Handled where it is awaited; this keeps a failure while the previous page is applied (or while the
    // health check is answered) from counting as unhandled.
    page.catch(() => {});
    return page;
  }

  /** A page names a table the device does not know: the server's schema changed during the cycle. */
  async #schemaChanged(): Promise<void> {
    await this.refreshSchema();
  }
}

/** How long one slice of a pull page should hold the write lock and the event loop. */
const SLICE_BUDGET_MS = 5;
/** The size of a page's first slice. */
const FIRST_SLICE_SIZE = 250;
/** The least a slice shrinks to on a slow machine: below it, commits would cost more than the rows. */
const MIN_SLICE_SIZE = 50;

/**
 * Sizes the slices a pull page is applied in, so that each takes about {@link SLICE_BUDGET_MS}: a sale
 * waits for one slice at most, while a large first sync commits as rarely as that allows (a commit per 250
 * rows costs about a quarter more than one per 1,000). Never more than `max` changes in one slice.
 */
class SliceSizer {
  readonly #max: number;
  size: number;

  constructor(max: number) {
    this.#max = max;
    this.size = Math.min(FIRST_SLICE_SIZE, max);
  }

  /** Notes that a slice of `count` changes took `ms`; the next slice is sized from its rate. */
  took(count: number, ms: number): void {
    if (count < this.size) return;
    const fitting = Math.floor((count * SLICE_BUDGET_MS) / Math.max(ms, 0.1));
    // Grows at most fourfold per slice, so one fast slice (a page of deletes) cannot make the next too long.
    this.size = Math.max(Math.min(MIN_SLICE_SIZE, this.#max), Math.min(this.#max, fitting, this.size * 4));
  }
}

/** Answers that refuse a push as a whole, with nothing stored: the stored push can be dropped. */
function refusedWhole(status: number): boolean {
  return status >= 400 && status < 500 && status !== 401 && status !== 408 && status !== 429;
}

function outcomeOf(error: unknown): SyncOutcome {
  return error instanceof OfflineError ? 'offline' : 'error';
}

/** The failure as a code for the log and the worker (see `SyncLogEntry.errorCode`). */
function codeOf(error: unknown): string {
  if (error instanceof AuthError) return error.code;
  if (error instanceof OfflineError) return 'OFFLINE';
  if (error instanceof NotPairedError) return 'NOT_PAIRED';
  if (error instanceof SyncBusyError) return 'SYNC_BUSY';
  if (error instanceof ProtocolError) return error.code;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code) ? code : 'INTERNAL';
}

function messageOf(error: unknown): string {
  if (error instanceof AuthError || error instanceof OfflineError || error instanceof NotPairedError)
    return error.message;
  if (error instanceof ProtocolError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

function rejectionNote(rejected: readonly RejectedRow[]): string | null {
  const [first] = rejected;
  if (!first) return null;
  const count = rejected.length === 1 ? '1 change was' : `${rejected.length} changes were`;
  return `${count} rejected by the server and stay pending; ${first.table} ${first.id}: ${first.message} (${first.code})`;
}

import { ProtocolError, type SyncSummary } from '@tillsync/protocol';
import type { RejectedRow } from './apply-push.js';
import { CycleLease } from './cycle-lease.js';
import { emptyCycleCounts, type CycleCounts } from './cycle/cycle-counts.js';
import { CycleRun, type CycleRunRequest } from './cycle/cycle-run.js';
import { IndexBuild } from './cycle/index-build.js';
import { pageSizesFor, type PageSizes } from './cycle/pull-pager.js';
import { SessionRemote } from './cycle/session-remote.js';
import { SqliteCycleStore } from './cycle/sqlite-cycle-store.js';
import { AuthError, NotPairedError, OfflineError, SyncBusyError } from './errors.js';
import { LocalClock } from './local-clock.js';
import { StateKey, type LocalStore } from './local-store.js';
import { readCredentials } from './device-state.js';
import { DeviceSession } from './session.js';
import { SyncLog, type SyncLogEntry, type SyncMode, type SyncOutcome, type SyncTrigger } from './sync-log.js';
import type { Transport } from './transport.js';

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
 *
 * This file holds the lease and the outcome; the steps live in `cycle/`, one file each, over the store port
 * in `cycle/cycle-store.ts` (implemented on the device file by `cycle/sqlite-cycle-store.ts`):
 * `cycle-run.ts` (their order), `push-journal.ts`, `pull-pager.ts` (with `slice-sizer.ts`) and
 * `table-repairs.ts`; a pulled page is applied by `apply-pull.ts`, a push's answer by `apply-push.ts`.
 */

/** The answer of `tillsync sync` (PROTOCOL.md §4): the device agent API's own type. */
export type { SyncSummary };

/** What a cycle is asked to do: what its steps are asked (see {@link CycleRunRequest}), and why it runs. */
export interface SyncCycleRequest extends CycleRunRequest {
  readonly trigger: SyncTrigger;
}

/** What a cycle has done so far, while it runs: rows pushed and rows pulled (applied) yet. */
export interface SyncProgress {
  readonly pushed: number;
  readonly pulled: number;
  /**
   * The rows a first sync (a fresh snapshot) brings in all, as the server said when it began (deletes it
   * still keeps come on top, so `pulled` may pass it); null for any other pull.
   */
  readonly expected: number | null;
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
  readonly #log: SyncLog;
  /** The device file as the cycle's steps see it, kept across cycles: its statements are prepared once. */
  readonly #cycleStore: SqliteCycleStore;
  /** The counts of the cycle running now, as its steps fill them. */
  #running: CycleCounts | null = null;

  constructor(options: SyncCycleOptions) {
    this.#store = options.store;
    this.#transport = options.transport;
    this.#now = options.now ?? Date.now;
    this.#pushBatchSize = Math.max(1, options.pushBatchSize ?? 1000);
    this.#pageSizes = pageSizesFor(options.pullPageSize);
    this.#applyBatchSize = Math.max(1, options.applyBatchSize ?? 2000);
    const clock = new LocalClock(this.#store, this.#now);
    this.#cycleStore = new SqliteCycleStore({ store: this.#store, clock, now: this.#now });
    this.#log = new SyncLog(this.#store);
  }

  /** What the cycle running now has done so far (rows pushed, rows pulled), or `null` when none runs. */
  get progress(): SyncProgress | null {
    const counts = this.#running;
    return counts && { pushed: counts.pushed, pulled: counts.pulled, expected: counts.expectedPulled };
  }

  /** Runs the cycle and returns its log entry (the summary is {@link toSummary} of it). */
  async run(request: SyncCycleRequest): Promise<SyncLogEntry> {
    const counts: CycleCounts = emptyCycleCounts();
    this.#running = counts;
    try {
      return await this.#run(request, counts);
    } finally {
      this.#running = null;
    }
  }

  async #run(request: SyncCycleRequest, counts: CycleCounts): Promise<SyncLogEntry> {
    const started = this.#now();
    const mode: SyncMode = !request.pullOnly ? 'sync' : request.discardLocal ? 'discard-local' : 'pull-only';
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
      conflictRows: counts.conflictRows,
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
    } finally {
      this.#cycleStore.endCycle();
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

  /**
   * Builds the search indexes a first sync left to build (`search-build.ts`), a short step at a time, until
   * they are whole or `signal` stops it; resolves with whether one is left to build. Not a step of the
   * cycle, and outside its lease: each step is a write transaction of its own that reads where the build
   * stands, so it may run beside another process's cycle. Run it when no cycle runs in this process.
   */
  async buildSearchIndexes(signal?: AbortSignal): Promise<boolean> {
    if (!this.#cycleStore.useLocalSchema()) return false;
    try {
      return await new IndexBuild({ store: this.#cycleStore, signal }).run();
    } finally {
      this.#cycleStore.endCycle();
    }
  }

  async #cycle(request: SyncCycleRequest, counts: CycleCounts, lease: CycleLease): Promise<void> {
    if (!readCredentials(this.#store)) throw new NotPairedError(this.#store.dbPath);
    const session = new DeviceSession(this.#store, this.#transport, this.#now);
    const run = new CycleRun({
      store: this.#cycleStore,
      remote: new SessionRemote({ session, transport: this.#transport, signal: request.signal }),
      request,
      counts,
      heartbeat: () => lease.heartbeat(),
      now: this.#now,
      pushBatchSize: this.#pushBatchSize,
      pageSizes: this.#pageSizes,
      applyBatchSize: this.#applyBatchSize,
    });
    await run.run();
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

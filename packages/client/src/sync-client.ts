import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type Database from 'better-sqlite3';
import { STORES_TABLE } from '@tillsync/protocol';
import { ConflictLog, type ConflictRecord, type SetAsideRow } from './conflicts.js';
import { LostEdits, type LostEdit } from './lost-edits.js';
import { PairingConflictError } from './errors.js';
import { ALL_TABLES } from './cycle/cycle-store.js';
import { SyncCycle, toSummary, type SyncCycleRequest, type SyncProgress, type SyncSummary } from './cycle.js';
import { LocalClock, nodeIdForDevice } from './local-clock.js';
import { applyLocalSchema, readLocalSchema } from './local-schema.js';
import { LocalStore, StateKey } from './local-store.js';
import { Outbox } from './outbox.js';
import { unbuiltFrontier, unbuiltTables } from './search-build.js';
import { SearchIndex } from './search-index.js';
import type { ServerEvent } from './server-events.js';
import { readCredentials } from './device-state.js';
import { DeviceSession, writeCredentials } from './session.js';
import { readStatus, sameStatus, type SyncStatus } from './status.js';
import { SyncLog, type SyncLogEntry, type SyncTrigger } from './sync-log.js';
import { HttpTransport, normalizeServerUrl, type FetchFunction, type Transport } from './transport.js';
import { WriteWatch } from './write-watch.js';

/** The version of this package, sent to the server as `X-Device-App-Version`. */
export const CLIENT_VERSION: string = (
  createRequire(import.meta.url)('../package.json') as { version: string }
).version;

/** Options for {@link createSyncClient}. */
export interface SyncClientOptions {
  /** The device's SQLite file; created when missing. */
  readonly dbPath: string;
  /**
   * The server's base URL. Needed to pair; once paired, the device uses the URL it was paired with unless
   * this names another.
   */
  readonly serverUrl?: string;
  /**
   * How the client reaches the server, for a server URL (a test wraps `fetch` to drop requests).
   * @defaultValue an {@link HttpTransport} over `node:http` (or over `fetch` when one is given)
   */
  readonly createTransport?: (serverUrl: string) => Transport;
  /**
   * A `fetch` for the default transport to make every call with.
   * @defaultValue none: the sync calls go through `node:http`, the live event stream through `globalThis.fetch`
   */
  readonly fetch?: FetchFunction;
  /** The wall clock. @defaultValue `Date.now` */
  readonly now?: () => number;
  /** How long a write waits for another program's write. @defaultValue 10000 */
  readonly busyTimeoutMs?: number;
  /** The most changes in one push. @defaultValue 1000 */
  readonly pushBatchSize?: number;
  /** The pull page size asked of the server. @defaultValue 1000, and 5000 for a snapshot (a first sync) */
  readonly pullPageSize?: number;
  /** The most pulled changes applied in one transaction (slices are sized to take a few ms). @defaultValue 2000 */
  readonly applyBatchSize?: number;
}

/** What {@link SyncClient.pair} names the device with. */
export interface PairOptions {
  /** Shown in the owner's devices panel. @defaultValue the machine's host name */
  readonly name?: string;
  /** @defaultValue `process.platform` */
  readonly platform?: string;
  /**
   * Pair with this server rather than the one the client was opened with; later cycles use it too.
   * @defaultValue the client's `serverUrl`
   */
  readonly serverUrl?: string;
}

/** The device's identity after pairing. */
export interface PairResult {
  readonly deviceId: string;
  readonly tenantId: string;
}

/** Who the device is and which server it syncs with. */
export interface DeviceIdentity extends PairResult {
  /** The server the cycles go to. */
  readonly serverUrl: string;
  /** The name given at pairing, or `null` when the machine's name was used. */
  readonly name: string | null;
  /**
   * The store the device belongs to (PROTOCOL.md §7) as the server last said it, at pairing or on a pull;
   * `null` from a server without stores. Its store-scoped rows (a sale, its items) carry this store.
   */
  readonly storeId: string | null;
  /**
   * That store's name, from the synced `stores` table (PROTOCOL.md §7); `null` from a server without stores,
   * or before the first pull brought the store's row.
   */
  readonly storeName: string | null;
}

/** A local change waiting to be pushed. */
export interface PendingChange {
  readonly table: string;
  readonly id: string;
  readonly op: 'upsert' | 'delete';
  /** The stamp of the last local write to the row. */
  readonly updatedAt: string;
  /** Why the server refused it last time, or `null`. */
  readonly error: { readonly code: string; readonly message: string } | null;
}

/** The events of a {@link SyncClient} and their listeners' arguments. */
export interface SyncClientEvents {
  /** The status changed (a cycle started or ended, pairing). */
  status: (status: SyncStatus) => void;
  /** A cycle ended. */
  cycle: (entry: SyncLogEntry) => void;
}

/**
 * The device side of Tillsync around one SQLite file: the synced tables live in it under their own names,
 * every write to them (by any program) is captured, and {@link sync} exchanges them with the server.
 *
 * @example
 * const client = createSyncClient({ dbPath: 'till.db', serverUrl: 'https://sync.example.com' });
 * await client.pair('K7Q-2MX');
 * client.database.prepare('INSERT INTO customers (id, name) VALUES (?, ?)').run(uuidv7(), 'Ada');
 * const summary = await client.sync(); // { ok: true, pushed: 1, … }
 * client.on('status', (status) => render(status.state));
 */
export class SyncClient {
  readonly #store: LocalStore;
  readonly #options: SyncClientOptions;
  /** The server URL given by the app (or by the last pairing), which wins over the one stored at pairing. */
  #serverUrlOption: string | undefined;
  readonly #now: () => number;
  readonly #listeners: { [E in keyof SyncClientEvents]: Set<SyncClientEvents[E]> } = {
    status: new Set(),
    cycle: new Set(),
  };
  #queue: Promise<unknown> = Promise.resolve();
  #syncing = false;
  #lastStatus: SyncStatus | null = null;
  /** The cycle runner, kept across cycles (its prepared statements with it) while the server URL stays. */
  #cycle: { serverUrl: string; transport: Transport; cycle: SyncCycle } | null = null;
  #writeWatch: WriteWatch | null = null;
  /** The search indexes of the file's schema, made again when the schema changes. */
  #search: { schemaJson: string; index: SearchIndex } | null = null;

  constructor(options: SyncClientOptions) {
    if (options.serverUrl !== undefined) normalizeServerUrl(options.serverUrl);
    this.#options = options;
    this.#serverUrlOption = options.serverUrl;
    this.#now = options.now ?? Date.now;
    this.#store = LocalStore.open({
      dbPath: options.dbPath,
      ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
    });
  }

  /**
   * The device's SQLite connection (better-sqlite3), for the app's own reads and writes of the synced tables.
   * Writes through it are captured like any other.
   */
  get database(): Database.Database {
    return this.#store.db;
  }

  /** The status as the device file tells it now. */
  get status(): SyncStatus {
    return readStatus(this.#store, { syncing: this.#syncing, now: this.#now() });
  }

  /** Whether the device file holds credentials. */
  get paired(): boolean {
    return readCredentials(this.#store) !== null;
  }

  /** The server this client syncs (or would pair) with: the one it was given, else the one stored at pairing. */
  get serverUrl(): string | null {
    const serverUrl = this.#serverUrlOption ?? this.#store.getState(StateKey.serverUrl);
    return serverUrl === null ? null : normalizeServerUrl(serverUrl);
  }

  /** Who the device is, or `null` before pairing. */
  get identity(): DeviceIdentity | null {
    const credentials = readCredentials(this.#store);
    if (!credentials) return null;
    return {
      deviceId: credentials.deviceId,
      tenantId: credentials.tenantId,
      serverUrl: this.#serverUrlOption ?? credentials.serverUrl,
      name: this.#store.getState(StateKey.deviceName),
      storeId: this.#store.getState(StateKey.storeId),
      storeName: this.#storeName(this.#store.getState(StateKey.storeId)),
    };
  }

  /** The name of the store `storeId` in the synced stores table, if the schema has one and it holds the row. */
  #storeName(storeId: string | null): string | null {
    if (storeId === null) return null;
    const db = this.#store.db;
    const table = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
      .get(STORES_TABLE);
    if (table === undefined) return null;
    const row = db.prepare(`SELECT name FROM "${STORES_TABLE}" WHERE id = ?`).get(storeId) as
      { name: unknown } | undefined;
    return typeof row?.name === 'string' ? row.name : null;
  }

  /** Listens to an event; returns the function that stops listening. */
  on<E extends keyof SyncClientEvents>(event: E, listener: SyncClientEvents[E]): () => void {
    const listeners = this.#listeners[event] as Set<SyncClientEvents[E]>;
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }

  /**
   * Pairs this device file with the server using a one-time code from the owner, then creates the synced
   * tables from the server's schema. Throws the server's `ProtocolError` for a code it refuses, and a
   * {@link PairingConflictError} when the file holds another shop's data.
   */
  async pair(code: string, options: PairOptions = {}): Promise<PairResult> {
    return this.#exclusive(async () => {
      const serverUrl = normalizeServerUrl(options.serverUrl ?? this.#serverUrl());
      const transport = this.#transport(serverUrl);
      const answer = await transport.pair({
        code,
        name: options.name ?? hostname(),
        platform: options.platform ?? process.platform,
        appVersion: CLIENT_VERSION,
      });
      const previous = readCredentials(this.#store);
      if (previous && previous.tenantId !== answer.tenantId) {
        throw new PairingConflictError(this.#store.dbPath, previous.tenantId);
      }
      const clock = new LocalClock(this.#store, this.#now);
      this.#store.durableWrite(() => {
        writeCredentials(this.#store, {
          deviceId: answer.deviceId,
          tenantId: answer.tenantId,
          serverUrl,
          accessToken: answer.accessToken,
          accessTokenExpiresAt: answer.accessTokenExpiresAt,
          refreshToken: answer.refreshToken,
        });
        if (options.name !== undefined) this.#store.setState(StateKey.deviceName, options.name);
        const previousStore = this.#store.getState(StateKey.storeId);
        if (
          answer.storeId !== undefined &&
          previousStore !== null &&
          answer.storeId !== previousStore &&
          this.#store.getState(StateKey.cursor) !== null
        ) {
          // Paired again into another store (PROTOCOL.md §7): the cursor was made for the old store's rows,
          // so the next cycle takes a fresh snapshot, as after a move; the store it names when it ends
          // makes the device drop the old store's rows and keep its unsent changes.
          this.#store.setState(StateKey.repairsDue, JSON.stringify([ALL_TABLES]));
        } else if (answer.storeId !== undefined) this.#store.setState(StateKey.storeId, answer.storeId);
        clock.nodeId = nodeIdForDevice(answer.deviceId);
      });
      if (options.serverUrl !== undefined) this.#serverUrlOption = serverUrl;
      const session = new DeviceSession(this.#store, transport, this.#now);
      const schema = await session.call((context) => transport.schema(context));
      applyLocalSchema(this.#store, schema);
      this.#emitStatus();
      return { deviceId: answer.deviceId, tenantId: answer.tenantId };
    });
  }

  /**
   * Runs one sync cycle now: push the pending rows, then pull until the device is up to date. Never throws
   * for a failed cycle (server down, session expired): the summary says `ok: false` with the error, and the
   * status and the sync log keep it. Calls made while a cycle runs wait for it and then run their own.
   */
  async sync(options: { trigger?: SyncTrigger } = {}): Promise<SyncSummary> {
    return toSummary(await this.runCycle({ trigger: options.trigger ?? 'manual' }));
  }

  /**
   * Force pull: pulls without pushing; pending rows stay pending, unless `discardLocal`, which replaces them
   * by the server's rows and keeps the replaced versions in the set-aside table ({@link setAsideRows}).
   */
  async pull(options: { discardLocal?: boolean; trigger?: SyncTrigger } = {}): Promise<SyncSummary> {
    return toSummary(
      await this.runCycle({
        trigger: options.trigger ?? 'force-pull',
        pullOnly: true,
        discardLocal: options.discardLocal ?? false,
      }),
    );
  }

  /**
   * Runs one cycle as asked and returns its sync log entry (what {@link sync} and {@link pull} summarise).
   * Never throws for a failed cycle. The entry point of a worker that schedules cycles.
   */
  runCycle(request: SyncCycleRequest): Promise<SyncLogEntry> {
    return this.#exclusive(async () => {
      this.#syncing = true;
      this.#emitStatus();
      let entry: SyncLogEntry;
      try {
        entry = await this.#connection().cycle.run(request);
      } finally {
        this.#syncing = false;
      }
      for (const listener of this.#listeners.cycle) listener(entry);
      this.#emitStatus();
      return entry;
    });
  }

  /**
   * Builds the search indexes a first sync left to build: a first sync's cycle ends once its rows are in, and
   * the index of a big table is built after it, in steps of a few milliseconds (`search-build.ts`). A search
   * meanwhile finds what it would with the whole index ({@link searchIndexedUpTo}). Resolves with whether
   * one is left, once they are whole or `signal` stops it (between two steps); a cycle asked for meanwhile
   * waits for it, so a worker stops it first. Stopped or killed, the next build goes on from where it was.
   */
  buildSearchIndexes(signal?: AbortSignal): Promise<boolean> {
    return this.#exclusive(() => this.#connection().cycle.buildSearchIndexes(signal));
  }

  /**
   * Opens the device's live event stream from the server (`GET /api/sync/events`, refreshing the access
   * token like any call); resolves once the server accepted it. `signal` closes it.
   */
  openChangeStream(signal: AbortSignal): Promise<AsyncIterable<ServerEvent>> {
    const { transport } = this.#connection();
    const session = new DeviceSession(this.#store, transport, this.#now);
    return session.call((context) => transport.events(context), signal);
  }

  /** What the cycle running in this process has done so far, or `null` when none runs. */
  get progress(): SyncProgress | null {
    return this.#cycle?.cycle.progress ?? null;
  }

  /**
   * A fingerprint of the local writes not yet sent, which changes with every captured write (by any
   * program); `null` when nothing waits. Cheap enough to ask every 200 ms: a worker pushes soon after a sale.
   */
  localWriteMark(): string | null {
    this.#writeWatch ??= new WriteWatch(this.#store);
    return this.#writeWatch.mark();
  }

  /**
   * Brings the search indexes (`_sync_search_<table>`) up to every write made to the synced tables since
   * they last caught up, by this program or another: call it before a search, so a till finds what it
   * wrote a moment ago. Only reads when nothing was written (`search-index.ts`).
   */
  catchUpSearchIndex(): void {
    const schemaJson = this.#store.getState(StateKey.schema);
    if (schemaJson === null) return;
    if (this.#search?.schemaJson !== schemaJson) {
      const schema = readLocalSchema(this.#store);
      if (!schema) return;
      this.#search = { schemaJson, index: new SearchIndex(this.#store, schema) };
    }
    this.#search.index.catchUp();
  }

  /**
   * The rowid up to which the search index of `table` holds every row, or `null` when it holds them all.
   * After a first sync the index is built once the rows are in (`search-build.ts`): until it is, a search
   * reads the index for the rows up to this rowid and checks the rows above it one by one.
   */
  searchIndexedUpTo(table: string): number | null {
    return unbuiltFrontier(this.#store, table);
  }

  /** The tables whose search index a first sync left to build ({@link buildSearchIndexes}). */
  searchIndexesUnbuilt(): string[] {
    return unbuiltTables(this.#store);
  }

  /** The newest cycle of the sync log, or `null`. */
  get lastCycle(): SyncLogEntry | null {
    return new SyncLog(this.#store).entries(1)[0] ?? null;
  }

  /** The local changes waiting to be pushed, oldest first. */
  pendingChanges(limit = 1000): PendingChange[] {
    return new Outbox(this.#store).list(limit).map((row) => ({
      table: row.table,
      id: row.id,
      op: row.op,
      updatedAt: row.stamp,
      error: row.errorCode === null ? null : { code: row.errorCode, message: row.errorMessage ?? '' },
    }));
  }

  /** The last cycles, newest first. */
  syncLog(limit?: number): SyncLogEntry[] {
    return new SyncLog(this.#store).entries(limit);
  }

  /** Local versions that lost to a later write, newest first. */
  conflicts(limit?: number): ConflictRecord[] {
    return new ConflictLog(this.#store).conflicts(limit);
  }

  /**
   * This device's own edits that lost to a later write made without knowing them, newest first: what the
   * device tells the person who works on it (PROTOCOL.md §5).
   */
  lostEdits(limit?: number): LostEdit[] {
    return new LostEdits(this.#store).list(limit);
  }

  /** Unsent rows replaced by a force pull with discard-local, newest first. */
  setAsideRows(limit?: number): SetAsideRow[] {
    return new ConflictLog(this.#store).setAsideRows(limit);
  }

  /** Waits for a cycle in progress and closes the device file. */
  async close(): Promise<void> {
    await this.#queue.catch(() => {});
    this.#store.close();
  }

  /** The transport and cycle runner for the server in use, kept (with their prepared statements) while it stays. */
  #connection(): { transport: Transport; cycle: SyncCycle } {
    const serverUrl =
      this.#serverUrlOption ?? this.#store.getState(StateKey.serverUrl) ?? 'http://unpaired.invalid';
    if (this.#cycle?.serverUrl !== serverUrl) {
      const transport = this.#transport(serverUrl);
      const cycle = new SyncCycle({
        store: this.#store,
        transport,
        now: this.#now,
        ...(this.#options.pushBatchSize !== undefined ? { pushBatchSize: this.#options.pushBatchSize } : {}),
        ...(this.#options.pullPageSize !== undefined ? { pullPageSize: this.#options.pullPageSize } : {}),
        ...(this.#options.applyBatchSize !== undefined
          ? { applyBatchSize: this.#options.applyBatchSize }
          : {}),
      });
      this.#cycle = { serverUrl, transport, cycle };
    }
    return this.#cycle;
  }

  /** Runs `task` after every task started before it: one cycle (or pairing) at a time per client. */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task, task);
    this.#queue = result.catch(() => {});
    return result;
  }

  #serverUrl(): string {
    const serverUrl = this.serverUrl;
    if (serverUrl === null) throw new TypeError('give the serverUrl to pair this device with');
    return serverUrl;
  }

  #transport(serverUrl: string): Transport {
    if (this.#options.createTransport) return this.#options.createTransport(serverUrl);
    return new HttpTransport({
      serverUrl,
      appVersion: CLIENT_VERSION,
      ...(this.#options.fetch ? { fetch: this.#options.fetch } : {}),
    });
  }

  #emitStatus(): void {
    const status = this.status;
    if (this.#lastStatus && sameStatus(this.#lastStatus, status)) return;
    this.#lastStatus = status;
    for (const listener of this.#listeners.status) listener(status);
  }
}

/**
 * Opens a device file for syncing.
 *
 * @example
 * const client = createSyncClient({ dbPath: '/var/lib/till/shop.db', serverUrl: 'https://sync.example.com' });
 */
export function createSyncClient(options: SyncClientOptions): SyncClient {
  return new SyncClient(options);
}

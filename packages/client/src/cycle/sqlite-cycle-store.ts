import {
  type CompiledSchema,
  type PullResponse,
  type PushResponse,
  type SyncSchema,
  type TableChecksum,
} from '@tillsync/protocol';
import {
  PullApplier,
  type ApplierParts,
  type ApplyPageOptions,
  type ApplyPageOutcome,
} from '../apply-pull.js';
import { applyPushAnswer, type PushAnswerOutcome } from '../apply-push.js';
import { ConflictLog } from '../conflicts.js';
import type { LocalClock } from '../local-clock.js';
import { LostEdits } from '../lost-edits.js';
import { applyLocalSchema, readLocalSchema } from '../local-schema.js';
import { StateKey, type LocalStore } from '../local-store.js';
import { Outbox } from '../outbox.js';
import type { SearchBuildStep } from '../search-build.js';
import { ServerRows } from '../server-rows.js';
import { SyncedTables } from '../synced-tables.js';
import { WalCheckpointer } from '../wal-checkpointer.js';
import {
  ALL_TABLES,
  type CycleStore,
  type DueRepairs,
  type NextPushRequest,
  type StoredPush,
} from './cycle-store.js';
import { anyStoredPush, deleteStoredPush, insertStoredPush, readStoredPushes } from './push-journal-table.js';
import { clearSeenRows, FreshTables, resetSeenRows, sweepUnseen } from './seen-rows.js';

/** How long a cycle's own writes take before the log is checkpointed from another thread. */
const CHECKPOINTER_AFTER_MS = 250;

/** Options for {@link SqliteCycleStore}. */
export interface SqliteCycleStoreOptions {
  readonly store: LocalStore;
  readonly clock: LocalClock;
  /** @defaultValue `Date.now` */
  readonly now?: () => number;
}

/**
 * The cycle's store port over the device's SQLite file. Kept across cycles: the parts for the device's
 * schema (and their prepared statements) are made again only when the schema changes.
 */
export class SqliteCycleStore implements CycleStore {
  readonly #store: LocalStore;
  readonly #clock: LocalClock;
  readonly #now: () => number;
  /** The outbox without a schema: what is read before the cycle has the server's schema. */
  readonly #outbox: Outbox;
  #schemaJson: string | null = null;
  #parts: ApplierParts | null = null;
  #applier: PullApplier | null = null;
  /** The file's writes as last seen: this connection's changes and other connections' commits. */
  #writesSeen: string | null = null;
  /** Whether a write not the applier's came before one of its applies, since {@link othersWrote} last said. */
  #othersWrote = false;
  /** The tables the snapshot (or the pull from the start) under way began with nothing of. */
  #fresh: FreshTables | undefined;
  /** How long the cycle's own writes (applies, steps of the index build) have taken so far, in ms. */
  #ownWriteMs = 0;
  /** Checkpoints the log from a thread of its own once the cycle writes much (`wal-checkpointer.ts`). */
  #checkpointer: WalCheckpointer | null = null;

  constructor(options: SqliteCycleStoreOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#now = options.now ?? Date.now;
    this.#outbox = new Outbox(this.#store);
  }

  useSchema(remote: SyncSchema): void {
    const local = this.#store.getState(StateKey.schema);
    const localVersion = local === null ? null : (JSON.parse(local) as { version?: unknown }).version;
    if (localVersion !== remote.version) applyLocalSchema(this.#store, remote);
    if (!this.useLocalSchema()) throw new Error(`${this.#store.dbPath} has no schema yet: pair it first`);
  }

  /**
   * Takes the schema the file holds as it is, without asking the server (a step outside a cycle, such as the
   * search index build); whether the file has one.
   */
  useLocalSchema(): boolean {
    const json = this.#store.getState(StateKey.schema);
    if (this.#parts && this.#applier && json === this.#schemaJson) return true;
    const schema = readLocalSchema(this.#store);
    if (!schema) return false;
    this.#parts = {
      store: this.#store,
      schema,
      tables: new SyncedTables(this.#store, schema),
      outbox: new Outbox(this.#store),
      serverRows: new ServerRows(this.#store),
      conflicts: new ConflictLog(this.#store, this.#now),
      lostEdits: new LostEdits(this.#store, this.#now),
      clock: this.#clock,
    };
    this.#applier = new PullApplier(this.#parts);
    this.#schemaJson = json;
    return true;
  }

  // The push journal.

  storedPushes(): StoredPush[] {
    return readStoredPushes(this.#store);
  }

  hasStoredPush(): boolean {
    return anyStoredPush(this.#store);
  }

  hasPending(): boolean {
    return this.#outbox.any();
  }

  pendingCount(): number {
    return this.#outbox.count();
  }

  storeNextPush(request: NextPushRequest): StoredPush | null {
    const { outbox, schema, tables } = this.#schemaParts();
    // Synced to disk: a push the server applied but this device forgot would be rebuilt with a new pushId
    // and its counter deltas added twice.
    return this.#store.durableWrite(() => {
      // The till's writes are searchable by then, whether or not it searched since (`search-index.ts`).
      tables.search.catchUp();
      const batch = outbox.nextBatch(schema, request.sent, request.maxChanges, {
        columnLevel: request.columnLevel,
      });
      if (batch.changes.length === 0) return null;
      const push: StoredPush = { ...request.encode(batch.changes), covers: batch.covers };
      insertStoredPush(this.#store, push, request.createdAt);
      return push;
    });
  }

  dropPush(push: StoredPush): void {
    this.#store.write(() => {
      deleteStoredPush(this.#store, push.pushId);
      this.#outbox.endPush(push.covers);
    });
  }

  confirmPush(push: StoredPush, response: PushResponse): PushAnswerOutcome {
    return this.#store.write(() => {
      const outcome = applyPushAnswer(this.#schemaParts(), this.#pullApplier(), push, response);
      // In the answer's transaction: a crash after it still restores the rows of the deletes given up.
      if (outcome.restore.length > 0) this.markDue(outcome.restore);
      return outcome;
    });
  }

  markRejected(table: string, id: string, code: string, message: string): void {
    this.#store.write(() => this.#outbox.setError(table, id, code, message));
  }

  // The pull.

  cursor(): string {
    return this.#store.getState(StateKey.cursor) ?? '';
  }

  holdsServerRows(): boolean {
    return this.#store.statement('SELECT 1 FROM _sync_rows LIMIT 1').get() !== undefined;
  }

  knowsTable(table: string): boolean {
    return this.#schema().table(table) !== undefined;
  }

  applyPage(changes: PullResponse['changes'], options: ApplyPageOptions): ApplyPageOutcome {
    const fresh = this.#fresh;
    return this.#ownWrite(() =>
      this.#pullApplier().applyPage(changes, fresh === undefined ? options : { ...options, fresh }),
    );
  }

  othersWrote(): boolean {
    const wrote = this.#othersWrote || this.#writesChanged();
    this.#othersWrote = false;
    return wrote;
  }

  // Repairs.

  dueRepairs(): DueRepairs {
    const due = this.#dueList();
    return due.includes(ALL_TABLES) ? ALL_TABLES : new Set(due);
  }

  markDue(tables: readonly string[]): void {
    const due = new Set(this.#dueList());
    for (const table of tables) due.add(table);
    this.#store.setState(StateKey.repairsDue, JSON.stringify([...due]));
  }

  tableNames(): string[] {
    return this.#schema().tables.map((table) => table.name);
  }

  tablesWithPending(): Set<string> {
    return this.#outbox.tablesWithPending();
  }

  localChecksum(table: string): TableChecksum {
    return this.#schemaParts().serverRows.checksum(table);
  }

  setAsidePending(): Set<string> {
    const { outbox, tables, schema, conflicts } = this.#schemaParts();
    return this.#store.write(() => {
      tables.search.catchUp();
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
      this.markDue([...names]);
      return names;
    });
  }

  beginSnapshot(): void {
    resetSeenRows(this.#store);
    const { serverRows } = this.#schemaParts();
    // A fresh table's checksum is kept row by row through the snapshot: it starts from the empty table's.
    this.#beginFresh((table) => serverRows.recompute(table));
  }

  applySnapshotPage(changes: PullResponse['changes'], tables: ReadonlySet<string>): ApplyPageOutcome {
    return this.#ownWrite(() =>
      this.#pullApplier().applyPage(changes, { only: tables, noteSeen: true, fresh: this.#fresh }),
    );
  }

  endSnapshot(
    tables: ReadonlySet<string>,
    cursor: string | undefined,
    storeId?: string,
  ): Map<string, TableChecksum> {
    const store = this.#store;
    const { schema, serverRows } = this.#schemaParts();
    // A snapshot that names another store than the device had: the device was moved (PROTOCOL.md §7).
    const previousStore = store.getState(StateKey.storeId);
    const moved = storeId !== undefined && previousStore !== null && storeId !== previousStore;
    const checksums = store.applying(() => {
      const recomputed = new Map<string, TableChecksum>();
      for (const table of tables) {
        const spec = schema.table(table);
        if (!spec) continue;
        const scope =
          spec.storeColumn !== null && storeId !== undefined
            ? { storeColumn: spec.storeColumn, storeId }
            : null;
        const fresh = this.#fresh?.has(table) ?? false;
        sweepUnseen(store, table, moved, scope, fresh);
        recomputed.set(table, fresh ? serverRows.checksum(table) : serverRows.recompute(table));
      }
      if (storeId !== undefined) store.setState(StateKey.storeId, storeId);
      if (cursor !== undefined) {
        store.setState(StateKey.cursor, cursor);
        store.setState(StateKey.repairsDue, null);
      } else {
        const due = this.#dueList().filter((table) => !tables.has(table));
        store.setState(StateKey.repairsDue, due.length > 0 ? JSON.stringify(due) : null);
      }
      return recomputed;
    });
    clearSeenRows(store);
    this.#fresh = undefined;
    return checksums;
  }

  // The search indexes a fresh snapshot left to build.

  beginFirstPull(): void {
    this.#beginFresh();
  }

  endFirstPull(): void {
    this.#fresh = undefined;
  }

  searchBuildPending(): boolean {
    return this.#schemaParts().tables.searchBuild.pending();
  }

  searchBuildStep(rows: number): SearchBuildStep | null {
    return this.#ownWrite(() => this.#schemaParts().tables.searchBuild.step(rows));
  }

  /** Ends what the cycle's writes started: the checkpoints go back to the connection. */
  endCycle(): void {
    this.#ownWriteMs = 0;
    this.#checkpointer?.stop();
    this.#checkpointer = null;
  }

  /**
   * Notes the tables that hold nothing yet (see {@link FreshTables}): `prepare` runs for each in the same
   * transaction, and their search indexes are built once their rows are in, not slice by slice
   * (`search-build.ts`).
   */
  #beginFresh(prepare: (table: string) => void = () => {}): void {
    const { schema, tables } = this.#schemaParts();
    const fresh = FreshTables.of(
      this.#store,
      schema.tables.map((table) => table.name),
    );
    this.#store.write(() => {
      const freshTables = schema.tables.filter((table) => fresh.has(table.name));
      for (const table of freshTables) prepare(table.name);
      tables.searchBuild.begin(freshTables);
    });
    this.#fresh = fresh;
  }

  /** Runs an apply of the pull, noting first whether another wrote the file since the last look. */
  #ownWrite<T>(apply: () => T): T {
    if (this.#writesChanged()) this.#othersWrote = true;
    const began = performance.now();
    try {
      return apply();
    } finally {
      this.#writesChanged();
      this.#ownWriteMs += performance.now() - began;
      // A cycle that writes for a while (a first sync) checkpoints from another thread; a short one never
      // pays for starting it.
      if (this.#ownWriteMs >= CHECKPOINTER_AFTER_MS && !this.#store.db.memory)
        this.#checkpointer ??= WalCheckpointer.start(this.#store.db);
      this.#checkpointer?.wrote();
    }
  }

  /** Whether the file's writes changed since the last look (then taken as seen). */
  #writesChanged(): boolean {
    const row = this.#store
      .statement(
        'SELECT total_changes() AS changes, (SELECT data_version FROM pragma_data_version) AS version',
      )
      .get() as { changes: number; version: number };
    const seen = `${row.changes}/${row.version}`;
    const changed = this.#writesSeen !== null && seen !== this.#writesSeen;
    this.#writesSeen = seen;
    return changed;
  }

  #dueList(): string[] {
    const json = this.#store.getState(StateKey.repairsDue);
    return json === null ? [] : (JSON.parse(json) as string[]);
  }

  #schema(): CompiledSchema {
    return this.#schemaParts().schema;
  }

  #schemaParts(): ApplierParts {
    if (!this.#parts) throw new Error('the cycle store has no schema yet: call useSchema first');
    return this.#parts;
  }

  #pullApplier(): PullApplier {
    if (!this.#applier) throw new Error('the cycle store has no schema yet: call useSchema first');
    return this.#applier;
  }
}

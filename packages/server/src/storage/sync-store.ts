import type { RowValues, StoredChange, TableChecksum } from '@tillsync/protocol';
import type { NewJobRecord, SettingsOverrides } from '@tillsync/jobs';

/** A column's last write: its stamp, and the device that made it (null: the server). */
export type ColumnStamp = readonly [stamp: string, deviceId: string | null];

/**
 * The stamps of a row's columns last written before the row's `updatedAt` (PROTOCOL.md §5: the row's
 * `updatedAt` is the largest stamp of its columns). A column not listed was last written with `updatedAt` by
 * the row's `deviceId`; null lists none, as for a row written whole.
 */
export type ColumnStamps = Readonly<Record<string, ColumnStamp>>;

/** A row as the server holds it: its latest state, or a tombstone. */
export interface StoredRow {
  readonly table: string;
  readonly id: string;
  /** Null for a tombstone. */
  readonly values: RowValues | null;
  /** The largest stamp of its columns (a tombstone: the delete's). */
  readonly updatedAt: string;
  readonly seq: number;
  /** The device whose write made `updatedAt`; null when the server wrote it. */
  readonly deviceId: string | null;
  /** The columns last written before `updatedAt`; null for a tombstone. */
  readonly stamps: ColumnStamps | null;
  /** The store whose devices receive it; '' for a row of the whole tenant (PROTOCOL.md §7). */
  readonly scope: string;
  /** The device whose file holds this very state (see {@link RowWrite.heldBy}); null or absent: none. */
  readonly heldBy?: string | null;
}

/** A row's new state, written by a push or a sync job. */
export interface RowWrite {
  readonly table: string;
  readonly id: string;
  /** Null for a tombstone. */
  readonly values: RowValues | null;
  readonly updatedAt: string;
  readonly deviceId: string | null;
  /** The columns last written before `updatedAt` (see {@link ColumnStamps}); null: none. */
  readonly stamps: ColumnStamps | null;
  /** The state it replaces, if the server held one: its checksum term and unique values are taken out. */
  readonly previous: StoredRow | undefined;
  /**
   * The store whose devices receive it, '' for the tenant's (`rows/row-writer.ts` finds it). A row written
   * to another scope than `previous.scope` moved: the old store's devices are told to evict it.
   */
  readonly scope: string;
  /**
   * The row's keys under its table's unique rules while it is live: `column` is the rule's name (a column's,
   * or `store_id+day` for a rule of several), `value` its key (`rows/unique-rules.ts`).
   */
  readonly uniqueValues: ReadonlyArray<{ readonly column: string; readonly value: string }>;
  /**
   * True when `previous` was live and held the very same keys: its noted entries stay as they are (a
   * counter's delta, a day's new total). Absent: they are written again.
   */
  readonly keepsUniqueValues?: boolean;
  /**
   * The device whose file holds this very state: its push wrote it whole, or wrote columns of a state it
   * held, every column it sent stood, and the server changed nothing more. Its later pulls skip the row
   * until anyone writes it again. Absent or null: every device receives it (a sync job's write, the
   * server's, a push that lost a column or was merged with another device's write).
   */
  readonly heldBy?: string | null;
}

/**
 * A value that last-write-wins overrode without the winner having known it, kept so that "where did my edit
 * go?" has an answer (PROTOCOL.md §5). A column conflict's versions carry that column alone; a conflict of
 * the row as a whole (a delete met writes: `column` null) carries the write's values.
 */
export interface ConflictRecord {
  readonly table: string;
  readonly id: string;
  /** The overridden column; null for the row as a whole. */
  readonly column: string | null;
  readonly winner: StoredChange;
  readonly loser: StoredChange;
  readonly winnerDeviceId: string | null;
  readonly loserDeviceId: string | null;
}

/** A {@link ConflictRecord} as listed for the owner: with when the server decided it. */
export interface StoredConflict extends ConflictRecord {
  /** ISO time of the push that decided it. */
  readonly at: string;
}

/** Which conflicts {@link TenantSyncStore.listConflicts} answers. */
export interface ConflictFilter {
  /** Only this table's. */
  readonly table?: string;
  /** Only this row's (with `table`). */
  readonly id?: string;
  /** At most this many. */
  readonly limit: number;
}

/** The key of a row in maps: table and id. */
export function rowKey(table: string, id: string): string {
  return `${table}\u0000${id}`;
}

/** The last state of a row a write deleted, kept so a job whose source was deleted can still read it. */
export interface DeletedRowState {
  readonly table: string;
  readonly id: string;
  readonly values: RowValues;
  /** The stamp of that last state. */
  readonly updatedAt: string;
  /** When it was deleted (ms): the kept states are purged by it. */
  readonly deletedAt: number;
}

/**
 * What a write of synced rows may do inside its transaction, scoped to one tenant: the port the row writer
 * (`rows/`) works through, whether a push or a sync job writes.
 */
export interface RowWriteTransaction {
  /** The tenant every call is scoped to. */
  readonly tenantId: string;
  /** The stored rows among these keys, by {@link rowKey}. */
  getRows(
    keys: ReadonlyArray<{ readonly table: string; readonly id: string }>,
  ): Promise<Map<string, StoredRow>>;
  /**
   * The live rows of `table` whose `column` holds one of `targets` (ids of rows it references): each row's id,
   * the target it holds, and its scope (as {@link RowWrite.scope}).
   */
  findReferencingRows(
    table: string,
    column: string,
    targets: readonly string[],
  ): Promise<Array<{ readonly id: string; readonly target: string; readonly scope: string }>>;
  /** Which live rows hold these keys under a unique rule (named as in {@link RowWrite.uniqueValues}): key → row id. */
  findUniqueHolders(table: string, column: string, values: readonly string[]): Promise<Map<string, string>>;
  /** Stores new states, in order: each gets the tenant's next sequence number. */
  writeRows(rows: readonly RowWrite[]): Promise<void>;
  /** Keeps (or replaces) the last states of deleted rows. */
  keepDeletedRows(rows: readonly DeletedRowState[]): Promise<void>;
  /** The owner's overrides of job type settings, by type name. */
  readJobTypeSettings(): Promise<Map<string, SettingsOverrides>>;
  /** Enqueues jobs, all or none, to commit with the rows that triggered them. */
  insertJobs(jobs: readonly NewJobRecord[]): Promise<void>;
}

/** What a push may do inside its transaction, scoped to one tenant: a row write, and the push's own records. */
export interface PushTransaction extends RowWriteTransaction {
  /**
   * The answers given before to pushes with this `pushId` by this device or another of the tenant's devices
   * (the same till under its earlier device id, if it was paired again while a push was unanswered).
   */
  findPushAnswers(
    deviceId: string,
    pushId: string,
  ): Promise<Array<{ readonly deviceId: string; readonly answer: string }>>;
  /** The store the device belongs to; null when the tenant has no such device. */
  deviceStore(deviceId: string): Promise<string | null>;
  /**
   * What a push reads before it is judged, in one go (one statement where the engine is across a network):
   * {@link findPushAnswers}, {@link getRows} of `keys` and, with `withStore`, {@link deviceStore} (null
   * without it).
   */
  readPushStart(start: PushStartRead): Promise<PushStart>;
  addConflicts(conflicts: readonly ConflictRecord[]): Promise<void>;
  savePushAnswer(deviceId: string, pushId: string, answer: string): Promise<void>;
}

/** What a push reads before it is judged ({@link PushTransaction.readPushStart}). */
export interface PushStartRead {
  readonly deviceId: string;
  readonly pushId: string;
  readonly keys: ReadonlyArray<{ readonly table: string; readonly id: string }>;
  readonly withStore: boolean;
  /** Keys under unique rules whose holders are looked up too (as {@link findUniqueHolders}). */
  readonly uniqueKeys?: readonly UniqueKey[];
}

/** A key under a table's unique rule (named as in {@link RowWrite.uniqueValues}). */
export interface UniqueKey {
  readonly table: string;
  readonly column: string;
  readonly value: string;
}

/** The map key of a {@link UniqueKey}. */
export function uniqueKeyId(key: UniqueKey): string {
  return `${key.table}\u0000${key.column}\u0000${key.value}`;
}

/** What {@link PushTransaction.readPushStart} reads. */
export interface PushStart {
  readonly answers: ReadonlyArray<{ readonly deviceId: string; readonly answer: string }>;
  readonly rows: Map<string, StoredRow>;
  readonly storeId: string | null;
  /**
   * The holders of the unique keys asked for, by {@link uniqueKeyId}: the row id, or null for a key no row
   * holds (every key asked for is in it).
   */
  readonly uniqueHolders: Map<string, string | null>;
}

/** A row as a pull hands it out: its values stay the JSON text they are stored as, to be sent as they are. */
export interface PulledRow {
  readonly table: string;
  readonly id: string;
  /** The values as JSON text; null for a tombstone. */
  readonly valuesJson: string | null;
  readonly updatedAt: string;
  readonly seq: number;
  /** 1: the row left the reader's store (a sync job moved it), handed out as `evict`; 0: a row's state. */
  readonly evicted: number;
}

/**
 * Where a fresh snapshot stands while it delivers the rows that existed when it began: the last row it
 * delivered, table by table (in the order it was asked for) and by key within a table.
 */
export interface SnapshotKey {
  readonly table: string;
  readonly afterId: string;
}

/** One page of a pull. */
export type PullPage =
  | {
      readonly resyncRequired: false;
      readonly rows: readonly PulledRow[];
      readonly hasMore: boolean;
      /** The sequence number the next page starts after. */
      readonly cursorSeq: number;
      /** What the next page of this pull passes back as `snapshotFloor` (see {@link TenantSyncStore.pull}). */
      readonly snapshotFloor: number;
      /**
       * A snapshot's page that ends among the rows that existed when it began: its last key, with `cursorSeq`
       * the snapshot's mark. The next page passes both back to {@link TenantSyncStore.pullSnapshot}.
       */
      readonly snapshot?: SnapshotKey;
      /**
       * A sequence-ordered fresh snapshot's end: what the next page passes back as `snapshotEnd` (see
       * {@link TenantSyncStore.pull}).
       */
      readonly snapshotEnd?: number;
      /** On the last page: each table's checksum at `cursorSeq`, over what the reader receives. */
      readonly checksums?: Readonly<Record<string, TableChecksum>>;
      /** The store whose rows the page carries besides the tenant's, for a device's pull (null: none). */
      readonly storeId?: string | null;
    }
  | { readonly resyncRequired: true };

/** A tenant's synced rows. Every call is scoped to the tenant it was made for. */
export interface TenantSyncStore {
  /**
   * Runs a push in a transaction; a tenant's pushes run one at a time, in commit order (those queued together
   * may share one transaction, each judged after the one before it). A push whose `signal` is aborted before
   * its turn is not run: it rejects with the signal's reason. `start`: what the push will read first (the
   * very object it passes to `readPushStart`), so that the pushes sharing a transaction read it in one go.
   */
  push<T>(work: (tx: PushTransaction) => Promise<T>, signal?: AbortSignal, start?: PushStartRead): Promise<T>;
  /**
   * The changes after `sinceSeq`, at most `limit`, in the order their last change was stored. A cursor older
   * than the purged tombstones must resync, except within a fresh snapshot: its rows were all live after the
   * purge point its first page saw, so it needs none of those tombstones. Each page answers that point as
   * `snapshotFloor`, and the snapshot's next page passes it back; without it, a snapshot longer than one page
   * that starts below the purge point could never be finished.
   *
   * With `deviceId`, the changes that device receives (PROTOCOL.md §7): the tenant's rows, its store's rows,
   * and its store's evictions; a cursor made before the device last moved to another store must resync, as
   * one older than the purged tombstones must. Without it, every row of the tenant (no evictions).
   *
   * A device does not receive the rows whose stored state its own push made and nobody changed since
   * ({@link RowWrite.heldBy}): it holds them as they are. Except within a fresh snapshot, whose pages hand
   * out every row stored when it began, as the device's file may be new: each page answers that point as
   * `snapshotEnd` (the tenant's last sequence number when the snapshot began), and the next page passes it
   * back. A pull from 0 without `snapshotEnd` is a fresh snapshot's first page; with it (0 for a cursor
   * handed out before the tenant held anything), a pull from a cursor.
   */
  pull(
    sinceSeq: number,
    limit: number,
    snapshotFloor?: number,
    deviceId?: string,
    snapshotEnd?: number,
  ): Promise<PullPage>;
  /**
   * A fresh snapshot's page (PROTOCOL.md §2), whose cost does not depend on the order rows were written in.
   * Its first page (`from` null) notes the tenant's last sequence number as the snapshot's mark; the rows
   * stored up to the mark that are live come first, table by table in `tableOrder` (tables it does not name
   * after, by name) and by key within a table; then every change after the mark, as {@link pull} hands them
   * out from it. A row changed after the mark is no longer among the first (its stored state is past the
   * mark) and comes in its latest state among the second, a delete as a tombstone, so a snapshot ends at
   * the state of its last page: nothing skipped, nothing left that the server deleted.
   *
   * `from` is the page's `cursorSeq` (the mark) and `snapshot` key of the page before. A page that ends
   * among the changes after the mark answers no key: the pull goes on with {@link pull} from its cursor.
   * A purge past the mark, or a move of the device, during the snapshot must resync, as for {@link pull}.
   */
  pullSnapshot(
    from: { readonly mark: number; readonly key: SnapshotKey } | null,
    limit: number,
    options: { readonly tableOrder: readonly string[]; readonly deviceId?: string },
  ): Promise<PullPage>;
  /** The stored rows (tombstones too) among these keys, by {@link rowKey}. */
  readRows(
    keys: ReadonlyArray<{ readonly table: string; readonly id: string }>,
  ): Promise<Map<string, StoredRow>>;
  /**
   * The table checksums as kept incrementally: over the tenant's rows and `storeId`'s (null: the tenant's
   * only; absent: every row).
   */
  checksums(storeId?: string | null): Promise<Record<string, TableChecksum>>;
  /** The conflicts recorded for a row, oldest first. */
  conflicts(table: string, id: string): Promise<ConflictRecord[]>;
  /** The tenant's conflicts, newest first: the owner's "where did my edit go?". */
  listConflicts(filter: ConflictFilter): Promise<StoredConflict[]>;
}

export interface SyncStore {
  forTenant(tenantId: string): TenantSyncStore;
  /** Drops tombstones stored before `storedBefore` (ms) and remembers how far, so older cursors resync. */
  purgeTombstones(storedBefore: number): Promise<number>;
  /** Drops remembered push answers older than `createdBefore` (ms). */
  purgePushAnswers(createdBefore: number): Promise<number>;
}

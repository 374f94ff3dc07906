import {
  formatChecksum,
  type Change,
  type PullResponse,
  type PushResponse,
  type SyncSchema,
  type TableChecksum,
} from '@tillsync/protocol';
import type { ApplyPageOptions, ApplyPageOutcome } from '../apply-pull.js';
import type { PushAnswerOutcome } from '../apply-push.js';
import type { SearchBuildStep } from '../search-build.js';
import type { StoredPush } from './stored-push.js';

export type { StoredPush } from './stored-push.js';

/**
 * What the steps of a cycle need of the device file, as role interfaces: the steps call these and their
 * remote, never SQL, so each step reads as the protocol it follows and can be tested on its own.
 * `SqliteCycleStore` implements all of them over the device's SQLite file.
 */

/** The repair list's entry that stands for every table (a resync). */
export const ALL_TABLES = '*';

/** A table's checksum with no rows: what the server's checksums leave out. */
export const EMPTY_CHECKSUM: TableChecksum = { count: 0, sum: formatChecksum(0n) };

/** The repairs a crash left unfinished: every table (a resync), or some tables (maybe none). */
export type DueRepairs = Set<string> | typeof ALL_TABLES;

/** What {@link PushJournalStore.storeNextPush} reads and stores. */
export interface NextPushRequest {
  /** The rows this cycle has sent already (skipped, and added to); see `Outbox.nextBatch`. */
  readonly sent: Set<string>;
  /** The most changes in the push. */
  readonly maxChanges: number;
  /** When the push was built (ISO), kept to resend left-over pushes in order. */
  readonly createdAt: string;
  /**
   * Send only the columns each write set, for rows the server has: the server speaks protocol 2 or later.
   * A server of protocol 1 takes every upsert as the whole row, so it is sent whole.
   */
  readonly columnLevel: boolean;
  /** Makes the push's id and request body from its changes. */
  readonly encode: (changes: readonly Change[]) => { readonly pushId: string; readonly body: string };
}

/** The push journal and the outbox, as the push step sees them. */
export interface PushJournalStore {
  /** Pushes stored and not yet answered, oldest first: what a crash or a lost answer left. */
  storedPushes(): StoredPush[];
  /** Whether a stored push waits for its answer. */
  hasStoredPush(): boolean;
  /** Whether any local change waits to be pushed. */
  hasPending(): boolean;
  /** How many local changes wait to be pushed. */
  pendingCount(): number;
  /**
   * Reads the next batch of pending rows and stores it as a push, synced to disk, before it is sent; `null`
   * when nothing is left to push.
   */
  storeNextPush(request: NextPushRequest): StoredPush | null;
  /** Drops a stored push that the server did not take; its rows are pending as before. */
  dropPush(push: StoredPush): void;
  /** Applies a push's answer and deletes the push from the journal, in one transaction. */
  confirmPush(push: StoredPush, response: PushResponse): PushAnswerOutcome;
  /** Marks one pending row with an error it keeps until it is pushed again. */
  markRejected(table: string, id: string, code: string, message: string): void;
}

/** The cursor and the apply of pull pages. */
export interface PullStore {
  /** The cursor of the last page applied; `''` before the first (a snapshot). */
  cursor(): string;
  /** Whether the device holds any of the server's rows (its list of them is not empty). */
  holdsServerRows(): boolean;
  /** Whether the device's schema has the table (a page naming another means the server's schema changed). */
  knowsTable(table: string): boolean;
  /** Applies some changes of a pull page in one transaction, with the page's cursor when given. */
  applyPage(changes: PullResponse['changes'], options: ApplyPageOptions): ApplyPageOutcome;
  /**
   * Whether anything but the applies of pull pages (the app, another program) wrote the device file since
   * the last call.
   */
  othersWrote(): boolean;
}

/** What the repair step reads and writes: the due list, the checksums, and a snapshot's sweep. */
export interface RepairStore {
  dueRepairs(): DueRepairs;
  /** Adds tables to the due list, so a crash before their repair ends has it done again. */
  markDue(tables: readonly string[]): void;
  /** The names of the synced tables, parents first. */
  tableNames(): string[];
  tablesWithPending(): Set<string>;
  /** The device's checksum of what it knows of the server's rows in `table`. */
  localChecksum(table: string): TableChecksum;
  /**
   * Sets every pending row aside (discard-local) and drops it from the outbox; the tables they were in are
   * marked due in the same transaction. Returns those tables.
   */
  setAsidePending(): Set<string>;
  /** Starts noting the rows a snapshot holds. */
  beginSnapshot(): void;
  /** Applies a snapshot page's changes of `tables` only, noting the rows it holds. */
  applySnapshotPage(changes: PullResponse['changes'], tables: ReadonlySet<string>): ApplyPageOutcome;
  /**
   * Ends a snapshot in one transaction: removes the rows of `tables` the snapshot did not hold (unless they
   * are pending), recomputes their checksums and takes them off the due list; with `cursor` (every table
   * was taken), moves the regular cursor there and clears the list; `storeId` (the device's store as the
   * snapshot said it) is kept with it. Returns the recomputed checksums of the tables the schema has, in
   * the order of `tables`.
   */
  endSnapshot(
    tables: ReadonlySet<string>,
    cursor: string | undefined,
    storeId?: string,
  ): Map<string, TableChecksum>;
}

/** The search indexes a fresh snapshot left to build once its rows are in (`search-build.ts`). */
export interface SearchBuildStore {
  /**
   * A pull from the start (a first sync) is about to begin: the tables that hold nothing, no row, no server
   * row, no pending row, get their search index built once their rows are in, not as they arrive, and their
   * rows need no lookup of a stamp the device knew (`FreshTables`) until {@link endFirstPull}.
   */
  beginFirstPull(): void;
  /** The pull from the start ended, or stopped: a pull from its cursor looks every row up again. */
  endFirstPull(): void;
  /** Whether an index is left to build. */
  searchBuildPending(): boolean;
  /**
   * One step of the build in a write transaction of its own: up to `rows` rows indexed, or a few pages of
   * the index merged; `null` when nothing is left to build.
   */
  searchBuildStep(rows: number): SearchBuildStep | null;
}

/** Everything a cycle needs of the device file. */
export interface CycleStore extends PushJournalStore, PullStore, RepairStore, SearchBuildStore {
  /** Migrates the device file to the server's schema when its version differs, and takes its parts. */
  useSchema(remote: SyncSchema): void;
}

/** The server, as the steps of a cycle call it: authenticated, and cut short when the cycle is stopped. */
export interface CycleRemote {
  /**
   * Asks whether the server is up (unauthenticated, so a device with an ended session still learns it);
   * answers the protocol version the server speaks.
   */
  health(): Promise<number>;
  schema(): Promise<SyncSchema>;
  /** Sends a push's exact body. */
  push(body: string): Promise<PushResponse>;
  /**
   * Asks for a pull page. `received`: rows of a push the server has committed whose answer the device has
   * not applied yet; the pending count the call reports (for the owner's devices panel) leaves them out, as
   * no later call of the cycle may correct it.
   */
  pull(since: string, limit: number, received?: number): Promise<PullResponse>;
}

import type { TableChecksum } from '@tillsync/protocol';
import type { TableRepair } from '../sync-log.js';
import type { CycleCounts } from './cycle-counts.js';
import { ALL_TABLES, EMPTY_CHECKSUM, type DueRepairs, type RepairStore } from './cycle-store.js';
import type { PullEnd, PullPager } from './pull-pager.js';

/** Options for {@link TableRepairs}. */
export interface TableRepairsOptions {
  readonly store: RepairStore;
  /** The pager a snapshot is pulled with. */
  readonly pager: Pick<PullPager, 'pages'>;
  /** Where the repairs are noted. */
  readonly counts: CycleCounts;
}

/**
 * The repair step: compares the server's table checksums with the device's, and takes a table that differs
 * (or every table, after a `410`) again from a fresh snapshot, keeping its unsent rows. A repair is noted as
 * due before it starts and taken off the list in the transaction that ends it, so a crash has it done again.
 */
export class TableRepairs {
  readonly #store: RepairStore;
  readonly #pager: Pick<PullPager, 'pages'>;
  readonly #counts: CycleCounts;
  /** Tables taken from a snapshot in this cycle: their state is past the regular cursor's. */
  readonly #repaired = new Set<string>();

  constructor(options: TableRepairsOptions) {
    this.#store = options.store;
    this.#pager = options.pager;
    this.#counts = options.counts;
  }

  /** The repairs a crash left unfinished: every table (a resync), some tables, or none. */
  due(): DueRepairs {
    return this.#store.dueRepairs();
  }

  /** Takes every table again from a fresh snapshot, keeping the unsent rows, and moves the cursor to its end. */
  async resync(reason: TableRepair['reason']): Promise<PullEnd> {
    this.#store.markDue([ALL_TABLES]);
    await this.#snapshot(new Set(this.#store.tableNames()), reason, true);
    // The snapshot compared its own checksums.
    return { checksums: undefined };
  }

  /** Takes some tables again from a fresh snapshot, keeping their unsent rows. */
  async repair(tables: ReadonlySet<string>, reason: TableRepair['reason']): Promise<void> {
    this.#store.markDue([...tables]);
    await this.#snapshot(tables, reason, false);
  }

  /**
   * Compares the last page's checksums with the device's, for the tables with nothing left to push (a
   * pending row makes a table differ until it is pushed), and repairs the tables that differ.
   */
  async compareChecksums(checksums: Readonly<Record<string, TableChecksum>>): Promise<void> {
    const pendingTables = this.#store.tablesWithPending();
    const differing = new Set<string>();
    for (const table of this.#store.tableNames()) {
      if (pendingTables.has(table) || this.#repaired.has(table)) continue;
      const server = checksums[table] ?? EMPTY_CHECKSUM;
      const local = this.#store.localChecksum(table);
      if (server.count !== local.count || server.sum !== local.sum) differing.add(table);
    }
    if (differing.size > 0) await this.repair(differing, 'checksum');
  }

  /**
   * Force pull with discard-local: every pending row is set aside (`_sync_set_aside`) and dropped from the
   * outbox, then the tables it was in are taken again from a fresh snapshot, which restores the server's
   * rows and removes local rows the server never had.
   */
  async discardLocal(): Promise<void> {
    const affected = this.#store.setAsidePending();
    if (affected.size > 0) await this.#snapshot(affected, 'discard-local', false);
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
    this.#store.beginSnapshot();
    let finalCursor = '';
    let storeId: string | undefined;
    const end = await this.#pager.pages('', (changes, cursor, pageStoreId) => {
      if (cursor !== undefined) finalCursor = cursor;
      storeId = pageStoreId ?? storeId;
      return this.#store.applySnapshotPage(changes, targets);
    });
    const recomputed = this.#store.endSnapshot(targets, everyTable ? finalCursor : undefined, storeId);
    for (const [table, local] of recomputed) {
      const server = end.checksums?.[table] ?? EMPTY_CHECKSUM;
      this.#counts.repairs.push({
        table,
        reason,
        matched: end.checksums === undefined || (local.count === server.count && local.sum === server.sum),
      });
      this.#repaired.add(table);
    }
  }
}

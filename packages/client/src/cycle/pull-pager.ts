import {
  DEFAULT_PULL_LIMIT,
  MAX_PULL_LIMIT,
  type PullResponse,
  type TableChecksum,
} from '@tillsync/protocol';
import type { ApplyPageOutcome } from '../apply-pull.js';
import { nextTurn, noteConflicts, type CycleCounts } from './cycle-counts.js';
import type { CycleRemote } from './cycle-store.js';
import { QUIET_AFTER_MS, QUIET_SLICE_BUDGET_MS, SLICE_BUDGET_MS, SliceSizer } from './slice-sizer.js';

/** The page sizes asked of the server: from a cursor, and from the start (a snapshot). */
export interface PageSizes {
  readonly regular: number;
  readonly snapshot: number;
}

/**
 * The page sizes for a page size asked by the app, or the defaults: 1000 from a cursor, and for a snapshot
 * (a first sync, a repair) the most the protocol allows, since the server's work per page bounds a first sync.
 */
export function pageSizesFor(pullPageSize: number | undefined): PageSizes {
  const pageSize = pullPageSize === undefined ? undefined : Math.max(1, pullPageSize);
  return { regular: pageSize ?? DEFAULT_PULL_LIMIT, snapshot: pageSize ?? MAX_PULL_LIMIT };
}

/** The last page of a pull, or of a snapshot. */
export interface PullEnd {
  /** The server's table checksums at the last page's cursor; absent when there is nothing to compare. */
  readonly checksums: Readonly<Record<string, TableChecksum>> | undefined;
}

/**
 * Applies a slice of a page; `cursor` is the page's, given with its last slice only, so the cursor commits
 * with the page's last rows; so is `storeId`, the device's store as the page says it.
 */
export type ApplySlice = (
  changes: PullResponse['changes'],
  cursor: string | undefined,
  storeId: string | undefined,
) => ApplyPageOutcome;

/** Options for {@link PullPager}. */
export interface PullPagerOptions {
  readonly remote: Pick<CycleRemote, 'pull'>;
  /** Where the pulled changes and conflicts are counted. */
  readonly counts: CycleCounts;
  /** @defaultValue `pageSizesFor(undefined)` */
  readonly pageSizes?: PageSizes;
  /**
   * The most changes applied in one slice.
   * @defaultValue 2000
   */
  readonly applyBatchSize?: number;
  /** Whether the device's schema has a table: a page naming another makes the pager {@link refreshSchema}. */
  readonly knowsTable: (table: string) => boolean;
  /** Takes the server's schema again (it changed during the cycle). */
  readonly refreshSchema: () => Promise<void>;
  /** Called between two pages: the cycle's lease stays alive through a long pull. */
  readonly heartbeat?: () => void;
  /** Stops the pull between two slices. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Whether anything but the pull wrote the device file since the last call (the app, another program): a
   * snapshot's slices grow while nothing does. Without it they never grow past {@link SLICE_BUDGET_MS}.
   */
  readonly othersWrote?: () => boolean;
}

/**
 * The pull step: asks for pages from a cursor until the server has no more, asking for the next page while
 * this one is applied, and applies each in slices sized to take a few milliseconds, the event loop free
 * between them, so a till's write never waits for a whole page.
 */
export class PullPager {
  readonly #remote: Pick<CycleRemote, 'pull'>;
  readonly #counts: CycleCounts;
  readonly #pageSizes: PageSizes;
  readonly #applyBatchSize: number;
  readonly #knowsTable: (table: string) => boolean;
  readonly #refreshSchema: () => Promise<void>;
  readonly #heartbeat: () => void;
  readonly #signal: AbortSignal | undefined;
  readonly #othersWrote: (() => boolean) | undefined;
  /** The first pull page, asked for early (with the health check, or while the last push is answered). */
  #prefetched: { readonly since: string; readonly page: Promise<PullResponse> } | null = null;

  constructor(options: PullPagerOptions) {
    this.#remote = options.remote;
    this.#counts = options.counts;
    this.#pageSizes = options.pageSizes ?? pageSizesFor(undefined);
    this.#applyBatchSize = Math.max(1, options.applyBatchSize ?? 2000);
    this.#knowsTable = options.knowsTable;
    this.#refreshSchema = options.refreshSchema;
    this.#heartbeat = options.heartbeat ?? (() => {});
    this.#signal = options.signal;
    this.#othersWrote = options.othersWrote;
  }

  /**
   * Asks for the first page from `since` now; {@link pages} from the same `since` takes it from there.
   * `received`: rows the server has taken whose answer the device has not applied yet (see `CycleRemote.pull`).
   */
  prefetch(since: string, received = 0): void {
    this.#prefetched = { since, page: this.#fetchPage(since, this.#pageSizeFrom(since), received) };
  }

  /** Lets go of the first page asked for early, once its request has settled, so the pull asks again. */
  async dropPrefetched(): Promise<void> {
    const prefetched = this.#prefetched;
    this.#prefetched = null;
    await prefetched?.page.catch(() => undefined);
  }

  /**
   * Pulls pages from `since` until `hasMore` is false, applying each with `apply`. The next page is asked for
   * while this one is applied (its cursor is known as soon as this page arrives), and the event loop gets a
   * turn between pages so the app embedding the client stays responsive.
   */
  async pages(since: string, apply: ApplySlice): Promise<PullEnd> {
    const slicer = new SliceSizer(this.#applyBatchSize);
    const prefetched = this.#prefetched;
    this.#prefetched = null;
    const limit = this.#pageSizeFrom(since);
    let next = prefetched?.since === since ? prefetched.page : this.#fetchPage(since, limit);
    const quiet = since === '' ? this.#quietWatch() : null;
    for (;;) {
      const page = await next;
      if (page.changes.some((change) => !this.#knowsTable(change.table))) await this.#refreshSchema();
      if (page.snapshotRows !== undefined) this.#counts.expectedPulled = page.snapshotRows;
      if (page.hasMore) next = this.#fetchPage(page.cursor, limit);
      // A page is applied in slices, the event loop free between them, so the app's own writes never wait
      // for a whole page. The cursor moves with the last slice: a crash in between pulls the page again, and
      // a change applied twice leaves the row, its stamp and the checksums as once.
      // The first slice waits a turn too: the page was parsed and checked in the turn that brought it.
      for (let start = 0; start < page.changes.length || start === 0;) {
        await nextTurn();
        this.#signal?.throwIfAborted();
        const end = Math.min(page.changes.length, start + slicer.size);
        const last = end === page.changes.length;
        const began = performance.now();
        const outcome = apply(
          page.changes.slice(start, end),
          last ? page.cursor : undefined,
          last ? page.storeId : undefined,
        );
        slicer.took(end - start, performance.now() - began, quiet?.budgetMs() ?? SLICE_BUDGET_MS);
        this.#counts.pulled += outcome.applied;
        noteConflicts(this.#counts, outcome.conflictRows);
        if (last) break;
        start = end;
      }
      if (!page.hasMore) return { checksums: page.checksums };
      this.#heartbeat();
      // The heartbeat's own write is not another's.
      quiet?.ignoreLastWrites();
    }
  }

  /**
   * Watches for other writes to the device file through a snapshot: the budget of the next slice is
   * {@link QUIET_SLICE_BUDGET_MS} once none came for {@link QUIET_AFTER_MS}, else {@link SLICE_BUDGET_MS}.
   */
  #quietWatch(): { budgetMs: () => number; ignoreLastWrites: () => void } | null {
    const othersWrote = this.#othersWrote;
    if (!othersWrote) return null;
    othersWrote();
    let lastWrite = performance.now();
    return {
      budgetMs: () => {
        const now = performance.now();
        if (othersWrote()) lastWrite = now;
        return now - lastWrite >= QUIET_AFTER_MS ? QUIET_SLICE_BUDGET_MS : SLICE_BUDGET_MS;
      },
      ignoreLastWrites: () => void othersWrote(),
    };
  }

  /** The page size of a pull from `since`: a snapshot takes the largest pages. */
  #pageSizeFrom(since: string): number {
    return since === '' ? this.#pageSizes.snapshot : this.#pageSizes.regular;
  }

  /** Asks for one pull page. */
  #fetchPage(since: string, limit: number, received = 0): Promise<PullResponse> {
    const page = this.#remote.pull(since, limit, received);
    // Handled where it is awaited; this keeps a failure while the previous page is applied (or while the
    // health check is answered) from counting as unhandled.
    page.catch(() => {});
    return page;
  }
}

/** How long one slice of a pull page should hold the write lock and the event loop. */
export const SLICE_BUDGET_MS = 5;
/**
 * How long a slice of a snapshot may take while nothing else has written the device file for
 * {@link QUIET_AFTER_MS}: a first sync at set-up, the tills not yet in use. A sale that comes then still
 * waits well under the 20 ms a till's write may wait, and the snapshot commits half as often.
 */
export const QUIET_SLICE_BUDGET_MS = 12;
/** How long nothing else must have written the file before a snapshot's slices take {@link QUIET_SLICE_BUDGET_MS}. */
export const QUIET_AFTER_MS = 1000;
/**
 * Slices are a whole number of these rows: the rows of a slice are written with statements of 64 rows
 * (`multi-row-statement.ts`), and a slice of 50 took 5 statements per table where one of 64 takes one.
 */
export const SLICE_STEP = 64;
/** The size of a page's first slice. */
export const FIRST_SLICE_SIZE = 4 * SLICE_STEP;
/**
 * The least a slice shrinks to on a slow or loaded machine. A slice's fixed cost (its transaction, its
 * commit, the search index's segment written at each commit) is about 0.5 ms, what 50 rows cost: at 128 it
 * is a third of the slice, below it more than the rows.
 */
export const MIN_SLICE_SIZE = 2 * SLICE_STEP;

/**
 * Sizes the slices a pull page is applied in, so that each takes about {@link SLICE_BUDGET_MS}: a sale
 * waits for one slice at most, while a large first sync commits as rarely as that allows (a commit per 250
 * rows costs about a quarter more than one per 1,000). Never more than `max` changes in one slice.
 */
export class SliceSizer {
  readonly #max: number;
  /** The size of the next slice. */
  size: number;

  constructor(max: number) {
    this.#max = max;
    this.size = Math.min(FIRST_SLICE_SIZE, max);
  }

  /**
   * Notes that a slice of `count` changes took `ms`; the next slice is sized from its rate, to take
   * `budgetMs`.
   */
  took(count: number, ms: number, budgetMs = SLICE_BUDGET_MS): void {
    if (count < this.size) return;
    const fitting = Math.floor((count * budgetMs) / Math.max(ms, 0.1));
    // Grows at most fourfold per slice, so one fast slice (a page of deletes) cannot make the next too long.
    const size = Math.max(MIN_SLICE_SIZE, Math.min(fitting, this.size * 4));
    this.size = Math.min(this.#max, size - (size % SLICE_STEP));
  }
}

/** How long one slice of a pull page should hold the write lock and the event loop. */
export const SLICE_BUDGET_MS = 5;
/** The size of a page's first slice. */
export const FIRST_SLICE_SIZE = 250;
/** The least a slice shrinks to on a slow machine: below it, commits would cost more than the rows. */
export const MIN_SLICE_SIZE = 50;

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

  /** Notes that a slice of `count` changes took `ms`; the next slice is sized from its rate. */
  took(count: number, ms: number): void {
    if (count < this.size) return;
    const fitting = Math.floor((count * SLICE_BUDGET_MS) / Math.max(ms, 0.1));
    // Grows at most fourfold per slice, so one fast slice (a page of deletes) cannot make the next too long.
    this.size = Math.max(Math.min(MIN_SLICE_SIZE, this.#max), Math.min(this.#max, fitting, this.size * 4));
  }
}

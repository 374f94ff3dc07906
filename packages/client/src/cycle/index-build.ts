import { nextTurn } from './cycle-counts.js';
import type { SearchBuildStore } from './cycle-store.js';
import { SLICE_BUDGET_MS, SliceSizer } from './slice-sizer.js';

/**
 * The most rows one step of the build indexes: about 8 ms of work. Its steps are sized, as a pull page's
 * slices are, to take {@link SLICE_BUDGET_MS}.
 */
const MAX_BUILD_ROWS = 4096;

/** Options for {@link IndexBuild}. */
export interface IndexBuildOptions {
  readonly store: SearchBuildStore;
  /** Keeps the cycle's lease alive through a long build. */
  readonly heartbeat: () => void;
  readonly signal?: AbortSignal | undefined;
}

/**
 * The step that builds the search indexes a fresh snapshot left to build (`search-build.ts`), once its rows
 * are in: one short write transaction at a time, the event loop free between them, so a till's write waits
 * for one step at most and the till's own searches stay answered meanwhile. Stopped or killed, it goes on
 * in the next cycle from the last step that committed.
 */
export class IndexBuild {
  readonly #store: SearchBuildStore;
  readonly #heartbeat: () => void;
  readonly #signal: AbortSignal | undefined;

  constructor(options: IndexBuildOptions) {
    this.#store = options.store;
    this.#heartbeat = options.heartbeat;
    this.#signal = options.signal;
  }

  /** Builds until no index is left to build. */
  async run(): Promise<void> {
    if (!this.#store.searchBuildPending()) return;
    const sizer = new SliceSizer(MAX_BUILD_ROWS);
    for (;;) {
      await nextTurn();
      this.#signal?.throwIfAborted();
      const began = performance.now();
      const step = this.#store.searchBuildStep(sizer.size);
      if (step === null) return;
      // A merge step (no rows) says nothing of how long rows take.
      if (step.rows > 0) sizer.took(step.rows, performance.now() - began, SLICE_BUDGET_MS);
      this.#heartbeat();
    }
  }
}

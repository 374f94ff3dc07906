import { nextTurn } from './cycle-counts.js';
import type { SearchBuildStore } from './cycle-store.js';

/**
 * The rows one step of the build indexes: about 5 ms on a quiet machine (2.5 µs a row), as a pull page's
 * slice. A fixed number, not one sized by the time steps take: on a loaded machine that shrinks steps to a
 * few hundred rows, and FTS5 then has ten times the segments to merge, which costs more than the rows.
 */
const BUILD_STEP_ROWS = 2048;

/** Options for {@link IndexBuild}. */
export interface IndexBuildOptions {
  readonly store: SearchBuildStore;
  /** Stops the build between two steps. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Builds the search indexes a fresh snapshot left to build (`search-build.ts`) once its rows are in: one
 * short write transaction at a time, the event loop free between them, so a till's write waits for one step
 * at most and the till's own searches stay answered meanwhile. Not a step of the cycle: a first sync ends
 * when its rows are in, and the build runs after it (the worker's, between cycles; `tillsync sync`'s, after
 * its summary). Stopped or killed, it goes on from the last step that committed.
 */
export class IndexBuild {
  readonly #store: SearchBuildStore;
  readonly #signal: AbortSignal | undefined;

  constructor(options: IndexBuildOptions) {
    this.#store = options.store;
    this.#signal = options.signal;
  }

  /** Builds until no index is left to build, or the signal stops it; whether one is left. */
  async run(): Promise<boolean> {
    if (!this.#store.searchBuildPending()) return false;
    for (;;) {
      await nextTurn();
      if (this.#signal?.aborted) return true;
      if (this.#store.searchBuildStep(BUILD_STEP_ROWS) === null) return false;
    }
  }
}

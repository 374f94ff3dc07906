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
    for (;;) {
      await nextTurn();
      this.#signal?.throwIfAborted();
      if (this.#store.searchBuildStep(BUILD_STEP_ROWS) === null) return;
      this.#heartbeat();
    }
  }
}

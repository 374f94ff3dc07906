import type { LocalStore } from './local-store.js';

/**
 * Notices captured writes to the device file, by this process or any other, cheaply enough to ask every
 * 200 ms: first `PRAGMA data_version` (moves when another connection commits) and `total_changes()` (moves
 * when this connection writes), two counters SQLite keeps anyway; only when one moved does it read the
 * outbox. No trigger or table is added, so a till's write costs nothing more.
 */
export class WriteWatch {
  readonly #store: LocalStore;
  #counters = '';
  #mark: string | null = null;

  constructor(store: LocalStore) {
    this.#store = store;
  }

  /**
   * A fingerprint of the outbox's unsent rows (those the server has not refused), which changes with every
   * captured write; `null` when nothing waits to be sent.
   */
  mark(): string | null {
    const counters = this.#store
      .statement('SELECT data_version AS v, total_changes() AS t FROM pragma_data_version')
      .get() as { v: number; t: number };
    const key = `${counters.v}:${counters.t}`;
    if (key === this.#counters) return this.#mark;
    this.#counters = key;
    // Writes not folded into the outbox yet are in the capture log (capture/fold.ts): its last entry counts.
    const outbox = this.#store
      .statement(
        `SELECT count(*) AS n, total(revision) AS r, max(hlc) AS h, (SELECT max(seq) FROM _sync_captured) AS logged
         FROM _sync_pending WHERE error_code IS NULL`,
      )
      .get() as { n: number; r: number; h: number | null; logged: number | null };
    this.#mark =
      outbox.n === 0 && outbox.logged === null
        ? null
        : `${outbox.n}:${outbox.r}:${outbox.h ?? ''}:${outbox.logged ?? ''}`;
    return this.#mark;
  }
}

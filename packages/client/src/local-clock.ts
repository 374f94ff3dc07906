import { createHash } from 'node:crypto';
import { HybridClock, formatStamp, parseStamp } from '@tillsync/protocol';
import type { LocalStore } from './local-store.js';

/**
 * The device's hybrid logical clock, kept in `_sync_clock` so that the capture triggers (which stamp every
 * local write in SQL, see `NEXT_HLC_SQL`) and the sync (which issues the odd stamp in JavaScript, receives
 * every stamp the server hands out, and every stamp it pushes) share one clock that never goes back, across
 * processes and restarts. The row is the clock's floor; the pending rows hold the stamps issued above it.
 *
 * SQLite holds it as one integer, `ms * 65536 + counter` (larger than JavaScript's safe integers, so it is
 * only ever split or joined in SQL). `hlc >> 16` and `hlc & 65535` are its parts.
 */
export class LocalClock {
  readonly #store: LocalStore;
  readonly #now: () => number;

  constructor(store: LocalStore, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  /** Issues a stamp later than every stamp issued or received so far. Call it inside a write transaction. */
  issue(): string {
    const row = this.#store
      .statement(
        `SELECT top >> 16 AS ms, top & 65535 AS counter, node
         FROM (SELECT max(hlc, coalesce((SELECT max(hlc) FROM _sync_pending), 0), coalesce((SELECT max(hlc) FROM _sync_captured), 0)) AS top, node FROM _sync_clock WHERE id = 1)`,
      )
      .get() as { ms: number; counter: number; node: string };
    const clock = new HybridClock({
      nodeId: row.node,
      now: this.#now,
      state: { ms: row.ms, counter: row.counter },
    });
    const stamp = clock.issue();
    this.#store
      .statement(
        'UPDATE _sync_clock SET hlc = CAST(@ms AS INTEGER) * 65536 + CAST(@counter AS INTEGER) WHERE id = 1',
      )
      .run({ ms: clock.state.ms, counter: clock.state.counter });
    return stamp;
  }

  /**
   * Moves the clock past a stamp received from the server (the HLC receive rule), so that a local write made
   * after it is stamped later. Strings that are not stamps are ignored.
   */
  receive(stamp: string): void {
    const received = parseStamp(stamp);
    if (!received) return;
    this.#store
      .statement(
        'UPDATE _sync_clock SET hlc = max(hlc, CAST(@ms AS INTEGER) * 65536 + CAST(@counter AS INTEGER)) WHERE id = 1',
      )
      .run({ ms: received.ms, counter: received.counter });
  }

  /** The stamp of the clock's current value (the last issued or received), with this node's id. */
  current(): string {
    const row = this.#store
      .statement('SELECT hlc >> 16 AS ms, hlc & 65535 AS counter, node FROM _sync_clock WHERE id = 1')
      .get() as { ms: number; counter: number; node: string };
    return formatStamp({ ms: row.ms, counter: row.counter, nodeId: row.node });
  }

  /** This device's node id, the last part of its stamps. */
  get nodeId(): string {
    return (this.#store.statement('SELECT node FROM _sync_clock WHERE id = 1').get() as { node: string })
      .node;
  }

  set nodeId(nodeId: string) {
    this.#store.statement('UPDATE _sync_clock SET node = ? WHERE id = 1').run(nodeId);
  }
}

/**
 * The node id of a device: 12 hex digits derived from its device id. Short, since every stamp carries it,
 * and long enough (48 bits) that two devices of a shop never share one.
 */
export function nodeIdForDevice(deviceId: string): string {
  return createHash('sha256').update(deviceId).digest('hex').slice(0, 12);
}

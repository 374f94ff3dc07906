/**
 * The hybrid logical clock of PROTOCOL.md §1.
 *
 * A stamp is `<ISO time with ms>-<counter, 4 hex digits>-<node id>`. Every part is fixed width up to the
 * node id, so comparing two stamps as plain strings orders them as the clock does, and the node id breaks
 * ties between nodes, so two nodes never issue the same stamp.
 */

/** The largest counter a stamp can carry; past it the clock moves to the next millisecond. */
export const MAX_COUNTER = 0xffff;

/** A node id: letters, digits, `_` and `-`, 1 to 64 characters. */
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const STAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)-([0-9a-f]{4})-([A-Za-z0-9_-]{1,64})$/;

/** The parts of a stamp. */
export interface Timestamp {
  /** Milliseconds since the Unix epoch. */
  readonly ms: number;
  readonly counter: number;
  readonly nodeId: string;
}

/** The state a clock must keep across restarts so that it never goes back. */
export interface ClockState {
  readonly ms: number;
  readonly counter: number;
}

export function isValidNodeId(nodeId: string): boolean {
  return NODE_ID.test(nodeId);
}

/** Formats a timestamp as a stamp string. */
export function formatStamp(timestamp: Timestamp): string {
  const counter = timestamp.counter.toString(16).padStart(4, '0');
  return `${new Date(timestamp.ms).toISOString()}-${counter}-${timestamp.nodeId}`;
}

/** Parses a stamp string, or returns `null` when it is not one. */
export function parseStamp(stamp: string): Timestamp | null {
  const match = STAMP.exec(stamp);
  if (!match) return null;
  const [, iso, counter, nodeId] = match as unknown as [string, string, string, string];
  const ms = isoMs(iso);
  if (ms === null) return null;
  return { ms, counter: Number.parseInt(counter, 16), nodeId };
}

/** The last time {@link isoMs} read: the stamps of one push or pull page mostly share their millisecond. */
let lastIso = '';
let lastMs: number | null = null;

function isoMs(iso: string): number | null {
  if (iso !== lastIso) {
    const ms = Date.parse(iso);
    // Date.parse accepts impossible dates such as Feb 30 by rolling them over; a stamp must round-trip.
    lastMs = Number.isNaN(ms) || new Date(ms).toISOString() !== iso ? null : ms;
    lastIso = iso;
  }
  return lastMs;
}

/** Options for {@link HybridClock}. */
export interface HybridClockOptions {
  /** This node's id, the tie-breaker between nodes. */
  readonly nodeId: string;
  /**
   * The wall clock in milliseconds.
   * @defaultValue `Date.now`
   */
  readonly now?: () => number;
  /** The state saved by an earlier run, so the clock never issues a stamp lower than before a restart. */
  readonly state?: ClockState;
}

/**
 * A clock that issues stamps which only ever grow on this node and which move past every stamp received.
 *
 * @example
 * const clock = new HybridClock({ nodeId: 'till1' });
 * const stamp = clock.issue(); // "2026-11-22T02:31:05.123Z-0000-till1"
 * clock.receive(stampFromServer);
 */
export class HybridClock {
  readonly nodeId: string;
  readonly #now: () => number;
  #ms: number;
  #counter: number;

  constructor(options: HybridClockOptions) {
    if (!isValidNodeId(options.nodeId)) {
      throw new TypeError(`"${options.nodeId}" is not a node id: use 1 to 64 letters, digits, "_" or "-"`);
    }
    this.nodeId = options.nodeId;
    this.#now = options.now ?? Date.now;
    this.#ms = options.state?.ms ?? 0;
    this.#counter = options.state?.counter ?? 0;
  }

  /** What must be saved to resume this clock after a restart. */
  get state(): ClockState {
    return { ms: this.#ms, counter: this.#counter };
  }

  /** Issues a stamp larger than every stamp this clock has issued or received. */
  issue(): string {
    this.#advance(this.#now());
    return formatStamp({ ms: this.#ms, counter: this.#counter, nodeId: this.nodeId });
  }

  /** Moves the clock past a stamp received from another node. Ignores strings that are not stamps. */
  receive(stamp: string): void {
    const received = parseStamp(stamp);
    if (!received) return;
    if (received.ms > this.#ms || (received.ms === this.#ms && received.counter > this.#counter)) {
      this.#ms = received.ms;
      this.#counter = received.counter;
    }
  }

  #advance(wallMs: number): void {
    if (wallMs > this.#ms) {
      this.#ms = wallMs;
      this.#counter = 0;
    } else if (this.#counter < MAX_COUNTER) {
      this.#counter += 1;
    } else {
      this.#ms += 1;
      this.#counter = 0;
    }
  }
}

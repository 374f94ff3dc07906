import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { SyncBusyError } from './errors.js';
import { StateKey, type StateReader } from './device-state.js';
import type { LocalStore } from './local-store.js';

/** The lease as stored in `_sync_state`. */
interface LeaseRecord {
  readonly owner: string;
  readonly pid: number;
  readonly host: string;
  /** When the process started (Linux), so a pid reused by another process is not taken for the holder. */
  readonly processStart: string | null;
  readonly heartbeatAt: number;
}

/**
 * Without a heartbeat for this long, a lease is taken over even if its process seems alive (its pid may have
 * been reused by another program).
 */
const LEASE_EXPIRY_MS = 120_000;

/**
 * One sync cycle at a time per device file, across processes (an agent and a `tillsync sync` on the same
 * file would otherwise push the same rows twice). The lease is a row of `_sync_state`; a process killed
 * mid-cycle leaves it behind, and the next cycle takes it over once that process is gone.
 */
export class CycleLease {
  readonly #store: LocalStore;
  readonly #now: () => number;
  readonly #key: StateKey;
  readonly #owner = randomUUID();
  #lastBeat = 0;

  /** `key`: the state row of the lease; another key is another lease (the legacy bridge has its own). */
  constructor(store: LocalStore, now: () => number = Date.now, key: StateKey = StateKey.cycleLease) {
    this.#store = store;
    this.#now = now;
    this.#key = key;
  }

  /**
   * Takes the lease, waiting up to `waitMs` for another process's cycle to end, or throws a
   * {@link SyncBusyError}. The wait also covers a holder that was just killed and is still exiting; `signal`
   * ends it early.
   */
  async acquire(waitMs = 5000, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const holder = this.#store.write(() => {
        const held = readLease(this.#store, this.#key);
        if (held && held.owner !== this.#owner && isLive(held, this.#now())) return held;
        this.#write();
        return null;
      });
      if (!holder) return;
      if (Date.now() >= deadline) throw new SyncBusyError(holder.pid);
      await sleep(100, undefined, signal ? { signal } : {});
    }
  }

  /** Shows the lease is still in use; call it between the steps of a long cycle (it writes every 10 s at most). */
  heartbeat(): void {
    if (this.#now() - this.#lastBeat < 10_000) return;
    this.#store.write(() => {
      if (readLease(this.#store, this.#key)?.owner === this.#owner) this.#write();
    });
  }

  release(): void {
    this.#store.write(() => {
      if (readLease(this.#store, this.#key)?.owner === this.#owner) this.#store.setState(this.#key, null);
    });
  }

  #write(): void {
    this.#lastBeat = this.#now();
    const record: LeaseRecord = {
      owner: this.#owner,
      pid: process.pid,
      host: hostname(),
      processStart: ownProcessStart(),
      heartbeatAt: this.#lastBeat,
    };
    this.#store.setState(this.#key, JSON.stringify(record));
  }
}

/** Whether a live process is running a cycle on this device file (for `status` in another process). */
export function cycleInProgress(store: StateReader, now: number = Date.now()): boolean {
  const held = readLease(store);
  return held !== null && isLive(held, now);
}

function readLease(store: StateReader, key: StateKey = StateKey.cycleLease): LeaseRecord | null {
  const json = store.getState(key);
  if (json === null) return null;
  try {
    return JSON.parse(json) as LeaseRecord;
  } catch {
    return null;
  }
}

function isLive(lease: LeaseRecord, now: number): boolean {
  if (now - lease.heartbeatAt > LEASE_EXPIRY_MS) return false;
  if (lease.host !== hostname()) return true;
  const stat = procStat(lease.pid);
  if (stat !== undefined) {
    // Gone, a zombie (killed, not yet reaped), or the pid now belongs to a later process.
    if (stat === null || stat.state === 'Z' || stat.state === 'X') return false;
    return lease.processStart === null || lease.processStart === stat.start;
  }
  try {
    process.kill(lease.pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A process's state and start time from `/proc/<pid>/stat`: `null` when there is no such process, `undefined`
 * where there is no /proc (not Linux).
 */
function procStat(pid: number): { state: string; start: string } | null | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return readableProc() ? null : undefined;
    return undefined;
  }
  // The command name (2nd field) is in parentheses and may hold spaces; the fields after it are plain.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', start: fields[19] ?? '' };
}

function processStart(pid: number): string | null {
  const stat = procStat(pid);
  return stat ? stat.start : null;
}

let ownStart: string | null | undefined;
/** This process's start time, read once: it never changes, and a lease is written every cycle. */
function ownProcessStart(): string | null {
  if (ownStart === undefined) ownStart = processStart(process.pid);
  return ownStart;
}

let procReadable: boolean | undefined;
function readableProc(): boolean {
  if (procReadable === undefined) {
    try {
      readFileSync('/proc/self/stat', 'utf8');
      procReadable = true;
    } catch {
      procReadable = false;
    }
  }
  return procReadable;
}

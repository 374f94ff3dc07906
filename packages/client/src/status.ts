import type { SyncState } from '@tillsync/protocol';
import { cycleInProgress } from './cycle-lease.js';
import { StateKey, readCredentials, type StateReader } from './device-state.js';
import type { SyncOutcome } from './sync-log.js';

/**
 * The device's sync state (PROTOCOL.md §4): `synced` after a cycle that succeeded, `syncing` during one,
 * `offline` when the last cycle could not reach the server, `error` when it failed otherwise (refused token,
 * revoked device, a server error), `stopped` when no cycle has run yet (or a worker is stopped), `unpaired`
 * before pairing.
 */
export type { SyncState };

/** The status object that `tillsync status` prints and the device's page shows. */
export interface SyncStatus {
  readonly state: SyncState;
  /** When the last successful cycle ended (ISO time), or `null`. */
  readonly lastSyncedAt: string | null;
  /** Local changes not yet confirmed by the server. */
  readonly pendingChanges: number;
  /** The error of the last cycle, or `null` when it succeeded. */
  readonly lastError: string | null;
}

/**
 * Reads the status from the device file, so another process (`tillsync status`) sees what the last cycle
 * left, and `syncing` while a live process holds the cycle lease.
 */
export function readStatus(
  store: StateReader,
  options: { syncing?: boolean; now?: number } = {},
): SyncStatus {
  const pendingChanges = store.pendingCount();
  const lastSyncedAt = store.getState(StateKey.lastSyncedAt);
  if (!readCredentials(store)) return { state: 'unpaired', lastSyncedAt, pendingChanges, lastError: null };
  const lastError = store.getState(StateKey.lastError);
  if (options.syncing || cycleInProgress(store, options.now)) {
    return { state: 'syncing', lastSyncedAt, pendingChanges, lastError };
  }
  const outcome = store.getState(StateKey.lastOutcome) as SyncOutcome | null;
  return { state: outcome ?? 'stopped', lastSyncedAt, pendingChanges, lastError };
}

/** Whether two statuses say the same. */
export function sameStatus(a: SyncStatus, b: SyncStatus): boolean {
  return (
    a.state === b.state &&
    a.lastSyncedAt === b.lastSyncedAt &&
    a.pendingChanges === b.pendingChanges &&
    a.lastError === b.lastError
  );
}

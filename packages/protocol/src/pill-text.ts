import type { SyncState } from './device-agent-api.js';

/**
 * The words of a device's status pill, shared by the device agent and its page (which imports this module
 * alone, as `@tillsync/protocol/pill-text`, so the page stays free of the rest of the package). Pure: no
 * runtime imports (the state's type is erased), no clock of its own.
 */

/** What {@link pillText} reads of a status: a device's status, or a worker's richer one. */
export interface PillStatus {
  readonly state: SyncState;
  /** ISO time of the last complete sync, or null if there was none. */
  readonly lastSyncedAt: string | null;
  /** The failure as a code; tells an ended session from other errors. */
  readonly lastErrorCode?: string | null;
}

/**
 * The text of the header's status pill for a status at a time: "Synced 12s ago", "Syncing...",
 * "Offline · last sync 3h ago", "Session expired: pair this device again", "Sync stopped". A pure function
 * of its arguments, so a page can call it again every second without asking the agent.
 *
 * @example
 * pillText({ state: 'synced', lastSyncedAt: '2026-11-22T02:31:00.000Z' }, Date.parse('2026-11-22T02:31:12.000Z'));
 * // "Synced 12s ago"
 */
export function pillText(status: PillStatus, now: number): string {
  const lastSync = status.lastSyncedAt === null ? null : Date.parse(status.lastSyncedAt);
  const since = (prefix: string): string =>
    lastSync === null ? `${prefix} · never synced` : `${prefix} · last sync ${formatAge(now - lastSync)}`;
  switch (status.state) {
    case 'unpaired':
      return 'Not paired';
    case 'syncing':
      return 'Syncing...';
    case 'stopped':
      return 'Sync stopped';
    case 'synced':
      return lastSync === null ? 'Synced' : `Synced ${formatAge(now - lastSync)}`;
    case 'offline':
      return since('Offline');
    case 'error':
      // An ended session needs the person to act, and says how; other errors are in the sync log.
      if (status.lastErrorCode === 'SESSION_EXPIRED') return 'Session expired: pair this device again';
      if (status.lastErrorCode === 'DEVICE_REVOKED') return 'This device was removed by the owner';
      // An attached shop program's database refuses a row (docs/adopt.md): the fleet and it differ.
      if (status.lastErrorCode === 'LEGACY_REFUSED') return since('Shop database refused a row');
      return since('Sync error');
  }
}

/**
 * How long ago, as a pill says it: "just now", "12s ago", "5m ago", "3h ago", "4d ago" (rounded down, so a
 * pill never claims a sync fresher than it was).
 */
export function formatAge(ms: number): string {
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  if (seconds < 1) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ago`;
  return `${Math.floor(hours / 24)}d ago`;
}

/**
 * How far a cycle's pull got, in words: "12,000 of 200,000 rows (6%)" during a first sync, whose first
 * page said how many rows to expect, else "12,000 rows". The share stays under 100% until the cycle ends
 * (deletes the server keeps come on top of the rows it counted).
 */
export function pulledText(
  progress: { readonly pulled: number; readonly expected?: number | null },
  locale?: string,
): string {
  const count = new Intl.NumberFormat(locale);
  const expected = progress.expected ?? null;
  if (expected === null || expected <= 0) return `${count.format(progress.pulled)} rows`;
  const percent = Math.min(99, Math.floor((progress.pulled * 100) / expected));
  return `${count.format(progress.pulled)} of ${count.format(expected)} rows (${percent}%)`;
}

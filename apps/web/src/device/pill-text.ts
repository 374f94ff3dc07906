import { shortAge } from '../shared/time.js';
import type { DeviceStatus } from './types.js';

/**
 * The header pill's text, recomputed every second so "Synced 12s ago" keeps counting. The same words as
 * the agent's own `pillText` (packages/client/src/pill-text.ts), which this page cannot import: it talks to
 * the agent over HTTP only.
 */
export function pillText(status: DeviceStatus, now: number): string {
  const lastSync = status.lastSyncedAt === null ? null : Date.parse(status.lastSyncedAt);
  const since = (prefix: string): string =>
    lastSync === null ? `${prefix} · never synced` : `${prefix} · last sync ${shortAge(now - lastSync)}`;
  switch (status.state) {
    case 'unpaired':
      return 'Not paired';
    case 'syncing':
      return 'Syncing...';
    case 'stopped':
      return 'Sync stopped';
    case 'synced':
      return lastSync === null ? 'Synced' : `Synced ${shortAge(now - lastSync)}`;
    case 'offline':
      return since('Offline');
    case 'error':
      if (status.lastErrorCode === 'SESSION_EXPIRED') return 'Session expired: pair this device again';
      if (status.lastErrorCode === 'DEVICE_REVOKED') return 'This device was removed by the owner';
      return since('Sync error');
  }
}

/** The pill's colour: green healthy, yellow busy, red failing, grey idle. */
export function pillTone(status: DeviceStatus): 'green' | 'yellow' | 'red' | 'grey' {
  switch (status.state) {
    case 'synced':
      return 'green';
    case 'syncing':
      return 'yellow';
    case 'offline':
    case 'error':
      return 'red';
    case 'stopped':
    case 'unpaired':
      return 'grey';
  }
}

/** Whether the device needs to be paired again before it can sync (its session ended or it was revoked). */
export function needsPairing(status: DeviceStatus): boolean {
  return (
    status.state === 'error' &&
    (status.lastErrorCode === 'SESSION_EXPIRED' || status.lastErrorCode === 'DEVICE_REVOKED')
  );
}

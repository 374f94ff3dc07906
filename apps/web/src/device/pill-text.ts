import type { DeviceStatus } from './types.js';

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

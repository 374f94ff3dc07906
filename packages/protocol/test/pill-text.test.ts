import { describe, expect, it } from 'vitest';
import { formatAge, pillText, type PillStatus } from '../src/pill-text.js';

const NOW = Date.parse('2026-11-22T12:00:00.000Z');
const ago = (ms: number): string => new Date(NOW - ms).toISOString();

function status(values: Partial<PillStatus> & Pick<PillStatus, 'state'>): PillStatus {
  return { lastSyncedAt: null, lastErrorCode: null, ...values };
}

describe('pillText', () => {
  it('says what the header pill shows for every state', () => {
    expect(pillText(status({ state: 'synced', lastSyncedAt: ago(12_000) }), NOW)).toBe('Synced 12s ago');
    expect(pillText(status({ state: 'synced', lastSyncedAt: ago(400) }), NOW)).toBe('Synced just now');
    expect(pillText(status({ state: 'syncing', lastSyncedAt: ago(5000) }), NOW)).toBe('Syncing...');
    expect(pillText(status({ state: 'offline', lastSyncedAt: ago(3 * 3600_000 + 59_000) }), NOW)).toBe(
      'Offline · last sync 3h ago',
    );
    expect(pillText(status({ state: 'offline' }), NOW)).toBe('Offline · never synced');
    expect(pillText(status({ state: 'stopped', lastSyncedAt: ago(1000) }), NOW)).toBe('Sync stopped');
    expect(pillText(status({ state: 'unpaired' }), NOW)).toBe('Not paired');
  });

  it('tells an ended session, which needs the person to act, from other errors', () => {
    const expired = status({
      state: 'error',
      lastErrorCode: 'SESSION_EXPIRED',
    });
    expect(pillText(expired, NOW)).toBe('Session expired: pair this device again');
    const revoked = status({ state: 'error', lastErrorCode: 'DEVICE_REVOKED', lastSyncedAt: ago(60_000) });
    expect(pillText(revoked, NOW)).toBe('This device was removed by the owner');
    const failed = status({ state: 'error', lastErrorCode: 'INTERNAL', lastSyncedAt: ago(5 * 60_000) });
    expect(pillText(failed, NOW)).toBe('Sync error · last sync 5m ago');
    // An attached shop program's database refused a row: the fleet and it differ until it goes in.
    const refused = status({ state: 'error', lastErrorCode: 'LEGACY_REFUSED', lastSyncedAt: ago(60_000) });
    expect(pillText(refused, NOW)).toBe('Shop database refused a row · last sync 1m ago');
  });
});

describe('formatAge', () => {
  it('rounds down, and never says a sync is in the future', () => {
    expect(
      [0, 999, 1000, 59_999, 60_000, 3599_999, 3600_000, 47 * 3600_000, 48 * 3600_000].map(formatAge),
    ).toEqual([
      'just now',
      'just now',
      '1s ago',
      '59s ago',
      '1m ago',
      '59m ago',
      '1h ago',
      '47h ago',
      '2d ago',
    ]);
    expect(formatAge(-5000)).toBe('just now');
  });
});

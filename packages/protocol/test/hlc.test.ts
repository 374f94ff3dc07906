import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HybridClock, MAX_COUNTER, formatStamp, parseStamp } from '@tillsync/protocol';

describe('HybridClock', () => {
  it('issues stamps that only grow, whatever the wall clock does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4_102_444_800_000 }), { minLength: 1, maxLength: 200 }),
        (walls) => {
          let index = 0;
          const clock = new HybridClock({ nodeId: 'n1', now: () => walls[index++ % walls.length] ?? 0 });
          let previous = '';
          for (let i = 0; i < walls.length; i++) {
            const stamp = clock.issue();
            expect(stamp > previous).toBe(true);
            previous = stamp;
          }
        },
      ),
    );
  });

  it('moves past every stamp it receives', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        fc.integer({ min: 0, max: MAX_COUNTER }),
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        (receivedMs, receivedCounter, wall) => {
          const clock = new HybridClock({ nodeId: 'b', now: () => wall });
          const received = formatStamp({ ms: receivedMs, counter: receivedCounter, nodeId: 'zzz' });
          clock.receive(received);
          const next = clock.issue();
          expect(parseStamp(next)!.ms >= receivedMs).toBe(true);
          const nextParts = parseStamp(next)!;
          const later =
            nextParts.ms > receivedMs || (nextParts.ms === receivedMs && nextParts.counter > receivedCounter);
          expect(later).toBe(true);
        },
      ),
    );
  });

  it('orders stamps as strings exactly as the clock orders them', () => {
    const timestamp = fc.record({
      ms: fc.integer({ min: 0, max: 253_402_300_799_999 }),
      counter: fc.integer({ min: 0, max: MAX_COUNTER }),
      nodeId: fc.stringMatching(/^[a-z0-9]{1,8}$/),
    });
    fc.assert(
      fc.property(timestamp, timestamp, (a, b) => {
        const clockOrder =
          a.ms - b.ms || a.counter - b.counter || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0);
        const sa = formatStamp(a);
        const sb = formatStamp(b);
        const stringOrder = sa < sb ? -1 : sa > sb ? 1 : 0;
        expect(Math.sign(stringOrder)).toBe(Math.sign(clockOrder));
      }),
    );
  });

  it('round-trips stamps and refuses strings that are not stamps', () => {
    const stamp = '2026-11-22T02:31:05.123Z-00ff-till1';
    expect(formatStamp(parseStamp(stamp)!)).toBe(stamp);
    for (const bad of [
      '',
      '2026-11-22T02:31:05Z-0000-a',
      '2026-02-30T00:00:00.000Z-0000-a',
      '2026-11-22T02:31:05.123Z-0000-',
      'x',
    ]) {
      expect(parseStamp(bad)).toBeNull();
    }
  });

  it('resumes from saved state without going back', () => {
    const first = new HybridClock({ nodeId: 'n', now: () => 5_000 });
    first.issue();
    first.issue();
    const resumed = new HybridClock({ nodeId: 'n', now: () => 1_000, state: first.state });
    expect(resumed.issue() > formatStamp({ ms: 5_000, counter: 1, nodeId: 'n' })).toBe(true);
  });
});

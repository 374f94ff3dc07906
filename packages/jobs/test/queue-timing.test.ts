import { intoGroups, jitteredRetryAt, sleep, type JobScheduler } from '@tillsync/jobs';
import { describe, expect, it } from 'vitest';

describe('BullMQ deliveries of many jobs', () => {
  it('groups a round only when it is large, in about even groups, keeping the order', () => {
    const ids = (count: number) => Array.from({ length: count }, (_, index) => index);
    expect(intoGroups(ids(5), 16)).toEqual([[0], [1], [2], [3], [4]]);
    expect(intoGroups(ids(8), 16).every((group) => group.length === 1)).toBe(true);
    const twenty = intoGroups(ids(20), 16);
    expect(twenty).toHaveLength(8);
    expect(twenty.map((group) => group.length).sort()).toEqual([2, 2, 2, 2, 3, 3, 3, 3]);
    const many = intoGroups(ids(1000), 16);
    expect(many).toHaveLength(63);
    expect(Math.max(...many.map((group) => group.length))).toBeLessThanOrEqual(16);
    expect(many.flat()).toEqual(ids(1000));
  });
});

describe('the jobs scheduler', () => {
  it('spreads a retry between once and twice its wait, by the random number given', () => {
    expect(jitteredRetryAt(1_000, 50, () => 0)).toBe(1_050);
    expect(jitteredRetryAt(1_000, 50, () => 0.5)).toBe(1_075);
    const spread = jitteredRetryAt(1_000, 50);
    expect(spread).toBeGreaterThanOrEqual(1_050);
    expect(spread).toBeLessThan(1_100);
  });

  it('waits on the timers it is given, and a nudge ends the wait early', async () => {
    const timers: Array<{ callback: () => void; ms: number; cleared: boolean }> = [];
    const scheduler: JobScheduler = {
      now: () => 0,
      setTimeout: (callback, ms) => timers.push({ callback, ms, cleared: false }) - 1,
      clearTimeout: (handle) => {
        const timer = timers[handle as number];
        if (timer) timer.cleared = true;
      },
      setInterval: () => null,
      clearInterval: () => {},
      random: () => 0,
    };
    let slept = false;
    const waiting = sleep(3_600_000, undefined, scheduler).then(() => (slept = true));
    expect(timers.map((timer) => timer.ms)).toEqual([3_600_000]);
    await Promise.resolve();
    expect(slept).toBe(false);
    timers[0]?.callback();
    await waiting;
    expect(slept).toBe(true);

    let nudge: () => void = () => {};
    const nudged = new Promise<void>((resolve) => (nudge = resolve));
    const early = sleep(3_600_000, nudged, scheduler);
    nudge();
    await early;
    expect(timers[1]?.cleared).toBe(true);
  });
});

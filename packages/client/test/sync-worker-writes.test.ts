import { describe, expect, it } from 'vitest';
import { SyncWorker, type SyncWorkerOptions } from '../src/index.js';
import { FakeDevice } from './fake-device.js';
import { ManualScheduler, settle } from './manual-scheduler.js';

/**
 * Pushing soon after a local write: the worker reads the unsent writes' mark every 200 ms and pushes after a
 * quiet moment, at most a few seconds after the first write of a busy spell. On a fake device and a clock
 * the tests move by hand.
 */

/** A fake device whose unsent writes the test sets (`mark`), as `SyncClient.localWriteMark` tells them. */
class WritingDevice extends FakeDevice {
  mark: string | null = null;
  reads = 0;

  localWriteMark(): string | null {
    this.reads += 1;
    return this.mark;
  }
}

function setup(options: Partial<SyncWorkerOptions> = {}): {
  clock: ManualScheduler;
  device: WritingDevice;
  worker: SyncWorker;
} {
  const clock = new ManualScheduler();
  const device = new WritingDevice(clock);
  const worker = new SyncWorker({
    client: device,
    scheduler: clock,
    live: false,
    statusPollMs: 60_000,
    ...options,
  });
  return { clock, device, worker };
}

const writes = (device: FakeDevice): number =>
  device.triggers.filter((trigger) => trigger === 'write').length;

describe('a local write', () => {
  it('is pushed after a quiet moment of 500 ms, not at the 30 s cycle', async () => {
    const { clock, device, worker } = setup();
    worker.start();
    await settle();
    expect(device.triggers).toEqual(['startup']);

    device.mark = '1:1:100';
    await clock.advance(200); // noticed at the next look
    await clock.advance(450);
    expect(device.triggers).toEqual(['startup']);
    await clock.advance(100);
    expect(device.triggers).toEqual(['startup', 'write']);

    // Nothing new: no more pushes until the interval.
    device.mark = null;
    await clock.advance(5000);
    expect(device.triggers).toEqual(['startup', 'write']);
    await worker.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  it('a burst of writes makes one push; a till writing without pause still pushes every 3 s', async () => {
    const { clock, device, worker } = setup();
    worker.start();
    await settle();
    for (let write = 1; write <= 3; write++) {
      device.mark = `${write}`;
      await clock.advance(200);
    }
    await clock.advance(1000);
    expect(writes(device)).toBe(1);

    for (let write = 4; write <= 53; write++) {
      device.mark = `${write}`;
      await clock.advance(200);
    }
    // 10 s of a write every 200 ms: never quiet, so pushed by the 3 s bound.
    expect(writes(device)).toBeGreaterThanOrEqual(4);
    expect(writes(device)).toBeLessThanOrEqual(5);
    await worker.stop();
  });

  it('joins a cycle in flight: the write waits for it, then one push follows', async () => {
    const { clock, device, worker } = setup();
    device.autoFinish = null;
    worker.start();
    await settle();
    device.mark = 'a';
    await clock.advance(1000);
    expect(device.cycles).toHaveLength(1);
    expect(device.maxConcurrent).toBe(1);
    device.autoFinish = { outcome: 'synced' };
    device.current?.finish();
    await settle();
    expect(device.triggers).toEqual(['startup', 'write']);
    expect(device.maxConcurrent).toBe(1);
    await worker.stop();
  });

  it('offline, a write waits for the backoff instead of pushing at once', async () => {
    const { clock, device, worker } = setup();
    device.autoFinish = { outcome: 'offline' };
    worker.start();
    await settle();
    device.mark = 'x';
    await clock.advance(1000);
    expect(device.triggers).toEqual(['startup']);
    await worker.stop();
  });

  it('with pushOnWrite: false, pushes on its interval only', async () => {
    const { clock, device, worker } = setup({ pushOnWrite: false });
    worker.start();
    await settle();
    device.mark = 'z';
    await clock.advance(5000);
    expect(device.triggers).toEqual(['startup']);
    expect(device.reads).toBe(0);
    await worker.stop();
  });

  it('a stopped worker does not look at the file', async () => {
    const { clock, device, worker } = setup();
    worker.start();
    await settle();
    await worker.stop();
    const reads = device.reads;
    device.mark = 'y';
    await clock.advance(5000);
    expect(device.reads).toBe(reads);
    expect(device.triggers).toEqual(['startup']);
  });
});

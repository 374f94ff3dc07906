import { describe, expect, it } from 'vitest';
import {
  SyncWorker,
  pillText,
  type DeviceLogger,
  type SyncWorkerOptions,
  type WorkerStatus,
} from '../src/index.js';
import { FakeDevice } from './fake-device.js';
import { ManualScheduler, settle } from './manual-scheduler.js';

/**
 * The worker's schedule, start/stop, force sync, backoff, live notices and ended sessions, on a fake device
 * and a clock the tests move by hand: no test sleeps through an interval.
 */

interface Setup {
  readonly clock: ManualScheduler;
  readonly device: FakeDevice;
  readonly worker: SyncWorker;
  readonly statuses: WorkerStatus[];
  readonly logged: Array<{ level: string; message: string }>;
}

function setup(options: Partial<SyncWorkerOptions> = {}): Setup {
  const clock = new ManualScheduler();
  const device = new FakeDevice(clock);
  const logged: Array<{ level: string; message: string }> = [];
  const logger: DeviceLogger = {
    info: (_fields, message) => logged.push({ level: 'info', message }),
    warn: (_fields, message) => logged.push({ level: 'warn', message }),
    error: (_fields, message) => logged.push({ level: 'error', message }),
  };
  const worker = new SyncWorker({
    client: device,
    scheduler: clock,
    logger,
    live: false,
    statusPollMs: 60_000,
    ...options,
  });
  const statuses: WorkerStatus[] = [];
  worker.on('status', (status) => statuses.push(status));
  return { clock, device, worker, statuses, logged };
}

describe('the schedule', () => {
  it('runs the first cycle at once on start, then one every 30 s', async () => {
    const { clock, device, worker } = setup();
    worker.start();
    await settle();
    expect(device.triggers).toEqual(['startup']);
    expect(worker.status).toMatchObject({ state: 'synced', running: true });
    expect(worker.status.nextSyncAt).toBe(new Date(clock.now() + 30_000).toISOString());
    await clock.advance(29_999);
    expect(device.cycles).toHaveLength(1);
    await clock.advance(1);
    expect(device.triggers).toEqual(['startup', 'auto']);
    await clock.advance(60_000);
    expect(device.triggers).toEqual(['startup', 'auto', 'auto', 'auto']);
    await worker.stop();
  });

  it('takes its interval from the options (shopMaster: every 2 minutes)', async () => {
    const { clock, device, worker } = setup({ intervalMs: 120_000 });
    worker.start();
    await clock.advance(119_000);
    expect(device.triggers).toEqual(['startup']);
    await clock.advance(1000);
    expect(device.triggers).toEqual(['startup', 'auto']);
    await worker.stop();
  });

  it('counts the interval from the end of a cycle, so a long first sync is not followed by a second at once', async () => {
    const { clock, device, worker } = setup();
    device.autoFinish = null;
    worker.start();
    await clock.advance(90_000);
    expect(device.cycles).toHaveLength(1);
    expect(worker.status).toMatchObject({ state: 'syncing', nextSyncAt: null });
    device.current?.finish();
    await settle();
    expect(worker.status.nextSyncAt).toBe(new Date(clock.now() + 30_000).toISOString());
    await worker.stop();
  });
});

describe('start and stop', () => {
  it('stop aborts the cycle in flight and leaves no timer and no request; start runs a cycle again at once', async () => {
    const { clock, device, worker } = setup({ live: true });
    device.autoFinish = null;
    worker.start();
    await settle();
    expect(device.cycles).toHaveLength(1);
    expect(device.streams).toHaveLength(1);
    expect(clock.pendingTimers).toBeGreaterThan(0);

    await worker.stop();
    expect(device.cycles[0]?.request.signal?.aborted).toBe(true);
    expect(device.streams[0]?.signal.aborted).toBe(true);
    expect(clock.pendingTimers).toBe(0);
    expect(worker.status).toMatchObject({ state: 'stopped', running: false, nextSyncAt: null, live: false });
    expect(pillText(worker.status, clock.now())).toBe('Sync stopped');
    await clock.advance(10 * 60_000);
    expect(device.cycles).toHaveLength(1);

    device.autoFinish = { outcome: 'synced' };
    worker.start();
    await settle();
    expect(device.triggers).toEqual(['startup', 'startup']);
    expect(worker.status.state).toBe('synced');
    await worker.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  it('starting twice runs one startup cycle; a stopped worker still runs a forced cycle', async () => {
    const { device, worker } = setup();
    worker.start();
    worker.start();
    await settle();
    expect(device.triggers).toEqual(['startup']);
    await worker.stop();
    const entry = await worker.syncNow();
    expect(entry).toMatchObject({ ok: true, trigger: 'force' });
    expect(worker.status).toMatchObject({ state: 'stopped', nextSyncAt: null });
  });

  it('waits while the device is unpaired, and starts once it is', async () => {
    const { clock, device, worker } = setup();
    device.paired = false;
    worker.start();
    await clock.advance(120_000);
    expect(device.cycles).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    expect(worker.status).toMatchObject({ state: 'unpaired', running: false });
    expect(pillText(worker.status, clock.now())).toBe('Not paired');
    device.paired = true;
    worker.start();
    await settle();
    expect(device.triggers).toEqual(['startup']);
    await worker.stop();
  });
});

describe('force sync', () => {
  it('joins a cycle in flight: waits for it, then runs one more, never two at once', async () => {
    const { device, worker } = setup({ live: true });
    device.autoFinish = null;
    worker.start();
    await settle();
    const first = device.current;
    const forced = [worker.syncNow(), worker.syncNow()];
    device.streams[0]?.changes();
    await settle();
    expect(device.cycles).toHaveLength(1);

    first?.finish();
    await settle();
    expect(device.cycles).toHaveLength(2);
    expect(device.cycles[1]?.request.trigger).toBe('force');
    device.cycles[1]?.finish();
    const [a, b] = await Promise.all(forced);
    expect(a).toBe(b);
    expect(a).toMatchObject({ trigger: 'force', ok: true });
    await settle();
    expect(device.cycles).toHaveLength(2);
    expect(device.maxConcurrent).toBe(1);
    await worker.stop();
  });

  it('force pull runs pull-only with discard-local, after the cycle in flight, and answers its entry', async () => {
    const { device, worker } = setup();
    device.autoFinish = null;
    worker.start();
    await settle();
    const pulled = worker.pullNow({ discardLocal: true });
    const synced = worker.syncNow();
    device.current?.finish();
    await settle();
    expect(device.cycles[1]?.request).toMatchObject({
      trigger: 'force-pull',
      pullOnly: true,
      discardLocal: true,
    });
    device.current?.finish();
    expect(await pulled).toMatchObject({ trigger: 'force-pull', mode: 'discard-local' });
    await settle();
    expect(device.cycles[2]?.request.trigger).toBe('force');
    device.current?.finish();
    expect(await synced).toMatchObject({ trigger: 'force', mode: 'sync' });
    expect(device.maxConcurrent).toBe(1);
    await worker.stop();
  });

  it('answers a waiting force sync with "stopped" when the worker is stopped first', async () => {
    const { device, worker } = setup();
    device.autoFinish = null;
    worker.start();
    await settle();
    const forced = worker.syncNow();
    await worker.stop();
    expect(await forced).toMatchObject({ ok: false, outcome: 'stopped', errorCode: 'STOPPED' });
    expect(device.cycles).toHaveLength(1);
  });
});

describe('a server that cannot be reached', () => {
  it('retries sooner with a jittered backoff up to the interval, and keeps its schedule once it answers', async () => {
    const { clock, device, worker, logged } = setup();
    device.autoFinish = { outcome: 'offline', errorCode: 'OFFLINE', error: 'The server cannot be reached' };
    worker.start();
    await settle();
    expect(worker.status.state).toBe('offline');
    // Equal jitter with random() = 0.5: three quarters of 2 s, 4 s, 8 s, 16 s, then of the 30 s cap.
    const waits: number[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const before = device.cycles.length;
      const wait = Date.parse(worker.status.nextSyncAt ?? '') - clock.now();
      waits.push(wait);
      await clock.advance(wait);
      expect(device.cycles).toHaveLength(before + 1);
    }
    expect(waits).toEqual([1500, 3000, 6000, 12_000, 22_500, 22_500]);
    expect(pillText(worker.status, clock.now())).toBe('Offline · never synced');
    expect(logged.filter((line) => line.level === 'warn')).toHaveLength(1);

    device.autoFinish = { outcome: 'synced' };
    await clock.advance(22_500);
    expect(worker.status.state).toBe('synced');
    expect(Date.parse(worker.status.nextSyncAt ?? '') - clock.now()).toBe(30_000);

    device.autoFinish = { outcome: 'offline', errorCode: 'OFFLINE' };
    await clock.advance(30_000);
    await clock.advance(3 * 3600_000 - 30_000);
    expect(pillText(worker.status, clock.now())).toBe('Offline · last sync 3h ago');
    await worker.stop();
  });

  it('syncs at once when the live stream reconnects after the server was down', async () => {
    const { clock, device, worker } = setup({ live: true });
    worker.start();
    await settle();
    device.autoFinish = { outcome: 'offline', errorCode: 'OFFLINE' };
    device.streamFails = new Error('ECONNREFUSED');
    const dropped = device.cycles.length;
    device.streams[0]?.end(new Error('socket hang up'));
    await settle();
    // The dropped stream makes a cycle at once: it finds the server down, and the pill turns red now rather
    // than at the next interval.
    expect(device.triggers.slice(dropped)).toEqual(['live']);
    expect(worker.status.state).toBe('offline');
    await clock.advance(1000);
    expect(worker.status.live).toBe(false);
    device.autoFinish = { outcome: 'synced' };
    device.streamFails = null;
    // The stream's own retries (jittered from 1 s up to 30 s) find the server before the next cycle would.
    await clock.advance(5000);
    expect(worker.status.live).toBe(true);
    expect(device.triggers.at(-1)).toBe('live');
    expect(worker.status.state).toBe('synced');
    await worker.stop();
  });

  it('logs other errors and keeps the schedule', async () => {
    const { clock, device, worker, logged } = setup();
    device.autoFinish = { outcome: 'error', errorCode: 'INTERNAL', error: 'The server answered HTTP 500' };
    worker.start();
    await clock.advance(30_000);
    expect(device.triggers).toEqual(['startup', 'auto']);
    expect(worker.status).toMatchObject({ state: 'error', running: true, lastErrorCode: 'INTERNAL' });
    expect(pillText(worker.status, clock.now())).toBe('Sync error · never synced');
    expect(logged.some((line) => line.message.includes('HTTP 500'))).toBe(true);
    await worker.stop();
  });
});

describe('an ended session', () => {
  for (const [code, message] of [
    ['SESSION_EXPIRED', 'Session expired: pair this device again'],
    ['DEVICE_REVOKED', 'This device was removed by the owner'],
  ] as const) {
    it(`${code}: stops syncing with the state error and "${message}"`, async () => {
      const { clock, device, worker, logged } = setup({ live: true });
      worker.start();
      await clock.advance(30_000);
      device.autoFinish = { outcome: 'error', errorCode: code, error: message };
      await clock.advance(30_000);
      expect(worker.status).toMatchObject({
        state: 'error',
        lastError: message,
        lastErrorCode: code,
        running: false,
        nextSyncAt: null,
        live: false,
      });
      expect(pillText(worker.status, clock.now())).toBe(message);
      expect(logged.some((line) => line.level === 'error' && line.message.includes(message))).toBe(true);
      await settle();
      expect(clock.pendingTimers).toBe(0);
      const cycles = device.cycles.length;
      await clock.advance(3600_000);
      expect(device.cycles).toHaveLength(cycles);

      // Paired again: "Force sync now" goes through and the worker resumes its schedule.
      device.autoFinish = { outcome: 'synced' };
      await worker.syncNow();
      expect(worker.status).toMatchObject({ state: 'synced', running: true });
      await clock.advance(30_000);
      expect(device.cycles).toHaveLength(cycles + 2);
      await worker.stop();
    });
  }
});

describe('live notices', () => {
  it('pull at once, coalesce a burst into one cycle, and reconnect with backoff when the stream drops', async () => {
    const { clock, device, worker } = setup({ live: true });
    worker.start();
    await settle();
    expect(worker.status.live).toBe(true);
    device.streams[0]?.changes();
    await settle();
    expect(device.triggers).toEqual(['startup', 'live']);

    device.autoFinish = null;
    device.streams[0]?.changes();
    await settle();
    for (let index = 0; index < 5; index++) device.streams[0]?.changes();
    await settle();
    device.current?.finish();
    await settle();
    device.current?.finish();
    await settle();
    expect(device.triggers).toEqual(['startup', 'live', 'live', 'live']);
    expect(device.maxConcurrent).toBe(1);

    // Dropped: a cycle at once (is the server still there?); it answers, so the stream reconnects without
    // waiting, with a pull for what was missed meanwhile.
    device.autoFinish = { outcome: 'synced' };
    const dropped = device.triggers.length;
    device.streams[0]?.end(new Error('socket hang up'));
    await settle();
    expect(device.triggers[dropped]).toBe('live');
    await clock.advance(750);
    expect(device.streams).toHaveLength(2);
    expect(worker.status.live).toBe(true);
    expect(device.triggers.at(-1)).toBe('live');
    await worker.stop();
  });

  it('counts a silent stream as dropped', async () => {
    const { clock, device, worker } = setup({ live: true, liveIdleTimeoutMs: 65_000 });
    worker.start();
    await settle();
    await clock.advance(25_000);
    device.streams[0]?.keepAlive();
    await clock.advance(60_000);
    expect(device.streams).toHaveLength(1);
    await clock.advance(5000);
    expect(device.streams[0]?.signal.aborted).toBe(true);
    await clock.advance(1000);
    expect(device.streams).toHaveLength(2);
    await worker.stop();
  });
});

describe('status', () => {
  it('tells listeners of each change once, with the pending count polled while running', async () => {
    const { clock, device, worker, statuses } = setup({ statusPollMs: 1000 });
    device.autoFinish = null;
    worker.start();
    await settle();
    device.current?.finish();
    await settle();
    expect(statuses.map((status) => status.state)).toEqual(['syncing', 'synced']);
    device.pendingChanges = 3;
    await clock.advance(1000);
    expect(statuses.at(-1)).toMatchObject({ state: 'synced', pendingChanges: 3 });
    const count = statuses.length;
    await clock.advance(5000);
    expect(statuses).toHaveLength(count);
    expect(pillText(worker.status, clock.now())).toBe('Synced 6s ago');
    await worker.stop();
    expect(statuses.at(-1)?.state).toBe('stopped');
  });
});

import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_VERSION,
  SyncWorker,
  createSyncClient,
  pillText,
  type SyncClient,
  type SyncLogEntry,
  type SyncWorkerOptions,
} from '../src/index.js';
import { onCleanup } from './helpers.js';
import { ManualScheduler } from './manual-scheduler.js';
import { startTestServer, type TestServer } from './server-fixture.js';

/**
 * The worker on a real server and real device files. The clock is the test's where time matters (token
 * expiry, the schedule): the server and the device read the same {@link ManualScheduler}.
 */

function state(client: SyncClient, key: string): string | null {
  const row = client.database.prepare('SELECT value FROM _sync_state WHERE key = ?').get(key) as
    { value: string } | undefined;
  return row?.value ?? null;
}

function workerFor(client: SyncClient, options: Partial<SyncWorkerOptions> = {}): SyncWorker {
  // These tests count the cycles of the schedule and of the clicks: no push after a write in between.
  const worker = new SyncWorker({ client, statusPollMs: 3600_000, pushOnWrite: false, ...options });
  onCleanup(() => worker.stop());
  return worker;
}

/** The next cycle the worker ends that `matches`. */
function nextCycle(
  worker: SyncWorker,
  matches: (entry: SyncLogEntry) => boolean = () => true,
): Promise<SyncLogEntry> {
  return new Promise((resolve) => {
    const off = worker.on('cycle', (entry) => {
      if (!matches(entry)) return;
      off();
      resolve(entry);
    });
  });
}

async function owner(server: TestServer, path: string, method = 'GET'): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${await server.ownerToken()}` },
  });
}

describe('the worker on a real server, with the test in charge of the clock', () => {
  it('refreshes an expired access token without a sound, cycle after cycle', async () => {
    const clock = new ManualScheduler(Date.now());
    const server = await startTestServer({ now: () => clock.now(), accessTokenTtlSec: 3600 });
    const client = await server.pairedClient('till', { now: () => clock.now() });
    const worker = workerFor(client, { scheduler: clock, intervalMs: 20 * 60_000, live: false });
    const tokens = new Set([state(client, 'refresh_token')]);
    worker.start();
    await worker.idle();
    const entries: SyncLogEntry[] = [];
    worker.on('cycle', (entry) => entries.push(entry));
    for (let step = 0; step < 9; step++) {
      client.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Walk-in')").run(uuidv7());
      await clock.advance(20 * 60_000);
      await worker.idle();
      tokens.add(state(client, 'refresh_token'));
    }
    expect(entries.map((entry) => [entry.trigger, entry.ok, entry.pushed])).toEqual(
      Array.from({ length: 9 }, () => ['auto', true, 1]),
    );
    // Three hours at one hour per token: rotated (about) every hour, never a failed cycle.
    expect(tokens.size).toBeGreaterThanOrEqual(3);
    expect(worker.status).toMatchObject({ state: 'synced', running: true, lastError: null });
  });

  it('halts with "Session expired: pair this device again" when the refresh is refused', async () => {
    const clock = new ManualScheduler(Date.now());
    const server = await startTestServer({ now: () => clock.now(), refreshTokenTtlSec: 3600 });
    const client = await server.pairedClient('till', { now: () => clock.now() });
    const worker = workerFor(client, { scheduler: clock, intervalMs: 30_000 });
    worker.start();
    await worker.idle();
    await worker.stop();
    // Switched off for a day: the refresh token has expired meanwhile.
    await clock.advance(24 * 3600_000);
    worker.start();
    const entry = await nextCycle(worker);
    expect(entry).toMatchObject({ trigger: 'startup', ok: false, errorCode: 'SESSION_EXPIRED' });
    await worker.idle();
    expect(worker.status).toMatchObject({
      state: 'error',
      running: false,
      lastError: 'Session expired: pair this device again',
      nextSyncAt: null,
    });
    expect(pillText(worker.status, clock.now())).toBe('Session expired: pair this device again');
    const cycles = client.syncLog().length;
    await clock.advance(3600_000);
    expect(client.syncLog()).toHaveLength(cycles);
  });

  it('halts with "This device was removed by the owner" once the owner revokes it', async () => {
    const clock = new ManualScheduler(Date.now());
    const server = await startTestServer({ now: () => clock.now() });
    const client = await server.pairedClient('till', { now: () => clock.now() });
    const worker = workerFor(client, { scheduler: clock, intervalMs: 30_000, live: false });
    worker.start();
    await worker.idle();
    const revoked = await owner(server, `/api/devices/${state(client, 'device_id')}/revoke`, 'POST');
    expect(revoked.status).toBe(204);
    await clock.advance(30_000);
    await worker.idle();
    expect(worker.status).toMatchObject({
      state: 'error',
      running: false,
      lastErrorCode: 'DEVICE_REVOKED',
      lastError: 'This device was removed by the owner',
    });
    expect(pillText(worker.status, clock.now())).toBe('This device was removed by the owner');
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('live updates', () => {
  it('show an edit made on one device on another within about a second, not at the next interval', async () => {
    const server = await startTestServer();
    const [d1, d2] = [await server.pairedClient('d1'), await server.pairedClient('d2')];
    const [w1, w2] = [workerFor(d1, { intervalMs: 3600_000 }), workerFor(d2, { intervalMs: 3600_000 })];
    w1.start();
    w2.start();
    await Promise.all([w1.idle(), w2.idle()]);
    await until(() => w2.status.live && w1.status.live);

    const id = uuidv7();
    d1.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Ada')").run(id);
    const started = Date.now();
    const seen = nextCycle(w2, (entry) => entry.trigger === 'live' && entry.pulled > 0);
    await w1.syncNow();
    expect(await seen).toMatchObject({ ok: true, pulled: 1 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(d2.database.prepare('SELECT name FROM customers WHERE id = ?').get(id)).toEqual({ name: 'Ada' });
    // The pushing device is not told about its own push.
    expect(d1.syncLog().filter((entry) => entry.trigger === 'live')).toEqual([]);
  });

  it('fall back to the interval while the stream is down, and catch up when it is back', async () => {
    const server = await startTestServer();
    const [d1, d2] = [await server.pairedClient('d1'), await server.pairedClient('d2')];
    const w2 = workerFor(d2, { intervalMs: 3600_000, liveRetryMaxMs: 200 });
    w2.start();
    await w2.idle();
    await until(() => w2.status.live);
    await server.stop();
    await until(() => !w2.status.live);
    await server.restart();
    // A write pushed while d2's stream was down: d2 pulls it when its stream is back.
    const id = uuidv7();
    d1.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Missed')").run(id);
    expect((await d1.sync()).ok).toBe(true);
    await until(() => d2.database.prepare('SELECT 1 FROM customers WHERE id = ?').get(id) !== undefined);
    expect(w2.status.live).toBe(true);
  });
});

describe('the sync log and the status', () => {
  it('keeps the last cycles with their triggers across a restart of the device', async () => {
    const server = await startTestServer();
    const client = await server.pairedClient('till');
    const dbPath = client.database.name;
    const worker = workerFor(client, { intervalMs: 3600_000, live: false });
    worker.start();
    await worker.idle();
    client.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Ada')").run(uuidv7());
    await worker.syncNow();
    await worker.pullNow({ discardLocal: false });
    await server.stop();
    const offline = await worker.syncNow();
    expect(offline).toMatchObject({ ok: false, outcome: 'offline', errorCode: 'OFFLINE' });
    expect(pillText(worker.status, Date.now())).toMatch(/^Offline · last sync (just now|\ds ago)$/);
    await worker.stop();
    await client.close();

    const reopened = createSyncClient({ dbPath });
    onCleanup(() => reopened.close());
    const log = reopened.syncLog();
    expect(log.map((entry) => [entry.trigger, entry.mode, entry.ok])).toEqual([
      ['force', 'sync', false],
      ['force-pull', 'pull-only', true],
      ['force', 'sync', true],
      ['startup', 'sync', true],
    ]);
    expect(log[0]).toMatchObject({
      errorCode: 'OFFLINE',
      error: expect.stringContaining('cannot be reached'),
    });
    expect(log[2]).toMatchObject({ pushed: 1, rejected: [], repairs: [] });
    expect(reopened.status.state).toBe('offline');

    await server.restart();
    const again = workerFor(reopened, { intervalMs: 3600_000, live: false });
    for (let index = 0; index < 20; index++) await again.syncNow();
    expect(reopened.syncLog(100)).toHaveLength(20);
    expect(pillText(again.status, Date.now())).toBe('Sync stopped');
    again.start();
    await again.idle();
    expect(pillText(again.status, Date.now())).toBe('Synced just now');
  });

  it("reports the app version and the pending count on its calls, for the owner's devices panel", async () => {
    const server = await startTestServer();
    const client = await server.pairedClient('till');
    for (let index = 0; index < 2; index++)
      client.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'x')").run(uuidv7());
    const worker = workerFor(client, { live: false });
    await worker.pullNow();
    const devices = (await (await owner(server, '/api/devices')).json()) as Array<Record<string, unknown>>;
    expect(devices.find((device) => device.name === 'till')).toMatchObject({
      appVersion: CLIENT_VERSION,
      pendingChanges: 2,
      lastSeenAt: expect.any(String),
    });
  });

  it('reports nothing pending once a sync has sent the changes, also on a till revoked and paired again', async () => {
    const server = await startTestServer();
    const client = await server.pairedClient('till');
    const worker = workerFor(client, { live: false });
    const pendingOnPanel = async (): Promise<unknown> => {
      const devices = (await (await owner(server, '/api/devices')).json()) as Array<Record<string, unknown>>;
      return devices.filter((device) => device.name === 'till').map((device) => device.pendingChanges);
    };
    const sell = (count: number): void => {
      for (let index = 0; index < count; index++)
        client.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'x')").run(uuidv7());
    };
    sell(2);
    expect(await worker.syncNow()).toMatchObject({ ok: true, pushed: 2 });
    expect(await pendingOnPanel()).toEqual([0]);

    // Revoked, it keeps three sales; paired again, its first sync sends them, and the panel says so.
    await owner(server, `/api/devices/${state(client, 'device_id')}/revoke`, 'POST');
    sell(3);
    expect(await worker.syncNow()).toMatchObject({ ok: false });
    await client.pair(await server.pairingCode(), { name: 'till' });
    expect(await worker.syncNow()).toMatchObject({ ok: true, pushed: 3 });
    expect(worker.status.pendingChanges).toBe(0);
    expect(await pendingOnPanel()).toEqual([0]);
  });
});

/** Polls `condition` every 10 ms for up to 5 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the condition');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

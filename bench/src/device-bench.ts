import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import BetterSqlite3 from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { SyncWorker, createSyncClient, type SyncClient, type SyncLogEntry } from '@tillsync/client';
import { countFromEnv, ratePerSecond, tempDir, type BenchResult } from './measure.js';
import { percentile, tillWrites, WRITE_EVERY_MS } from './till-writes.js';
import {
  BENCH_EMAIL as EMAIL,
  BENCH_PASSWORD as PASSWORD,
  makeCustomers,
  pairingCode,
  seedCustomers,
  startServeProcess,
  type ServeProcess,
} from './serve-process.js';

/**
 * The device agent: how long an edit takes to show on another device with live updates, and how long a
 * write by the till's program waits while a large first sync runs in the worker. The server runs in a child
 * process (`tillsync serve`), as it would on another machine, so its work does not share the device's event
 * loop.
 *
 * `TILLSYNC_BENCH_DEVICE_ROWS` sets the size of the first sync (default 1,000,000);
 * `TILLSYNC_BENCH_LIVE_ROUNDS` the number of sales timed from one device to the other (default 50).
 */

const ROWS = countFromEnv('TILLSYNC_BENCH_DEVICE_ROWS', 1_000_000);
const LIVE_ROUNDS = countFromEnv('TILLSYNC_BENCH_LIVE_ROUNDS', 50);
type Server = ServeProcess;

async function pairedDevice(server: Server, dir: string, name: string): Promise<SyncClient> {
  const client = createSyncClient({ dbPath: path.join(dir, `${name}.db`), serverUrl: server.url });
  await client.pair(await pairingCode(server), { name, platform: 'bench' });
  return client;
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

/**
 * What a person sees: a sale written with plain SQL by another program (the till's POS) on one device, until
 * it is in the other device's file. Both workers on their default settings: nobody presses Force sync; the
 * first pushes after its quiet moment, the second pulls on the live notice. `LIVE_ROUNDS` times.
 */
async function liveDelay(server: Server, dir: string): Promise<BenchResult[]> {
  const [d1, d2] = [await pairedDevice(server, dir, 'live-1'), await pairedDevice(server, dir, 'live-2')];
  const [w1, w2] = [d1, d2].map((client) => new SyncWorker({ client })) as [SyncWorker, SyncWorker];
  w1.start();
  w2.start();
  await Promise.all([w1.idle(), w2.idle()]);
  while (!w1.status.live || !w2.status.live) await new Promise((resolve) => setTimeout(resolve, 10));
  const pos = new BetterSqlite3(path.join(dir, 'live-1.db'));
  const sell = pos.prepare(
    "INSERT INTO sales (id, customer_id, total_cents, created_at) VALUES (?, NULL, 120, '2026-11-22T09:00:00.000Z')",
  );
  const has = d2.database.prepare('SELECT 1 FROM sales WHERE id = ?');
  const delays: number[] = [];
  const pushCycles: number[] = [];
  const offPush = w1.on('cycle', (entry: SyncLogEntry) => {
    if (entry.trigger === 'write') pushCycles.push(entry.durationMs);
  });
  for (let round = 0; round < LIVE_ROUNDS; round++) {
    const id = uuidv7();
    const started = performance.now();
    sell.run(id);
    while (has.get(id) === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    delays.push(performance.now() - started);
    // Let both workers settle, so each round starts from a quiet till.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  offPush();
  pos.close();
  await Promise.all([w1.stop(), w2.stop()]);
  await Promise.all([d1.close(), d2.close()]);
  const baseline = {
    name: "the selling device's push cycle (median)",
    value: round1(percentile(pushCycles, 50)),
  };
  return [
    {
      name: `live update: a sale written with SQL on one device, in the other's file (p50 of ${LIVE_ROUNDS})`,
      value: round1(percentile(delays, 50)),
      unit: 'ms',
      baseline,
      aim: 'under 1,500 ms (nothing pressed; default settings)',
      higherIsBetter: false,
    },
    {
      name: `live update: the same delay, p99 of ${LIVE_ROUNDS}`,
      value: round1(percentile(delays, 99)),
      unit: 'ms',
      baseline,
      aim: 'under 3,000 ms',
      higherIsBetter: false,
    },
  ];
}

/** A write through the library while a first sync of `ROWS` rows runs, against the same writes at rest. */
async function writeWhileSyncing(server: Server, dir: string): Promise<BenchResult[]> {
  const client = await pairedDevice(server, dir, 'first-sync');
  const idle = tillWrites(client);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const idleWaits = idle.stop();

  const worker = new SyncWorker({ client, intervalMs: 3600_000, live: false });
  const writes = tillWrites(client);
  const started = performance.now();
  const first = new Promise<SyncLogEntry>((resolve) => {
    const off = worker.on('cycle', (entry) => {
      off();
      resolve(entry);
    });
  });
  worker.start();
  const entry = await first;
  const syncMs = performance.now() - started;
  const waits = writes.stop();
  await worker.stop();
  const synced = (client.database.prepare('SELECT count(*) AS n FROM customers').get() as { n: number }).n;
  await client.close();
  // The live rounds wrote sales, not customers.
  if (!entry.ok || synced !== ROWS)
    throw new Error(`the first sync ended ${entry.error ?? 'ok'} with ${synced} rows`);
  const rows = ROWS.toLocaleString('en');
  const baselineName = 'the same writes with no sync running, p99';
  return [
    {
      name: `till write during a first sync of ${rows} rows: wait, p99 (a write every ${WRITE_EVERY_MS} ms)`,
      value: round1(percentile(waits, 99)),
      unit: 'ms',
      baseline: { name: baselineName, value: round1(percentile(idleWaits, 99)) },
      aim: '< 20 ms',
      higherIsBetter: false,
    },
    {
      name: `till write during a first sync of ${rows} rows: longest wait`,
      value: round1(Math.max(...waits)),
      unit: 'ms',
      baseline: {
        name: 'the same writes with no sync running, longest',
        value: round1(Math.max(...idleWaits)),
      },
      higherIsBetter: false,
    },
    {
      name: `first sync of ${rows} rows (pages of 1,000, a write every ${WRITE_EVERY_MS} ms meanwhile)`,
      value: ratePerSecond(ROWS, syncMs),
      unit: 'rows/s',
      higherIsBetter: true,
    },
  ];
}

export async function benchDeviceAgent(): Promise<BenchResult[]> {
  const dir = tempDir('device-agent');
  const server = await startServeProcess(['--db', path.join(dir, 'cloud.db')], {
    TILLSYNC_ADMIN_EMAIL: EMAIL,
    TILLSYNC_ADMIN_PASSWORD: PASSWORD,
  });
  try {
    const live = await liveDelay(server, dir);
    await seedCustomers(server, makeCustomers(ROWS));
    return [...live, ...(await writeWhileSyncing(server, dir))];
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { createSyncClient, type SyncClient } from '@tillsync/client';
import { median, ratePerSecond, tempDir, timeMs, type BenchResult } from './measure.js';
import {
  BENCH_EMAIL as EMAIL,
  BENCH_PASSWORD as PASSWORD,
  makeCustomers,
  pairingCode,
  seedCustomers,
  startServeProcess,
  type ServeProcess,
} from './serve-process.js';

/** First syncs measured; `TILLSYNC_BENCH_FIRST_SYNC_ROWS=100000` keeps a run short. */
const FIRST_SYNC_SIZES = (process.env.TILLSYNC_BENCH_FIRST_SYNC_ROWS ?? '100000,1000000')
  .split(',')
  .map((size) => Number(size));
const CAPTURE_WRITES = 5_000;
const CYCLE_ROUNDS = 15;

/** Raw better-sqlite3: the same number of customer rows, in transactions of a pull page. */
function rawInsertRate(dir: string, count: number): number {
  const db = new BetterSqlite3(path.join(dir, `raw-${count}.db`));
  db.pragma('journal_mode = WAL');
  db.exec(
    'CREATE TABLE customers (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, phone TEXT, email TEXT)',
  );
  const insert = db.prepare('INSERT INTO customers (id, name, phone, email) VALUES (?, ?, ?, ?)');
  const page = db.transaction((from: number, to: number) => {
    for (let index = from; index < to; index++) {
      insert.run(uuidv7(), `Customer ${index}`, '+44 20 7946 0000', `customer${index}@example.com`);
    }
  });
  const started = process.hrtime.bigint();
  for (let start = 0; start < count; start += 1000) page(start, Math.min(count, start + 1000));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  db.close();
  return ratePerSecond(count, ms);
}

async function pairedClient(server: ServeProcess, dbPath: string): Promise<SyncClient> {
  const client = createSyncClient({ dbPath, serverUrl: server.url });
  await client.pair(await pairingCode(server), { name: 'bench device' });
  return client;
}

export async function benchClient(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const size of FIRST_SYNC_SIZES) {
    const dir = tempDir(`first-sync-${size}`);
    const server = await startServeProcess(['--db', path.join(dir, 'cloud.db')], {
      TILLSYNC_ADMIN_EMAIL: EMAIL,
      TILLSYNC_ADMIN_PASSWORD: PASSWORD,
    });
    try {
      await seedCustomers(server, makeCustomers(size));
      const baseline = rawInsertRate(dir, size);
      const client = await pairedClient(server, path.join(dir, 'device.db'));
      let pulled = 0;
      const ms = await timeMs(async () => {
        const summary = await client.sync();
        if (!summary.ok) throw new Error(`first sync failed: ${summary.error ?? ''}`);
        pulled = summary.pulled;
      });
      await client.close();
      if (pulled !== size) throw new Error(`first sync pulled ${pulled} of ${size} rows`);
      results.push({
        name: `first sync of ${size.toLocaleString('en')} rows on a fresh device (server in another process)`,
        value: ratePerSecond(size, ms),
        unit: 'rows/s',
        baseline: { name: 'raw better-sqlite3 insert of as many rows', value: baseline },
        aim: size >= 1_000_000 ? '≥ 0.5 of the raw rate; under 10 s' : '≥ 0.5 of the raw rate',
        higherIsBetter: true,
      });
    } finally {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const dir = tempDir('client');
  const server = await startServeProcess(['--db', path.join(dir, 'cloud.db')], {
    TILLSYNC_ADMIN_EMAIL: EMAIL,
    TILLSYNC_ADMIN_PASSWORD: PASSWORD,
  });
  try {
    const client = await pairedClient(server, path.join(dir, 'device.db'));
    await client.sync();
    const db = client.database;
    // The same row written to a synced table (captured by triggers) and to a plain copy of it (not).
    db.exec(
      'CREATE TABLE plain_customers (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, phone TEXT, email TEXT)',
    );
    const captured = db.prepare('INSERT INTO customers (id, name, phone, email) VALUES (?, ?, ?, ?)');
    const bare = db.prepare('INSERT INTO plain_customers (id, name, phone, email) VALUES (?, ?, ?, ?)');
    const writeEach = (statement: BetterSqlite3.Statement): number => {
      const started = process.hrtime.bigint();
      for (let index = 0; index < CAPTURE_WRITES; index++) statement.run(uuidv7(), `c${index}`, '1', 'e@x');
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const bareMs = Math.min(writeEach(bare), writeEach(bare));
    const capturedMs = Math.min(writeEach(captured), writeEach(captured));
    results.push({
      name: `captured write (one-row INSERT, autocommit, ${CAPTURE_WRITES.toLocaleString('en')} writes)`,
      value: Math.round(((capturedMs * 1000) / CAPTURE_WRITES) * 10) / 10,
      unit: 'µs',
      baseline: {
        name: 'the same write to an uncaptured table',
        value: Math.round(((bareMs * 1000) / CAPTURE_WRITES) * 10) / 10,
      },
      aim: '≤ 1.5× a bare write',
      higherIsBetter: false,
    });

    await client.sync();
    const idle: number[] = [];
    for (let round = 0; round < CYCLE_ROUNDS; round++)
      idle.push(await timeMs(async () => void (await client.sync())));
    results.push({
      name: `a cycle with nothing to do (median of ${CYCLE_ROUNDS}, loopback)`,
      value: Math.round(median(idle) * 10) / 10,
      unit: 'ms',
      aim: 'under 5 ms',
      higherIsBetter: false,
    });

    const busy: number[] = [];
    for (let round = 0; round < 5; round++) {
      const insertMany = db.transaction(() => {
        for (let index = 0; index < 1000; index++) captured.run(uuidv7(), `p${round}-${index}`, '1', 'e@x');
      });
      insertMany();
      busy.push(
        await timeMs(async () => {
          const summary = await client.sync();
          if (summary.pushed !== 1000) throw new Error(`pushed ${summary.pushed}`);
        }),
      );
    }
    results.push({
      name: 'a cycle pushing 1,000 pending rows (median of 5)',
      value: Math.round(median(busy) * 10) / 10,
      unit: 'ms',
      aim: 'under 100 ms',
      higherIsBetter: false,
    });
    await client.close();
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

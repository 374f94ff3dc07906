import fs from 'node:fs';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import type { SyncClient } from '@tillsync/client';
import { benchFirstSyncShapes, pairedClient, rawCustomersDb } from './first-sync-bench.js';
import { median, ratePerSecond, tempDir, timeMs, type BenchResult } from './measure.js';
import {
  BENCH_EMAIL as EMAIL,
  BENCH_PASSWORD as PASSWORD,
  makeCustomers,
  seedCustomers,
  startServeProcess,
} from './serve-process.js';

/** First syncs measured; `TILLSYNC_BENCH_FIRST_SYNC_ROWS=100000` keeps a run short. */
const FIRST_SYNC_SIZES = (process.env.TILLSYNC_BENCH_FIRST_SYNC_ROWS ?? '100000,1000000')
  .split(',')
  .map((size) => Number(size));
const CAPTURE_WRITES = 5_000;
const CYCLE_ROUNDS = 15;

/** Raw better-sqlite3: the same number of customer rows, in transactions of a pull page. */
function rawInsertRate(dir: string, count: number): number {
  const db = rawCustomersDb(path.join(dir, `raw-${count}.db`));
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

/**
 * What capture costs a till's write: the same one-row write, autocommit, to a synced table (captured by the
 * triggers into the outbox) and to a plain copy of it (not). An INSERT, and an UPDATE of one column of a
 * row the server has, the hot path of a sale (each row updated once: its first write since the last sync,
 * which adds its outbox entry and notes the column).
 */
async function benchCapture(client: SyncClient): Promise<BenchResult[]> {
  const db = client.database;
  db.exec(
    'CREATE TABLE plain_customers (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, phone TEXT, email TEXT)',
  );
  const statements = {
    captured: {
      insert: db.prepare('INSERT INTO customers (id, name, phone, email) VALUES (?, ?, ?, ?)'),
      update: db.prepare('UPDATE customers SET phone = ? WHERE id = ?'),
    },
    bare: {
      insert: db.prepare('INSERT INTO plain_customers (id, name, phone, email) VALUES (?, ?, ?, ?)'),
      update: db.prepare('UPDATE plain_customers SET phone = ? WHERE id = ?'),
    },
  };
  const ids = { captured: [] as string[][], bare: [] as string[][] };
  const microseconds = (ms: number): number => Math.round(((ms * 1000) / CAPTURE_WRITES) * 10) / 10;
  /** The faster of two rounds of writes, in ms. */
  const rounds = (write: (round: number, index: number) => void): number => {
    let best = Infinity;
    for (let round = 0; round < 2; round++) {
      const started = process.hrtime.bigint();
      for (let index = 0; index < CAPTURE_WRITES; index++) write(round, index);
      best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e6);
    }
    return best;
  };
  const insertRound = (kind: 'captured' | 'bare'): number =>
    rounds((round, index) => {
      const id = uuidv7();
      (ids[kind][round] ??= []).push(id);
      statements[kind].insert.run(id, `c${index}`, '1', 'e@x');
    });
  const updateRound = (kind: 'captured' | 'bare'): number =>
    rounds((round, index) => statements[kind].update.run('2', ids[kind][round]![index]));

  const bareInsert = insertRound('bare');
  const capturedInsert = insertRound('captured');
  // The inserted rows go to the server, so each update below is a row's first change since a sync.
  const summary = await client.sync();
  if (!summary.ok) throw new Error(`the sync before the update bench failed: ${summary.error ?? ''}`);
  const bareUpdate = updateRound('bare');
  const capturedUpdate = updateRound('captured');
  const stock = await benchStockUpdate(client);
  const results: BenchResult[] = [
    {
      name: `captured write (one-row INSERT, autocommit, ${CAPTURE_WRITES.toLocaleString('en')} writes)`,
      value: microseconds(capturedInsert),
      unit: 'µs',
      baseline: { name: 'the same write to an uncaptured table', value: microseconds(bareInsert) },
      aim: '≤ 1.5× a bare write',
      higherIsBetter: false,
    },
    {
      name: `captured write (one-column UPDATE of a synced row, autocommit, ${CAPTURE_WRITES.toLocaleString('en')} writes)`,
      value: microseconds(capturedUpdate),
      unit: 'µs',
      baseline: { name: 'the same write to an uncaptured table', value: microseconds(bareUpdate) },
      aim: '≤ 1.5× a bare write',
      higherIsBetter: false,
    },
    {
      name: `captured write (a sale's stock UPDATE of a synced product, a counter, no searched text, autocommit, ${CAPTURE_WRITES.toLocaleString('en')} writes)`,
      value: microseconds(stock.captured),
      unit: 'µs',
      baseline: { name: 'the same write to an uncaptured table', value: microseconds(stock.bare) },
      aim: '≤ 1.5× a bare write',
      higherIsBetter: false,
    },
  ];
  return results;
}

/**
 * The write a sale makes: `stock = stock - 1` of a product the server has, to the synced table (captured,
 * its counter's base noted) and to a plain copy of it. Unlike a customer's phone, no searched text changes,
 * so this is the capture's cost alone, without the search index's.
 */
async function benchStockUpdate(client: SyncClient): Promise<{ captured: number; bare: number }> {
  const db = client.database;
  db.exec(
    'CREATE TABLE plain_products (id TEXT PRIMARY KEY NOT NULL, sku TEXT NOT NULL, name TEXT NOT NULL, price_cents INTEGER NOT NULL, stock INTEGER NOT NULL, category_id TEXT, active INTEGER DEFAULT 1)',
  );
  const ids: string[] = [];
  const insert = {
    captured: db.prepare(
      'INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, ?, ?, 100, 1000)',
    ),
    bare: db.prepare(
      'INSERT INTO plain_products (id, sku, name, price_cents, stock) VALUES (?, ?, ?, 100, 1000)',
    ),
  };
  db.transaction(() => {
    for (let index = 0; index < CAPTURE_WRITES * 2; index++) {
      const id = uuidv7();
      ids.push(id);
      insert.captured.run(id, `SKU-${index}`, `Product ${index}`);
      insert.bare.run(id, `SKU-${index}`, `Product ${index}`);
    }
  })();
  const summary = await client.sync();
  if (!summary.ok) throw new Error(`the sync before the stock bench failed: ${summary.error ?? ''}`);
  const update = {
    captured: db.prepare('UPDATE products SET stock = stock - 1 WHERE id = ?'),
    bare: db.prepare('UPDATE plain_products SET stock = stock - 1 WHERE id = ?'),
  };
  const round = (kind: 'captured' | 'bare', from: number): number => {
    const started = process.hrtime.bigint();
    for (let index = from; index < from + CAPTURE_WRITES; index++) update[kind].run(ids[index]);
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  // Each row's first change since the sync, two rounds per table (the faster counts).
  const bare = Math.min(round('bare', 0), round('bare', CAPTURE_WRITES));
  const captured = Math.min(round('captured', 0), round('captured', CAPTURE_WRITES));
  return { captured, bare };
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
  // The same first sync on real shapes: random ids, and a shop whose old rows were edited and deleted.
  results.push(...(await benchFirstSyncShapes()));

  const dir = tempDir('client');
  const server = await startServeProcess(['--db', path.join(dir, 'cloud.db')], {
    TILLSYNC_ADMIN_EMAIL: EMAIL,
    TILLSYNC_ADMIN_PASSWORD: PASSWORD,
  });
  try {
    const client = await pairedClient(server, path.join(dir, 'device.db'));
    await client.sync();
    results.push(...(await benchCapture(client)));

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

    const db = client.database;
    const captured = db.prepare('INSERT INTO customers (id, name, phone, email) VALUES (?, ?, ?, ?)');
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

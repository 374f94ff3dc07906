import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { formatStamp, type Change } from '@tillsync/protocol';
import { createSyncClient, type SyncClient, type SyncClientOptions } from '@tillsync/client';
import { countFromEnv, ratePerSecond, tempDir, timeMs, type BenchResult } from './measure.js';
import { percentile, tillWrites, WRITE_EVERY_MS } from './till-writes.js';
import {
  BENCH_EMAIL as EMAIL,
  BENCH_PASSWORD as PASSWORD,
  customerChanges,
  makeCustomers,
  pairedDeviceToken,
  pairingCode,
  pushChanges,
  startServeProcess,
  type BenchCustomer,
  type ServeProcess,
} from './serve-process.js';

/** Rows of the real-shape first syncs (issue 20); `TILLSYNC_BENCH_SHAPE_ROWS=2000` for a quick run. */
const SHAPE_ROWS = countFromEnv('TILLSYNC_BENCH_SHAPE_ROWS', 1_000_000);

/** A raw SQLite file with the device's `customers` table and nothing else (no sync). */
export function rawCustomersDb(file: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.exec(
    'CREATE TABLE customers (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, phone TEXT, email TEXT)',
  );
  return db;
}

/**
 * The physical floor of a first sync: raw better-sqlite3 inserting the same rows sorted by key, in one
 * transaction, in rows/s.
 */
async function sortedRawInsertRate(dir: string, customers: readonly BenchCustomer[]): Promise<number> {
  const db = rawCustomersDb(path.join(dir, 'raw-sorted.db'));
  const insert = db.prepare('INSERT INTO customers (id, name, phone, email) VALUES (?, ?, ?, ?)');
  const sorted = [...customers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const all = db.transaction(() => {
    for (const customer of sorted) insert.run(customer.id, customer.name, customer.phone, customer.email);
  });
  const ms = await timeMs(() => all());
  db.close();
  return ratePerSecond(customers.length, ms);
}

export async function pairedClient(
  server: ServeProcess,
  dbPath: string,
  options: Partial<SyncClientOptions> = {},
): Promise<SyncClient> {
  const client = createSyncClient({ dbPath, serverUrl: server.url, ...options });
  await client.pair(await pairingCode(server), { name: 'bench device' });
  return client;
}

/**
 * A fresh device's first sync from `server`, in ms, while the till writes a sale every 10 ms through the same
 * file (`waits`: how long each waited past its time; `idleWaits`: the same writes for a second before the
 * sync, at rest). The device must end with `liveRows` customers.
 */
export async function timedFirstSync(
  server: ServeProcess,
  dir: string,
  liveRows: number,
): Promise<{ ms: number; waits: number[]; idleWaits: number[] }> {
  const client = await pairedClient(server, path.join(dir, 'device.db'));
  try {
    const idle = tillWrites(client);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idleWaits = idle.stop();
    const writes = tillWrites(client);
    const ms = await timeMs(async () => {
      const summary = await client.sync();
      if (!summary.ok) throw new Error(`first sync failed: ${summary.error ?? ''}`);
    });
    const waits = writes.stop();
    const row = client.database.prepare('SELECT count(*) AS n FROM customers').get() as { n: number };
    if (row.n !== liveRows) throw new Error(`the first sync left ${row.n} customers, not ${liveRows}`);
    return { ms, waits, idleWaits };
  } finally {
    await client.close();
  }
}

/** `items` in a random order (Fisher–Yates). */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let index = out.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [out[index], out[other]] = [out[other] as T, out[index] as T];
  }
  return out;
}

/** Shape (b) of issue 20: a mature shop's customers, and what happened to them, in order. */
export interface MatureShop {
  /** Every customer, made in id order (UUIDv7). */
  readonly made: readonly BenchCustomer[];
  /** Half of them, edited (a new phone), in random order. */
  readonly edited: readonly BenchCustomer[];
  /** A tenth of them, deleted after the edits, in random order. */
  readonly deleted: readonly BenchCustomer[];
  /** The customers left, with their edits: what a device holds after a first sync. */
  readonly live: readonly BenchCustomer[];
}

/** `count` customers made in id order, then 50 % edited in random order and 10 % deleted. */
export function matureShop(count: number): MatureShop {
  const made = makeCustomers(count);
  const edited = shuffled(made)
    .slice(0, Math.floor(count / 2))
    .map((customer) => ({ ...customer, phone: `${customer.phone} ext. 2` }));
  const deleted = shuffled(made).slice(0, Math.floor(count / 10));
  const gone = new Set(deleted.map((customer) => customer.id));
  const edits = new Map(edited.map((customer) => [customer.id, customer]));
  const live = made
    .filter((customer) => !gone.has(customer.id))
    .map((customer) => edits.get(customer.id) ?? customer);
  return { made, edited, deleted, live };
}

/** One shape of a shop's server: what it is called, and how its rows are put on the server. */
interface Shape {
  readonly name: string;
  /** Puts the rows on `server` and returns the customers a fresh device must end with. */
  seed(server: ServeProcess, count: number): Promise<readonly BenchCustomer[]>;
}

const SHAPES: readonly Shape[] = [
  {
    name: 'random UUIDv4 ids',
    async seed(server, count) {
      const customers = makeCustomers(count, randomUUID);
      await pushChanges(
        server,
        await pairedDeviceToken(server, 'seeder'),
        customerChanges(customers, 0, Date.now() - 60_000),
      );
      return customers;
    },
  },
  {
    name: 'a mature shop: made in id order, then 50 % edited in random order and 10 % deleted',
    async seed(server, count) {
      const shop = matureShop(count);
      await seedMatureShop(server, shop);
      return shop.live;
    },
  },
];

/** Puts `shop` on `server` as one device made it: the rows, then the edits, then the deletes. */
export async function seedMatureShop(server: ServeProcess, shop: MatureShop): Promise<void> {
  const token = await pairedDeviceToken(server, 'seeder');
  const made = Date.now() - 120_000;
  await pushChanges(server, token, customerChanges(shop.made, 0, made));
  await pushChanges(server, token, customerChanges(shop.edited, 0, made + 60_000));
  const deletes: Change[] = shop.deleted.map((customer, index) => ({
    table: 'customers',
    id: customer.id,
    op: 'delete',
    updatedAt: formatStamp({
      ms: made + 90_000,
      counter: index % 0xffff,
      nodeId: `gone${Math.floor(index / 0xffff)}`,
    }),
  }));
  await pushChanges(server, token, deletes);
}

/**
 * First syncs of real shapes (issue 20), beside the ones in creation order: each a fresh device pulling
 * SHAPE_ROWS rows, beside raw better-sqlite3 inserting the rows it ends with, sorted by key, in one
 * transaction (the physical floor).
 */
export async function benchFirstSyncShapes(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const shape of SHAPES) {
    const dir = tempDir('first-sync-shape');
    const server = await startServeProcess(['--db', path.join(dir, 'cloud.db')], {
      TILLSYNC_ADMIN_EMAIL: EMAIL,
      TILLSYNC_ADMIN_PASSWORD: PASSWORD,
    });
    try {
      const live = await shape.seed(server, SHAPE_ROWS);
      const baseline = await sortedRawInsertRate(dir, live);
      const { ms, waits, idleWaits } = await timedFirstSync(server, dir, live.length);
      const name = `first sync of ${SHAPE_ROWS.toLocaleString('en')} rows, ${shape.name} (${live.length.toLocaleString('en')} live)`;
      results.push({
        name,
        value: ratePerSecond(live.length, ms),
        unit: 'rows/s',
        baseline: {
          name: 'raw better-sqlite3 insert of the same rows sorted by key, one transaction',
          value: baseline,
        },
        aim:
          SHAPE_ROWS >= 1_000_000
            ? '≥ 0.5 of the sorted raw rate; under 10 s'
            : '≥ 0.5 of the sorted raw rate',
        higherIsBetter: true,
      });
      results.push({
        name: `${name}: its time`,
        value: Math.round(ms),
        unit: 'ms',
        ...(SHAPE_ROWS >= 1_000_000 ? { aim: 'under 10,000 ms' } : {}),
        higherIsBetter: false,
      });
      results.push({
        name: `till write during it: wait, p99 (a write every ${WRITE_EVERY_MS} ms)`,
        value: Math.round(percentile(waits, 99) * 10) / 10,
        unit: 'ms',
        baseline: {
          name: 'the same writes with no sync running, p99',
          value: Math.round(percentile(idleWaits, 99) * 10) / 10,
        },
        aim: '< 20 ms',
        higherIsBetter: false,
      });
    } finally {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { beforeAll, describe, expect, it } from 'vitest';
import { PENDING_COUNT_SQL } from '../src/device-state.js';
import { createSyncClient, type SyncClient } from '../src/index.js';
import { onCleanup, seededRandom, tempFolder } from './helpers.js';
import { startTestServer, type TestServer } from './server-fixture.js';

/**
 * A device killed (SIGKILL, a real child process running `tillsync sync`) at random points of a push and of
 * a large pull, then synced again, loses nothing and ends identical to the others. The child runs the built
 * CLI, so run `npx tsc -b` first (`npm test` does).
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(ROOT, 'packages/cli/bin/tillsync.js');
const SEED = Number(process.env.TILLSYNC_SEED ?? Date.now() % 100_000);

/** When to kill the child: once `started()` is true (polled every 5 ms), after `delayMs` more. */
interface KillPlan {
  readonly started: () => boolean;
  readonly delayMs: number;
}

/** Runs `tillsync sync` on a device file, and kills it (SIGKILL) as planned unless it ends first. */
function runSync(
  dbPath: string,
  plan?: KillPlan,
): Promise<{ killed: boolean; code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'sync', '--db', dbPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let killed = false;
    let exited = false;
    let timer: NodeJS.Timeout | undefined;
    const poll = plan
      ? setInterval(() => {
          if (exited || !plan.started()) return;
          clearInterval(poll);
          timer = setTimeout(() => {
            if (!exited) killed = child.kill('SIGKILL');
          }, plan.delayMs);
        }, 5)
      : undefined;
    child.on('error', reject);
    child.on('exit', (code) => {
      exited = true;
      clearInterval(poll);
      clearTimeout(timer);
      if (!killed && code !== 0) reject(new Error(`tillsync sync exited ${code}: ${stdout} ${stderr}`));
      else resolve({ killed, code, stdout });
    });
  });
}

function count(dbPath: string, sql: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    db.pragma('busy_timeout = 10000');
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function dump(client: SyncClient, tables: readonly string[]): Record<string, unknown[]> {
  return Object.fromEntries(
    tables.map((table) => [table, client.database.prepare(`SELECT * FROM ${table} ORDER BY id`).all()]),
  );
}

/** Pairs a device file in this process and closes it, for a child process to sync. */
async function pairedFile(server: TestServer, name: string): Promise<string> {
  const dbPath = path.join(tempFolder(), `${name}.db`);
  const client = createSyncClient({ dbPath, serverUrl: server.url });
  await client.pair(await server.pairingCode(), { name });
  await client.close();
  return dbPath;
}

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'packages/cli/dist/main.js'))) {
    throw new Error('the CLI is not built: run `npx tsc -b` first');
  }
});

describe(`a device killed mid-sync (seed ${SEED}; replay with TILLSYNC_SEED=${SEED})`, () => {
  it('loses nothing of a push killed at random points, and counts every sale once', async () => {
    const next = seededRandom(SEED);
    const server = await startTestServer();
    const dbPath = await pairedFile(server, 'till');
    const db = new Database(dbPath);
    db.pragma('busy_timeout = 10000');
    onCleanup(() => db.close());
    const products = Array.from({ length: 50 }, () => uuidv7());
    const expected = new Map<string, number>();
    db.transaction(() => {
      for (const id of products) {
        db.prepare(
          "INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, ?, 'p', 100, 1000)",
        ).run(id, `SKU-${id}`);
        expected.set(id, 1000);
      }
    })();
    const writeSome = (customers: number, sales: number): void => {
      db.transaction(() => {
        for (let i = 0; i < customers; i++)
          db.prepare("INSERT INTO customers (id, name) VALUES (?, 'c')").run(uuidv7());
        for (let i = 0; i < sales; i++) {
          const product = products[Math.floor(next() * products.length)]!;
          const quantity = 1 + Math.floor(next() * 5);
          db.prepare('UPDATE products SET stock = stock - ? WHERE id = ?').run(quantity, product);
          expected.set(product, (expected.get(product) ?? 0) - quantity);
        }
      })();
    };

    let landedMidPush = 0;
    for (let round = 0; round < 6; round++) {
      writeSome(3000, 300);
      const pendingBefore = count(dbPath, PENDING_COUNT_SQL);
      // Killed at a random point once the first push is on its way: every other round within its round trip
      // (it carries the products, so their deltas are on the wire), else anywhere in the rest of the push.
      const run = await runSync(dbPath, {
        started: () =>
          count(dbPath, 'SELECT count(*) AS n FROM _sync_push') > 0 ||
          count(dbPath, PENDING_COUNT_SQL) < pendingBefore,
        delayMs: Math.floor(next() * (round % 2 === 0 ? 40 : 400)),
      });
      const pendingAfter = count(dbPath, PENDING_COUNT_SQL);
      const inFlight = count(dbPath, 'SELECT count(*) AS n FROM _sync_push');
      if (run.killed && (inFlight > 0 || (pendingAfter > 0 && pendingAfter < pendingBefore)))
        landedMidPush += 1;
      // A sale made between the kill and the restart is counted too.
      writeSome(10, 20);
    }
    const final = await runSync(dbPath);
    expect(JSON.parse(final.stdout)).toMatchObject({ ok: true });
    expect(landedMidPush, 'no kill landed in the middle of a push; the test proved nothing').toBeGreaterThan(
      0,
    );
    expect(count(dbPath, PENDING_COUNT_SQL)).toBe(0);

    const observer = await server.pairedClient('observer');
    await observer.sync();
    const till = createSyncClient({ dbPath });
    onCleanup(() => till.close());
    await till.sync();
    expect(dump(till, ['products', 'customers'])).toEqual(dump(observer, ['products', 'customers']));
    expect(observer.database.prepare('SELECT count(*) AS n FROM customers').get()).toEqual({ n: 6 * 3010 });
    const stock = Object.fromEntries(
      (
        observer.database.prepare('SELECT id, stock FROM products').all() as { id: string; stock: number }[]
      ).map((row) => [row.id, row.stock]),
    );
    expect(stock).toEqual(Object.fromEntries(expected));
  });

  it('loses nothing of a large first pull killed at random points, with random ids edited meanwhile', async () => {
    const next = seededRandom(SEED + 1);
    const server = await startTestServer();
    const source = await server.pairedClient('source', { pushBatchSize: 5000 });
    const total = 30_000;
    // Random (UUIDv4) ids: the snapshot's key order is not the order they were written in.
    const ids = Array.from({ length: total }, () => randomUUID());
    const insert = source.database.prepare("INSERT INTO customers (id, name, phone) VALUES (?, ?, '555')");
    source.database.transaction(() => {
      ids.forEach((id, index) => insert.run(id, `bulk ${index}`));
    })();
    expect(await source.sync()).toMatchObject({ ok: true, pushed: total });

    const dbPath = await pairedFile(server, 'fresh');
    let landedMidPull = 0;
    for (let round = 0; round < 3; round++) {
      const before = count(dbPath, 'SELECT count(*) AS n FROM customers');
      // Killed at a random point once the pull has started applying pages.
      const run = await runSync(dbPath, {
        started: () => count(dbPath, 'SELECT count(*) AS n FROM customers') > before,
        delayMs: Math.floor(next() * 150),
      });
      const after = count(dbPath, 'SELECT count(*) AS n FROM customers');
      if (run.killed && after > before && after < total) landedMidPull += 1;
      // Between the kills, old rows are edited and deleted and new ones made: rows the snapshot delivered
      // and rows it has still to deliver.
      source.database.transaction(() => {
        for (let index = 0; index < 300; index++) {
          const id = ids[Math.floor(next() * ids.length)] ?? '';
          if (next() < 0.3) source.database.prepare('DELETE FROM customers WHERE id = ?').run(id);
          else
            source.database.prepare('UPDATE customers SET phone = ? WHERE id = ?').run(`edit ${round}`, id);
        }
        insert.run(randomUUID(), `new in round ${round}`);
      })();
      expect(await source.sync()).toMatchObject({ ok: true });
    }
    const final = await runSync(dbPath);
    expect(JSON.parse(final.stdout)).toMatchObject({ ok: true });
    expect(
      landedMidPull,
      'no kill landed in the middle of the pull; the test proved nothing',
    ).toBeGreaterThan(0);
    const fresh = createSyncClient({ dbPath });
    onCleanup(() => fresh.close());
    expect(await fresh.sync()).toMatchObject({ ok: true, pulled: 0 });
    expect(dump(fresh, ['customers'])).toEqual(dump(source, ['customers']));
    // The snapshot ended at the server's state by itself: no table's checksum differed after it (a
    // snapshot begun again from the start sweeps as a resync, 'resumed', and matches).
    for (const entry of fresh.syncLog(10))
      for (const repair of entry.repairs) expect(repair).toMatchObject({ reason: 'resumed', matched: true });
  });
});

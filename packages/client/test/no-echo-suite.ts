import fs from 'node:fs';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import type { ServerOptions } from '@tillsync/server';
import { createSyncClient, type FetchFunction, type SyncClient } from '../src/index.js';
import { onCleanup, tempFolder } from './helpers.js';
import { startTestServer, type TestServer } from './server-fixture.js';

/** The server's storage for a test: SQLite by default, or a database made for it (`databaseUrl`). */
export type ServerStorage = () => Promise<Partial<ServerOptions>>;

/** A `fetch` that adds the number of changes of every pull answer to `counts`: the rows sent on the wire. */
function countingPulledRows(counts: number[]): FetchFunction {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (input.includes('/api/sync/pull') && response.ok)
      counts.push(((await response.clone().json()) as { changes: unknown[] }).changes.length);
    return response;
  };
}

function rows(client: SyncClient, table: string): Record<string, unknown>[] {
  return client.database.prepare(`SELECT * FROM ${table} ORDER BY id`).all() as Record<string, unknown>[];
}

/** Writes `count` customers on the device in one transaction, as a bulk import does; answers their ids. */
function importCustomers(client: SyncClient, count: number): string[] {
  const ids = Array.from({ length: count }, () => uuidv7());
  const insert = client.database.prepare('INSERT INTO customers (id, name, phone) VALUES (?, ?, ?)');
  client.database.transaction(() => {
    ids.forEach((id, index) => insert.run(id, `Customer ${index}`, '+44 20 7946 0000'));
  })();
  return ids;
}

/** Two devices that both hold a product (created by the first), its stock at 10. */
async function twoTillsWithAProduct(
  server: TestServer,
): Promise<{ a: SyncClient; b: SyncClient; product: string; category: string }> {
  const a = await server.pairedClient('a');
  const b = await server.pairedClient('b');
  // Its first cycle takes a fresh snapshot, which hands out every row, its own too.
  expect((await a.sync()).ok).toBe(true);
  const [product, category] = [uuidv7(), uuidv7()];
  a.database.prepare("INSERT INTO categories (id, name) VALUES (?, 'Fruit')").run(category);
  a.database
    .prepare(
      "INSERT INTO products (id, sku, name, price_cents, stock, category_id) VALUES (?, 'A-1', 'Apple', 120, 10, ?)",
    )
    .run(product, category);
  expect(await a.sync()).toMatchObject({ ok: true, pushed: 2, pulled: 0 });
  expect(await b.sync()).toMatchObject({ ok: true, pulled: 2 });
  return { a, b, product, category };
}

/** Stamps are milliseconds: the next write is surely later than the last. */
const later = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

/**
 * No echo (issue 20), end to end: devices with real files, a real server over HTTP on `storage`. A device
 * does not pull back what it pushed, and still gets every row whose stored state differs from what it holds.
 */
export function describeNoEcho(name: string, storage: ServerStorage): void {
  describe(`${name}: a device does not pull back what it pushed`, () => {
    it('pulls none of the rows of its bulk import, while another device gets them all, and repairs nothing', async () => {
      const server = await startTestServer(await storage());
      const pages: number[] = [];
      const a = await server.pairedClient('a', { fetch: countingPulledRows(pages) });
      expect((await a.sync()).ok).toBe(true);
      const imported = importCustomers(a, 300);

      const cycle = await a.sync();
      expect(cycle).toMatchObject({ ok: true, pushed: 300, pulled: 0 });
      expect(a.syncLog(1)[0]).toMatchObject({ pushed: 300, pulled: 0, repairs: [] });
      const next = await a.sync();
      expect(next).toMatchObject({ ok: true, pushed: 0, pulled: 0 });
      expect(a.syncLog(1)[0]?.repairs).toEqual([]);
      expect(pages.reduce((sum, count) => sum + count, 0)).toBe(0);

      // Its own edits of those rows do not come back either.
      a.database
        .prepare("UPDATE customers SET phone = '+44 1' WHERE id IN (?, ?)")
        .run(imported[0], imported[1]);
      expect(await a.sync()).toMatchObject({ ok: true, pushed: 2, pulled: 0 });
      expect(a.syncLog(1)[0]?.repairs).toEqual([]);

      const b = await server.pairedClient('b');
      expect(await b.sync()).toMatchObject({ ok: true, pulled: 300 });
      expect(rows(b, 'customers')).toEqual(rows(a, 'customers'));
      expect(b.syncLog(1)[0]?.repairs).toEqual([]);
      expect(pages.reduce((sum, count) => sum + count, 0)).toBe(0);
    });

    it('pulls its row back when its push lost a column to a later write of another device', async () => {
      const server = await startTestServer(await storage());
      const { a, b, product } = await twoTillsWithAProduct(server);
      a.database.prepare("UPDATE products SET name = 'A name', price_cents = 300 WHERE id = ?").run(product);
      await later();
      b.database.prepare("UPDATE products SET name = 'B name' WHERE id = ?").run(product);
      await b.sync();
      expect(await a.sync()).toMatchObject({ ok: true, pushed: 1, pulled: 1 });
      expect(rows(a, 'products')[0]).toMatchObject({ name: 'B name', price_cents: 300 });
      expect(a.syncLog(1)[0]?.repairs).toEqual([]);
      await b.sync();
      expect(rows(b, 'products')).toEqual(rows(a, 'products'));
    });

    it("pulls its counter's row when another device's sale reached the server first, and not when none did", async () => {
      const server = await startTestServer(await storage());
      const { a, b, product } = await twoTillsWithAProduct(server);
      // A's sale of the product it created, alone: A holds what the server stores.
      a.database.prepare('UPDATE products SET stock = stock - 1 WHERE id = ?').run(product);
      expect(await a.sync()).toMatchObject({ ok: true, pushed: 1, pulled: 0 });
      expect(await b.sync()).toMatchObject({ ok: true, pulled: 1 });

      a.database.prepare('UPDATE products SET stock = stock - 1 WHERE id = ?').run(product);
      b.database.prepare('UPDATE products SET stock = stock - 3 WHERE id = ?').run(product);
      await b.sync();
      // A held 9 - 1; the server adds A's -1 to B's 6.
      expect(await a.sync()).toMatchObject({ ok: true, pushed: 1, pulled: 1 });
      expect(rows(a, 'products')[0]).toMatchObject({ stock: 5 });
      expect(a.syncLog(1)[0]?.repairs).toEqual([]);

      // Its next sale comes back too: the server cannot tell that A holds the merged value another device's
      // delta made, so only rows A's own pushes made whole stay with A.
      a.database.prepare('UPDATE products SET stock = stock - 2 WHERE id = ?').run(product);
      expect(await a.sync()).toMatchObject({ ok: true, pushed: 1, pulled: 1 });
      expect(a.syncLog(1)[0]?.repairs).toEqual([]);
      expect(await b.sync()).toMatchObject({ ok: true, pulled: 1 });
      expect(rows(b, 'products')[0]).toMatchObject({ stock: 3 });
      expect(rows(a, 'products')[0]).toMatchObject({ stock: 3 });
    });

    it('pulls the rows whose reference the server cleared when another device deleted what they named', async () => {
      const server = await startTestServer(await storage());
      const { a, b, product, category } = await twoTillsWithAProduct(server);
      b.database.prepare('DELETE FROM categories WHERE id = ?').run(category);
      await b.sync();
      expect(await a.sync()).toMatchObject({ ok: true, pulled: 2 });
      expect(rows(a, 'categories')).toEqual([]);
      expect(rows(a, 'products')[0]).toMatchObject({ id: product, category_id: null });
      expect(a.syncLog(1)[0]?.repairs).toEqual([]);
    });

    for (const purged of [false, true]) {
      it(`gets back what it pushed after its file is restored from before the push${purged ? ', through RESYNC_REQUIRED' : ''}`, async () => {
        const server = await startTestServer({ ...(await storage()), tombstoneRetentionDays: 0 });
        const a = await server.pairedClient('a');
        const b = await server.pairedClient('b');
        b.database.prepare("INSERT INTO categories (id, name) VALUES (?, 'Fruit')").run(uuidv7());
        expect((await b.sync()).ok).toBe(true);
        // Its cursor stands past B's row: a purge after it makes that cursor too old.
        expect(await a.sync()).toMatchObject({ ok: true, pulled: 1 });
        // A copy of the device's file as it stood then, as a backup would keep it.
        const dbPath = a.database.name;
        a.database.pragma('wal_checkpoint(TRUNCATE)');
        const backup = `${tempFolder()}/backup.db`;
        fs.copyFileSync(dbPath, backup);

        const imported = importCustomers(a, 200);
        expect(await a.sync()).toMatchObject({ ok: true, pushed: 200, pulled: 0 });
        if (purged) {
          a.database.prepare('DELETE FROM customers WHERE id = ?').run(imported[0]);
          expect(await a.sync()).toMatchObject({ ok: true, pushed: 1 });
          await server.running.runMaintenance();
        }
        await a.close();
        for (const suffix of ['-wal', '-shm']) fs.rmSync(`${dbPath}${suffix}`, { force: true });
        fs.copyFileSync(backup, dbPath);

        const restored = createSyncClient({ dbPath, serverUrl: server.url });
        onCleanup(() => restored.close());
        const summary = await restored.sync();
        expect(summary.ok).toBe(true);
        expect(restored.syncLog(1)[0]?.repairs).toEqual(
          purged
            ? expect.arrayContaining([expect.objectContaining({ reason: 'resync', matched: true })])
            : [{ table: 'customers', reason: 'checksum', matched: true }],
        );
        const expected = purged ? imported.slice(1) : imported;
        expect(rows(restored, 'customers').map((row) => row.id)).toEqual([...expected].sort());
        await restored.sync();
        expect(restored.syncLog(1)[0]?.repairs).toEqual([]);
      });
    }
  });
}

import path from 'node:path';
import { CHAIN_SCHEMA, type StoreList } from '@tillsync/protocol';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { createSyncClient, type SyncClient } from '../src/index.js';
import { onCleanup, tempFolder } from './helpers.js';
import { asOwner, startTestServer, type TestServer } from './server-fixture.js';

/**
 * A chain (PROTOCOL.md §7) on a real server with the chain schema and real device files: each till holds the
 * tenant's rows and its own store's, and a till moved to another store ends with exactly the new store's
 * rows and the tenant's, keeping what it had not sent.
 */

/** A till paired into `storeId` with a code the owner made for that store. */
async function tillOf(server: TestServer, name: string, storeId: string): Promise<SyncClient> {
  const { code } = await asOwner<{ code: string }>(server, 'POST', '/api/pairing-codes', { storeId });
  const client = createSyncClient({ dbPath: path.join(tempFolder(), `${name}.db`), serverUrl: server.url });
  onCleanup(() => client.close());
  await client.pair(code, { name, platform: 'test' });
  return client;
}

/** A chain of two stores (the first, and Harbour Road) on a real server, with a till paired into each. */
async function twoStores() {
  const server = await startTestServer({ schema: CHAIN_SCHEMA });
  await asOwner(server, 'POST', '/api/stores', { name: 'Harbour Road' });
  const [first, second] = await asOwner<StoreList>(server, 'GET', '/api/stores');
  const north = await tillOf(server, 'north-till', first!.id);
  const south = await tillOf(server, 'south-till', second!.id);
  return { server, first: first!, second: second!, north, south };
}

/** An apple written on `till`: the tenant's catalogue. */
function addApple(till: SyncClient): string {
  const product = uuidv7();
  till.database
    .prepare("INSERT INTO products (id, sku, name, price_cents) VALUES (?, 'A-100', 'Apple', 120)")
    .run(product);
  return product;
}

/** The stock level of `product` in `storeId`, counted on `till`; answers its id. */
function countStock(till: SyncClient, storeId: string, product: string, quantity: number): string {
  const level = uuidv7();
  till.database
    .prepare('INSERT INTO stock_levels (id, store_id, product_id, quantity) VALUES (?, ?, ?, ?)')
    .run(level, storeId, product, quantity);
  return level;
}

function ids(client: SyncClient, table: string): string[] {
  return (client.database.prepare(`SELECT id FROM ${table} ORDER BY id`).all() as { id: string }[]).map(
    (row) => row.id,
  );
}

function storesOf(client: SyncClient, table: string): string[] {
  return (
    client.database.prepare(`SELECT DISTINCT store_id FROM ${table} ORDER BY store_id`).all() as {
      store_id: string;
    }[]
  ).map((row) => row.store_id);
}

/** A sale of one item, with its stock taken, written as a shop program would on the till. */
function sell(client: SyncClient, storeId: string, productId: string, levelId: string): string {
  const sale = uuidv7();
  const db = client.database;
  db.transaction(() => {
    db.prepare(
      "INSERT INTO sales (id, store_id, customer_id, total_cents, created_at) VALUES (?, ?, NULL, 120, '2026-12-06T10:00:00.000Z')",
    ).run(sale, storeId);
    db.prepare(
      'INSERT INTO sale_items (id, store_id, sale_id, product_id, quantity, price_cents) VALUES (?, ?, ?, ?, 1, 120)',
    ).run(uuidv7(), storeId, sale, productId);
    db.prepare('UPDATE stock_levels SET quantity = quantity - 1 WHERE id = ?').run(levelId);
  })();
  return sale;
}

describe('a chain of two stores', () => {
  it("gives each till the tenant's rows and its own store's, and moves a till with its unsent changes", async () => {
    const { server, first, second, north, south } = await twoStores();
    // Each till learns its store when it pairs (or at the latest from its first pull).
    await north.sync();
    await south.sync();
    expect(north.identity?.storeId).toBe(first.id);
    expect(south.identity?.storeId).toBe(second.id);
    // And its store's name, from the synced stores table, for its page.
    expect(north.identity?.storeName).toBe(first.name);
    expect(south.identity?.storeName).toBe('Harbour Road');

    // The catalogue, written on the north till, is the tenant's; each till counts its own store's stock.
    const product = addApple(north);
    const northLevel = countStock(north, first.id, product, 50);
    expect(await north.sync()).toMatchObject({ ok: true, rejected: 0 });
    expect(await south.sync()).toMatchObject({ ok: true, rejected: 0 });
    const southLevel = countStock(south, second.id, product, 20);
    const northSale = sell(north, first.id, product, northLevel);
    const southSale = sell(south, second.id, product, southLevel);
    expect(await north.sync()).toMatchObject({ ok: true, rejected: 0 });
    expect(await south.sync()).toMatchObject({ ok: true, rejected: 0 });
    await north.sync();

    expect(ids(north, 'products')).toEqual([product]);
    expect(ids(south, 'products')).toEqual([product]);
    expect(ids(north, 'sales')).toEqual([northSale]);
    expect(ids(south, 'sales')).toEqual([southSale]);
    expect(storesOf(south, 'sale_items')).toEqual([second.id]);
    expect(storesOf(south, 'stock_levels')).toEqual([second.id]);
    // Each till's checksums cover exactly its scope: no cycle had to repair a table.
    for (const till of [north, south]) {
      expect(till.syncLog().flatMap((entry) => entry.repairs)).toEqual([]);
    }

    // The north till is moved to Harbour Road while it holds a sale and a price change it has not sent.
    const unsentSale = sell(north, first.id, product, northLevel);
    north.database.prepare('UPDATE products SET price_cents = 125 WHERE id = ?').run(product);
    const moved = await asOwner<{ storeId: string }>(
      server,
      'POST',
      `/api/devices/${north.identity!.deviceId}/store`,
      {
        storeId: second.id,
      },
    );
    expect(moved.storeId).toBe(second.id);

    const afterMove = await north.sync();
    expect(afterMove.ok).toBe(true);
    expect(north.identity?.storeId).toBe(second.id);
    expect(north.identity?.storeName).toBe('Harbour Road');
    expect(north.syncLog(1)[0]?.repairs.map((repair) => repair.reason)).toContain('resync');
    // The tenant's rows, and Harbour Road's: its sale and its stock, none of the old store's synced rows.
    expect(ids(north, 'products')).toEqual([product]);
    expect(north.database.prepare('SELECT price_cents FROM products').get()).toEqual({ price_cents: 125 });
    // The old store's stock level stays only as the unsent sale's delta, waiting with it.
    expect(ids(north, 'stock_levels')).toEqual([southLevel, northLevel].sort());
    expect(pendingIds(north)).toContain(northLevel);
    expect(ids(north, 'sales')).toEqual([southSale, unsentSale].sort());
    expect(ids(north, 'sales')).not.toContain(northSale);
    // What it had not sent is still there: the old store's sale waits, refused with the reason, for the
    // owner to move the till back; the price change (a tenant row) went through.
    expect(pendingIds(north)).toContain(unsentSale);
    expect(north.pendingChanges().find((change) => change.id === unsentSale)?.error?.code).toBe(
      'OUT_OF_SCOPE',
    );
    expect(pendingIds(north)).not.toContain(product);
    await south.sync();
    expect(south.database.prepare('SELECT price_cents FROM products').get()).toEqual({ price_cents: 125 });
    expect(ids(south, 'sales')).toEqual([southSale]);

    // Moved back, the till sends the old store's sale after all, and holds that store's rows again.
    await asOwner(server, 'POST', `/api/devices/${north.identity!.deviceId}/store`, { storeId: first.id });
    expect((await north.sync()).ok).toBe(true);
    await north.sync();
    expect(north.status.pendingChanges).toBe(0);
    expect(ids(north, 'sales')).toEqual([northSale, unsentSale].sort());
    expect(storesOf(north, 'stock_levels')).toEqual([first.id]);
    // Both of the store's sales took their apple: the one sent late too, as a delta.
    expect(north.database.prepare('SELECT quantity FROM stock_levels').get()).toEqual({ quantity: 48 });
  });

  it("takes another store's rows in place of its own when paired again with a code of that store, keeping its unsent changes", async () => {
    const { server, first, second, north, south } = await twoStores();
    const product = addApple(north);
    const northLevel = countStock(north, first.id, product, 50);
    const northSale = sell(north, first.id, product, northLevel);
    expect(await north.sync()).toMatchObject({ ok: true, rejected: 0 });
    expect(await south.sync()).toMatchObject({ ok: true, rejected: 0 });
    const southLevel = countStock(south, second.id, product, 20);
    const southSale = sell(south, second.id, product, southLevel);
    expect(await south.sync()).toMatchObject({ ok: true, rejected: 0 });

    // The north till's session ends; the owner pairs its file again, with a code for Harbour Road, while
    // it holds a price change it has not sent.
    north.database.prepare('UPDATE products SET price_cents = 125 WHERE id = ?').run(product);
    const { code } = await asOwner<{ code: string }>(server, 'POST', '/api/pairing-codes', {
      storeId: second.id,
    });
    await north.pair(code, { name: 'north-till', platform: 'test' });

    expect(await north.sync()).toMatchObject({ ok: true, rejected: 0 });
    expect(north.identity?.storeId).toBe(second.id);
    // Harbour Road's rows from before the pairing too, none of the first store's: a fresh snapshot, not a
    // pull from the old store's cursor (whose checksums would differ).
    expect(ids(north, 'sales')).toEqual([southSale]);
    expect(ids(north, 'sales')).not.toContain(northSale);
    expect(ids(north, 'stock_levels')).toEqual([southLevel]);
    const reasons = north.syncLog(1)[0]?.repairs.map((repair) => repair.reason) ?? [];
    expect(reasons).not.toContain('checksum');
    expect(reasons.length).toBeGreaterThan(0);
    // The price change went through.
    expect(north.status.pendingChanges).toBe(0);
    await south.sync();
    expect(south.database.prepare('SELECT price_cents FROM products').get()).toEqual({ price_cents: 125 });
    expect((await north.sync()).ok).toBe(true);
    expect(north.syncLog(1)[0]?.repairs).toEqual([]);
  });
});

function pendingIds(client: SyncClient): string[] {
  return client.pendingChanges().map((change) => change.id);
}

import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import type { SyncClient } from '../src/index.js';
import { startTestServer, type TestServer } from './server-fixture.js';

/**
 * A till sells from a product's stock and then deletes the product before it syncs, while the back office,
 * later, writes the whole product: the delete loses (PROTOCOL.md §5), the product lives on, and the till's
 * sale still counts: the delete carries its delta, or, when the till hears of the later write first, the
 * delta stays pending on the row that came back.
 */
describe('a pending delete of a row whose counter this device changed', () => {
  async function setup(): Promise<{ till: SyncClient; office: SyncClient; product: string }> {
    const server: TestServer = await startTestServer();
    const till = await server.pairedClient('till');
    const office = await server.pairedClient('office');
    const product = uuidv7();
    till.database
      .prepare("INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, 'A-1', 'Apple', 120, 10)")
      .run(product);
    expect((await till.sync()).ok).toBe(true);
    expect((await office.sync()).ok).toBe(true);
    // The till sells 3, then the shop's program deletes the product, all before the till syncs.
    till.database.prepare('UPDATE products SET stock = stock - 3 WHERE id = ?').run(product);
    till.database.prepare('DELETE FROM products WHERE id = ?').run(product);
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Later, the back office writes every column of the product and takes in 5.
    office.database
      .prepare(
        "UPDATE products SET sku = 'A-2', name = 'Big apple', price_cents = 150, stock = stock + 5 WHERE id = ?",
      )
      .run(product);
    expect((await office.sync()).ok).toBe(true);
    return { till, office, product };
  }

  function stockOf(client: SyncClient, product: string): unknown {
    return client.database.prepare('SELECT name, stock FROM products WHERE id = ?').get(product);
  }

  it('keeps the sale when the delete reaches the server and loses there', async () => {
    const { till, office, product } = await setup();
    const summary = await till.sync();
    expect(summary, JSON.stringify(till.syncLog(1)[0])).toMatchObject({ ok: true, rejected: 0 });
    expect(await office.sync()).toMatchObject({ ok: true });
    expect(stockOf(office, product)).toEqual({ name: 'Big apple', stock: 12 });
    expect(stockOf(till, product)).toEqual({ name: 'Big apple', stock: 12 });
    expect(till.status.pendingChanges).toBe(0);
    expect(till.lostEdits().map((edit) => edit.kind)).toEqual(['my-delete']);
  });

  it('keeps the sale when the till hears of the later write before it pushes its delete', async () => {
    const { till, office, product } = await setup();
    expect((await till.pull()).ok).toBe(true);
    expect(stockOf(till, product)).toEqual({ name: 'Big apple', stock: 12 });
    expect(till.status.pendingChanges).toBe(1);
    expect(await till.sync()).toMatchObject({ ok: true, rejected: 0 });
    expect(await office.sync()).toMatchObject({ ok: true });
    expect(stockOf(office, product)).toEqual({ name: 'Big apple', stock: 12 });
    expect(stockOf(till, product)).toEqual({ name: 'Big apple', stock: 12 });
    expect(till.status.pendingChanges).toBe(0);
  });

  it('keeps the sale when the server refuses the delete because a sale item still needs the product', async () => {
    const server = await startTestServer();
    const till = await server.pairedClient('till');
    const office = await server.pairedClient('office');
    const [product, sale, item] = [uuidv7(), uuidv7(), uuidv7()];
    const db = till.database;
    db.prepare(
      "INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, 'A-1', 'Apple', 120, 10)",
    ).run(product);
    db.prepare(
      "INSERT INTO sales (id, total_cents, created_at) VALUES (?, 120, '2026-11-22T10:00:00.000Z')",
    ).run(sale);
    db.prepare(
      'INSERT INTO sale_items (id, sale_id, product_id, quantity, price_cents) VALUES (?, ?, ?, 1, 120)',
    ).run(item, sale, product);
    expect((await till.sync()).ok).toBe(true);
    db.prepare('UPDATE products SET stock = stock - 2 WHERE id = ?').run(product);
    db.prepare('DELETE FROM products WHERE id = ?').run(product);

    const refused = await till.sync();
    expect(refused).toMatchObject({ ok: true, rejected: 1 });
    expect(till.syncLog(1)[0]?.repairs).toEqual([
      { table: 'products', reason: 'refused-delete', matched: true },
    ]);
    expect(stockOf(till, product)).toEqual({ name: 'Apple', stock: 8 });
    expect(await till.sync()).toMatchObject({ ok: true, rejected: 0 });
    expect(till.status.pendingChanges).toBe(0);
    expect((await office.sync()).ok).toBe(true);
    expect(stockOf(office, product)).toEqual({ name: 'Apple', stock: 8 });
    expect(stockOf(till, product)).toEqual({ name: 'Apple', stock: 8 });
  });
});

import { describe, expect, it } from 'vitest';
import type { SyncClient } from '../src/index.js';
import { insertApple, insertSaleOf, productOf, syncEach, tillAndOffice } from './shop-rows.js';

/**
 * A till sells from a product's stock and then deletes the product before it syncs, while the back office,
 * later, writes the whole product: the delete loses (PROTOCOL.md §5), the product lives on, and the till's
 * sale still counts: the delete carries its delta, or, when the till hears of the later write first, the
 * delta stays pending on the row that came back. The same when the server refuses the delete.
 */
describe('a pending delete of a row whose counter this device changed', () => {
  async function setup(): Promise<{ till: SyncClient; office: SyncClient; product: string }> {
    const { till, office } = await tillAndOffice();
    const product = insertApple(till.database);
    await syncEach(till, office);
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
    await syncEach(office);
    return { till, office, product };
  }

  it('keeps the sale when the delete reaches the server and loses there', async () => {
    const { till, office, product } = await setup();
    const summary = await till.sync();
    expect(summary, JSON.stringify(till.syncLog(1)[0])).toMatchObject({ ok: true, rejected: 0 });
    await syncEach(office);
    expect(productOf(office, product)).toEqual({ name: 'Big apple', stock: 12 });
    expect(productOf(till, product)).toEqual({ name: 'Big apple', stock: 12 });
    expect(till.status.pendingChanges).toBe(0);
    expect(till.lostEdits().map((edit) => edit.kind)).toEqual(['my-delete']);
  });

  it('keeps the sale when the till hears of the later write before it pushes its delete', async () => {
    const { till, office, product } = await setup();
    expect((await till.pull()).ok).toBe(true);
    expect(productOf(till, product)).toEqual({ name: 'Big apple', stock: 12 });
    expect(till.status.pendingChanges).toBe(1);
    expect(await till.sync()).toMatchObject({ ok: true, rejected: 0 });
    await syncEach(office);
    expect(productOf(office, product)).toEqual({ name: 'Big apple', stock: 12 });
    expect(productOf(till, product)).toEqual({ name: 'Big apple', stock: 12 });
    expect(till.status.pendingChanges).toBe(0);
  });

  it('keeps the sale when the server refuses the delete because a sale item still needs the product', async () => {
    const { till, office } = await tillAndOffice();
    const db = till.database;
    const product = insertApple(db);
    insertSaleOf(db, product);
    await syncEach(till);
    db.prepare('UPDATE products SET stock = stock - 2 WHERE id = ?').run(product);
    db.prepare('DELETE FROM products WHERE id = ?').run(product);

    expect(await till.sync()).toMatchObject({ ok: true, rejected: 1 });
    expect(till.syncLog(1)[0]?.repairs).toEqual([
      { table: 'products', reason: 'refused-delete', matched: true },
    ]);
    expect(productOf(till, product)).toEqual({ name: 'Apple', stock: 8 });
    expect(await till.sync()).toMatchObject({ ok: true, rejected: 0 });
    expect(till.status.pendingChanges).toBe(0);
    await syncEach(office);
    expect(productOf(office, product)).toEqual({ name: 'Apple', stock: 8 });
    expect(productOf(till, product)).toEqual({ name: 'Apple', stock: 8 });
  });
});

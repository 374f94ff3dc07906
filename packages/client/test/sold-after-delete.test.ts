import { describe, expect, it } from 'vitest';
import type { SyncClient } from '../src/index.js';
import { startTestServer } from './server-fixture.js';
import { insertApple, insertSaleOf, productOf, syncEach, tillAndOffice } from './shop-rows.js';

/**
 * The back office deletes a product while a till, offline, sells it, writing nothing to the product itself
 * (PROTOCOL.md §2 push, §5): the server took the delete (no sale item it had named the product), and would
 * refuse the sale item for good while the delete stands. The till writes its copy of the product again,
 * whole and later than the delete, so the product comes back with the sale, everywhere.
 */
describe('a sale of a product deleted elsewhere meanwhile', () => {
  async function setup(): Promise<{ till: SyncClient; office: SyncClient; product: string; item: string }> {
    const { till, office } = await tillAndOffice();
    const product = insertApple(office.database);
    await syncEach(office, till);
    office.database.prepare('DELETE FROM products WHERE id = ?').run(product);
    expect(await office.sync()).toMatchObject({ ok: true, rejected: 0 });
    // The till, not having heard of the delete, sells the product.
    const { item } = insertSaleOf(till.database, product);
    return { till, office, product, item };
  }

  async function expectSaleEverywhere(
    till: SyncClient,
    office: SyncClient,
    product: string,
    item: string,
    stock = 10,
  ): Promise<void> {
    expect(till.status.pendingChanges).toBe(0);
    expect(await office.sync()).toMatchObject({ ok: true, rejected: 0 });
    for (const device of [till, office]) {
      expect(productOf(device, product)).toEqual({ name: 'Apple', stock });
      expect(device.database.prepare('SELECT product_id FROM sale_items WHERE id = ?').get(item)).toEqual({
        product_id: product,
      });
    }
  }

  it('is refused once, then sent with the product written again when the till has heard of the delete', async () => {
    const { till, office, product, item } = await setup();
    const first = await till.sync();
    expect(first).toMatchObject({ ok: true, rejected: 1 });
    expect(till.syncLog(1)[0]?.rejected[0]).toMatchObject({ table: 'sale_items', code: 'FK_VIOLATION' });
    // The delete came in that cycle's pull: the till kept the product, which the sale still needs.
    expect(productOf(till, product)).toEqual({ name: 'Apple', stock: 10 });
    expect(await till.sync()).toMatchObject({ ok: true, rejected: 0 });
    await expectSaleEverywhere(till, office, product, item);
  });

  it('goes through at once when the till hears of the delete before it pushes the sale', async () => {
    const { till, office, product, item } = await setup();
    expect((await till.pull()).ok).toBe(true);
    expect(productOf(till, product)).toEqual({ name: 'Apple', stock: 10 });
    expect(await till.sync()).toMatchObject({ ok: true, rejected: 0 });
    await expectSaleEverywhere(till, office, product, item);
  });

  it('brings the product back with the sale when the till also took it off the stock before the delete', async () => {
    const { till, office } = await tillAndOffice();
    const product = insertApple(office.database);
    await syncEach(office, till);
    // The till sells one, stock included; later, the back office deletes the product.
    const { item } = insertSaleOf(till.database, product);
    till.database.prepare('UPDATE products SET stock = stock - 1 WHERE id = ?').run(product);
    await new Promise((resolve) => setTimeout(resolve, 5));
    office.database.prepare('DELETE FROM products WHERE id = ?').run(product);
    expect(await office.sync()).toMatchObject({ ok: true, rejected: 0 });

    expect(await till.sync()).toMatchObject({ ok: true, rejected: 1 });
    expect(productOf(till, product)).toEqual({ name: 'Apple', stock: 9 });
    expect(await till.sync()).toMatchObject({ ok: true, rejected: 0 });
    await expectSaleEverywhere(till, office, product, item, 9);
  });

  it('leaves a product deleted elsewhere deleted when no unsent row here needs it', async () => {
    const { till, office, product } = await setup();
    till.database.exec('DELETE FROM sale_items; DELETE FROM sales;');
    expect(await till.sync()).toMatchObject({ ok: true, rejected: 0 });
    expect(till.status.pendingChanges).toBe(0);
    expect(productOf(till, product)).toBeUndefined();
    expect((await office.sync()).ok).toBe(true);
    expect(productOf(office, product)).toBeUndefined();
  });
});

/**
 * A till sells a product and deletes it before it syncs, believing a sale item the server has still needs
 * it (so the server refuses the delete and the product comes back); but that sale was voided elsewhere
 * meanwhile. Its own unsent sale item still names the product: PROTOCOL.md §2 push, a delete of a row that
 * live rows still reference through a required reference is refused, and rows of the same push count, since
 * the server resolves references within a push before it judges a foreign key. Refusing the sale item
 * instead would leave it pending for good, pointing at a product gone everywhere.
 */
describe('a till that deletes a product its own unsent sale names', () => {
  it('keeps the product and the sale when the sale item that held the product was voided elsewhere', async () => {
    const { till, office } = await tillAndOffice();
    const product = insertApple(office.database);
    const voided = insertSaleOf(office.database, product);
    await syncEach(office, till);
    // The office voids its sale; the till has not heard of it.
    office.database.prepare('DELETE FROM sale_items WHERE id = ?').run(voided.item);
    office.database.prepare('DELETE FROM sales WHERE id = ?').run(voided.sale);
    await syncEach(office);
    const { item } = insertSaleOf(till.database, product);
    till.database.prepare('DELETE FROM products WHERE id = ?').run(product);

    // The delete is refused (the till's own sale item needs the product), and the product restored.
    const first = await till.sync();
    expect(first.ok).toBe(true);
    expect(till.syncLog(1)[0]?.rejected.map((row) => [row.table, row.code])).toEqual([
      ['products', 'FK_VIOLATION'],
    ]);
    expect(await till.sync()).toMatchObject({ ok: true, rejected: 0 });
    expect(till.status.pendingChanges).toBe(0);
    await syncEach(office);
    for (const device of [till, office]) {
      expect(productOf(device, product)).toEqual({ name: 'Apple', stock: 10 });
      expect(device.database.prepare('SELECT product_id FROM sale_items WHERE id = ?').get(item)).toEqual({
        product_id: product,
      });
    }
  });
});

/**
 * Two tills, offline, sell a product that the back office deletes meanwhile; one of them had also repriced
 * it, before the delete. Each writes its copy again to keep its sale (see above); the first to reach the
 * server brings the product back, and the other's copy meets a live row (a starting value for a counter of a
 * row that exists is refused). That copy is no edit of the second till's: its reprice came before the delete,
 * which wins over it (PROTOCOL.md §5), so the second till takes the row as brought back and pushes nothing
 * more of it. It used to push its whole copy once more, a round later, after the devices that synced first.
 */
describe('two tills that sold a product deleted elsewhere', () => {
  it('agree on the product brought back, and push nothing more once it is back', async () => {
    const server = await startTestServer();
    const office = await server.pairedClient('office');
    const first = await server.pairedClient('till-1');
    const second = await server.pairedClient('till-2');
    const product = insertApple(office.database);
    await syncEach(office, first, second);
    const sold = [insertSaleOf(first.database, product).item, insertSaleOf(second.database, product).item];
    second.database.prepare('UPDATE products SET price_cents = 99 WHERE id = ?').run(product);
    await new Promise((resolve) => setTimeout(resolve, 5));
    office.database.prepare('DELETE FROM products WHERE id = ?').run(product);
    expect(await office.sync()).toMatchObject({ ok: true, rejected: 0 });

    // The first round brings each till the delete, the second brings the product back (the first till's
    // copy; the second till's is refused, and it takes the first's), the third brings it to the office.
    for (let round = 0; round < 2; round++) await syncEach(office, first, second);
    expect(second.status.pendingChanges).toBe(0);
    expect(await office.sync()).toMatchObject({ ok: true, pushed: 0, rejected: 0 });
    for (const till of [first, second]) expect(await till.sync()).toMatchObject({ ok: true, pushed: 0 });
    const observer = await server.pairedClient('observer');
    await syncEach(observer);
    const truth = (table: string): unknown[] =>
      observer.database.prepare(`SELECT * FROM ${table} ORDER BY id`).all();
    expect(truth('products')).toMatchObject([{ id: product, price_cents: 120, stock: 10 }]);
    expect(truth('sale_items').map((row) => (row as { id: string }).id)).toEqual([...sold].sort());
    for (const device of [office, first, second])
      for (const table of ['products', 'sale_items'])
        expect(device.database.prepare(`SELECT * FROM ${table} ORDER BY id`).all()).toEqual(truth(table));
  });
});

import { describe, expect, it } from 'vitest';
import type { SyncClient } from '../src/index.js';
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

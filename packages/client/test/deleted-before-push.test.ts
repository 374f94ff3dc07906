import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { startTestServer } from './server-fixture.js';

/**
 * A parent made and deleted on a till before it was ever pushed, while rows of that till still name it
 * through an optional reference (PROTOCOL.md §2 push): the server hears of the delete as of any other and
 * clears those references, instead of refusing the rows for good for naming a row it never had.
 */
describe('a parent made and deleted before it was pushed', () => {
  it('leaves the rows that named it synced, their reference cleared on the server and the device', async () => {
    const server = await startTestServer();
    const till = await server.pairedClient('till');
    const [category, product, customer, sale] = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    const db = till.database;
    db.prepare("INSERT INTO categories (id, name) VALUES (?, 'Seasonal')").run(category);
    db.prepare(
      "INSERT INTO products (id, sku, name, price_cents, stock, category_id) VALUES (?, 'S-1', 'Pumpkin', 300, 5, ?)",
    ).run(product, category);
    db.prepare("INSERT INTO customers (id, name) VALUES (?, 'Walk-in')").run(customer);
    db.prepare('INSERT INTO sales (id, customer_id, total_cents, created_at) VALUES (?, ?, 300, ?)').run(
      sale,
      customer,
      new Date().toISOString(),
    );
    // The shop's program deletes the parents and leaves the rows that name them.
    db.prepare('DELETE FROM categories WHERE id = ?').run(category);
    db.prepare('DELETE FROM customers WHERE id = ?').run(customer);

    const first = await till.sync();
    expect(first, JSON.stringify(till.syncLog(1)[0])).toMatchObject({ ok: true, rejected: 0 });
    expect(await till.sync()).toMatchObject({ ok: true, rejected: 0 });
    expect(till.status.pendingChanges).toBe(0);

    const observer = await server.pairedClient('observer');
    expect((await observer.sync()).ok).toBe(true);
    for (const device of [till, observer]) {
      expect(device.database.prepare('SELECT category_id FROM products WHERE id = ?').get(product)).toEqual({
        category_id: null,
      });
      expect(device.database.prepare('SELECT customer_id FROM sales WHERE id = ?').get(sale)).toEqual({
        customer_id: null,
      });
      expect(device.database.prepare('SELECT count(*) AS n FROM categories').get()).toEqual({ n: 0 });
    }
  });
});

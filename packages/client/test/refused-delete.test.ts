import { describe, expect, it } from 'vitest';
import type { SyncClient } from '../src/index.js';
import { insertApple, insertSaleOf, syncEach, tillAndOffice } from './shop-rows.js';

function rows(client: SyncClient, table: string): Record<string, unknown>[] {
  return client.database.prepare(`SELECT * FROM ${table} ORDER BY id`).all() as Record<string, unknown>[];
}

describe('a delete the server refuses because rows still need the row', () => {
  it('is given up: the device takes the row back and ends like the server, and its log names the refusal', async () => {
    const { till: d1, office: d2 } = await tillAndOffice();
    const db = d1.database;
    const product = insertApple(db);
    insertSaleOf(db, product);
    await syncEach(d1, d2);
    // The other till renames it meanwhile: the row it takes back is the server's, not its own old copy.
    d2.database.prepare("UPDATE products SET name = 'Green apple' WHERE id = ?").run(product);
    expect((await d2.sync()).ok).toBe(true);

    // The shop's program deletes the product while a sale item still points at it.
    db.prepare('DELETE FROM products WHERE id = ?').run(product);
    const refused = await d1.sync();
    expect(refused).toMatchObject({ ok: true, rejected: 1 });
    expect(d1.syncLog(1)[0]?.rejected[0]).toMatchObject({
      table: 'products',
      id: product,
      code: 'FK_VIOLATION',
    });
    expect(d1.syncLog(1)[0]?.repairs).toEqual([
      { table: 'products', reason: 'refused-delete', matched: true },
    ]);
    expect(d1.status.pendingChanges).toBe(0);
    expect(rows(d1, 'products')).toEqual(rows(d2, 'products'));
    expect(rows(d1, 'products')[0]).toMatchObject({ id: product, name: 'Green apple', stock: 10 });

    // Nothing is left to send or take: the next cycle is quiet.
    expect(await d1.sync()).toMatchObject({ ok: true, pushed: 0, pulled: 0, rejected: 0 });
    expect(rows(d1, 'products')).toEqual(rows(d2, 'products'));
  });
});

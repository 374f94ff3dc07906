import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startDemo, type RunningDemo } from '../src/demo-command.js';

/** A JSON call to a device agent's local API. */
async function call(
  baseUrl: string,
  method: string,
  pathname: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(baseUrl + pathname, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

/** A row as the agent answers it. */
interface RowAnswer {
  readonly id: string;
  readonly values: Record<string, string | number | null>;
  readonly pending: boolean;
  readonly error: { readonly code: string; readonly message: string } | null;
}

async function rowsOf(baseUrl: string, table: string): Promise<RowAnswer[]> {
  return ((await call(baseUrl, 'GET', `/api/rows/${table}`)).body as { rows: RowAnswer[] }).rows;
}

async function demoIn(dir: string, fresh = true): Promise<RunningDemo> {
  const demo = await startDemo({ dir, port: 0, fresh, webDir: path.join(dir, 'no-pages') });
  onTestFinished(() => demo.close());
  return demo;
}

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-demo-'));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('the demo and the till routes of the device agent', () => {
  it('starts a server and two paired devices with the same shop, and records a sale that reaches the other', async () => {
    const demo = await demoIn(tempDir());
    const [till, tablet] = demo.devices.map((device) => device.url) as [string, string];
    const products = await rowsOf(till, 'products');
    expect(products.map((product) => product.values.sku)).toContain('A-100');
    const apple = products.find((product) => product.values.sku === 'A-100')!;
    expect(apple).toMatchObject({ pending: false, error: null, values: { stock: 114 } });
    expect(await rowsOf(tablet, 'products')).toEqual(products);

    const sale = await call(till, 'POST', '/api/sales', {
      customerId: null,
      items: [{ productId: apple.id, quantity: 4 }],
    });
    expect(sale).toMatchObject({ status: 201, body: { pending: true, values: { total_cents: 180 } } });
    const saleId = (sale.body as RowAnswer).id;
    const items = await rowsOf(till, 'sale_items');
    expect(items.filter((item) => item.values.sale_id === saleId)).toEqual([
      expect.objectContaining({
        pending: true,
        values: expect.objectContaining({ quantity: 4, price_cents: 45 }),
      }),
    ]);
    // The till pushes soon after a write by itself; a sync asked for now pushes whatever is still pending.
    expect((await call(till, 'POST', '/api/sync')).body).toMatchObject({ ok: true });
    expect((await rowsOf(till, 'sale_items')).every((item) => !item.pending)).toBe(true);
    expect((await call(tablet, 'POST', '/api/sync')).body).toMatchObject({ ok: true });
    const onTablet = await rowsOf(tablet, 'products');
    expect(onTablet.find((product) => product.id === apple.id)?.values.stock).toBe(110);
  });

  it('searches all of a 200,000-product shop in SQL, and says how many rows a page holds of how many', async () => {
    const demo = await demoIn(tempDir());
    const agent = demo.devices[0]!;
    await agent.worker.stop();
    // As a first sync would leave them: written with capture off, so nothing is pending, and indexed for
    // search as the sync indexes the rows it writes.
    const database = agent.client.database;
    const add = database.prepare(
      'INSERT INTO products (id, sku, name, price_cents, stock, category_id, active) VALUES (?, ?, ?, ?, 0, NULL, 1)',
    );
    database.transaction(() => {
      database.prepare('UPDATE _sync_apply_flag SET applying = 1').run();
      const before = database.prepare('SELECT coalesce(max(rowid), 0) FROM products').pluck().get();
      for (let n = 1; n <= 200_000; n++) add.run(`bulk-${n}`, `SKU-${n}`, `Bulk item ${n}`, 100 + (n % 900));
      database
        .prepare(
          'INSERT INTO _sync_search_products (rowid, sku, name) SELECT rowid, sku, name FROM products WHERE rowid > ?',
        )
        .run(before);
      database.prepare('UPDATE _sync_apply_flag SET applying = 0').run();
    })();
    const list = async (query: string) =>
      (await call(agent.url, 'GET', `/api/rows/products${query}`)).body as {
        rows: RowAnswer[];
        total: number;
        matching: number;
        matchingCapped?: boolean;
      };

    // Past 10,000 rows a list is not sorted (that would read every row): the first ones written come first.
    const all = await list('?order=name&limit=200');
    expect(all.rows).toHaveLength(200);
    expect(all.total).toBeGreaterThan(200_000);
    expect(all.matching).toBe(all.total);
    expect(all.rows[0]?.values.name).toBe('Apple');

    const found = await list('?search=sku-150000&order=name&limit=200');
    expect(found).toMatchObject({
      matching: 1,
      matchingCapped: false,
      rows: [{ id: 'bulk-150000', values: { name: 'Bulk item 150000' } }],
    });
    const many = await list('?search=Bulk item 1999&order=name&limit=5');
    expect(many.matching).toBe(111); // 1999, 19990 to 19999, 199900 to 199999
    expect(many.rows.map((row) => row.values.name)).toEqual([
      'Bulk item 1999',
      'Bulk item 19990',
      'Bulk item 199900',
      'Bulk item 199901',
      'Bulk item 199902',
    ]);
    expect(await list('?search=no such thing')).toMatchObject({ rows: [], matching: 0 });
    // A % or _ typed is a character, not a wildcard; so is a quote, which the index's query language has.
    expect((await list('?search=%25')).matching).toBe(0);
    expect((await list('?search=%22Bulk')).matching).toBe(0);
    // Under three characters no trigram index serves: the rows are read, and the count stops at 10,000.
    expect(await list('?search=it&limit=1')).toMatchObject({ matching: 10_000, matchingCapped: true });
    expect(await list('?where.active=1&limit=1')).toMatchObject({ matching: 10_000, matchingCapped: true });

    // The index follows every writer of the file: a rename, a delete, an INSERT OR REPLACE.
    database.prepare("UPDATE products SET name = 'Renamed thing' WHERE id = 'bulk-150000'").run();
    database.prepare("DELETE FROM products WHERE id = 'bulk-150001'").run();
    database
      .prepare(
        "INSERT OR REPLACE INTO products (id, sku, name, price_cents, stock, active) VALUES ('bulk-150002', 'SKU-X', 'Replaced thing', 1, 0, 1)",
      )
      .run();
    expect((await list('?search=Renamed')).rows.map((row) => row.id)).toEqual(['bulk-150000']);
    expect((await list('?search=Bulk item 150000')).matching).toBe(0);
    expect((await list('?search=Bulk item 150001')).matching).toBe(0);
    expect((await list('?search=Bulk item 150002')).matching).toBe(0);
    expect((await list('?search=replaced')).rows.map((row) => row.id)).toEqual(['bulk-150002']);

    for (const [query, code] of [
      ['?limit=0', 'INVALID_REQUEST'],
      ['?limit=9999', 'INVALID_REQUEST'],
      ['?order=nope', 'UNKNOWN_COLUMN'],
      ['?where.nope=1', 'UNKNOWN_COLUMN'],
    ]) {
      expect(await call(agent.url, 'GET', `/api/rows/products${query}`), query).toMatchObject({
        status: 400,
        body: { error: { code } },
      });
    }
  });

  it('keeps a row the server refused, with its reason, where the page shows it', async () => {
    const demo = await demoIn(tempDir());
    const till = demo.devices[0]!.url;
    const copy = await call(till, 'POST', '/api/rows/products', {
      values: { sku: 'A-100', name: 'Another apple', price_cents: 50, stock: 1 },
    });
    expect(copy.status).toBe(201);
    expect((await call(till, 'POST', '/api/sync')).body).toMatchObject({ ok: true, rejected: 1 });
    const rows = await rowsOf(till, 'products');
    expect(rows.find((row) => row.id === (copy.body as RowAnswer).id)).toMatchObject({
      pending: true,
      error: { code: 'UNIQUE_VIOLATION' },
    });
  });

  it('refuses what the schema does not allow, in words', async () => {
    const demo = await demoIn(tempDir());
    const till = demo.devices[0]!.url;
    expect(await call(till, 'GET', '/api/rows/nothing')).toMatchObject({
      status: 404,
      body: { error: { code: 'UNKNOWN_TABLE' } },
    });
    expect(
      await call(till, 'POST', '/api/rows/daily_sales', { values: { day: '2026-11-22' } }),
    ).toMatchObject({
      status: 409,
      body: { error: { code: 'READ_ONLY_TABLE' } },
    });
    expect(await call(till, 'POST', '/api/rows/customers', { values: { nickname: 'x' } })).toMatchObject({
      status: 400,
      body: { error: { code: 'UNKNOWN_COLUMN' } },
    });
    expect(await call(till, 'POST', '/api/rows/products', { values: { sku: 'Z-1' } })).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_VALUE' } },
    });
    expect(await call(till, 'POST', '/api/sales', { items: [] })).toMatchObject({ status: 400 });
    expect(
      await call(till, 'PATCH', '/api/rows/customers/no-such-id', { values: { name: 'x' } }),
    ).toMatchObject({
      status: 404,
    });
    // Without built pages the agent answers its API only.
    expect(await call(till, 'GET', '/settings')).toMatchObject({ status: 404 });
  });

  it('goes on with the demo left in its folder, and starts over with fresh', async () => {
    const dir = tempDir();
    const first = await demoIn(dir);
    const till = first.devices[0]!.url;
    const customer = await call(till, 'POST', '/api/rows/customers', { values: { name: 'Kept' } });
    await first.close();

    const again = await demoIn(dir, false);
    const kept = (customer.body as RowAnswer).id;
    expect((await rowsOf(again.devices[0]!.url, 'customers')).map((row) => row.id)).toContain(kept);
    await again.close();

    const fresh = await demoIn(dir, true);
    expect((await rowsOf(fresh.devices[0]!.url, 'customers')).map((row) => row.id)).not.toContain(kept);
  });
});

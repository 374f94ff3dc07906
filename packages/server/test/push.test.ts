import { randomUUID } from 'node:crypto';
import { MAX_CLOCK_SKEW_MS } from '@tillsync/server';
import type { Change, PushResponse, PushResult } from '@tillsync/protocol';
import { describe, expect, it } from 'vitest';
import {
  checksumsOf,
  newId,
  productValues,
  startTestServer,
  type TestDevice,
  type TestServer,
} from './helpers.js';

const statuses = (response: PushResponse): string[] => response.results.map((result) => result.status);

function rejection(result: PushResult | undefined): { code: string; message: string } {
  if (result?.status !== 'rejected') throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
  return result.error;
}

/** The rows the server holds for the tenant, read from its storage: what a fresh device would get. */
async function storedRows(server: TestServer): Promise<Map<string, { values: unknown; updatedAt: string }>> {
  const page = await server.server.storage.sync.forTenant(server.tenantId).pull(0, 10_000);
  if (page.resyncRequired) throw new Error('a pull from 0 asked for a resync');
  return new Map(
    page.rows.map((row) => [
      `${row.table}/${row.id}`,
      {
        values: row.valuesJson === null ? null : (JSON.parse(row.valuesJson) as unknown),
        updatedAt: row.updatedAt,
      },
    ]),
  );
}

async function twoDevices(): Promise<{ server: TestServer; a: TestDevice; b: TestDevice }> {
  const server = await startTestServer();
  return { server, a: await server.pair('tillA'), b: await server.pair('tillB') };
}

describe('push', () => {
  it('applies children pushed before their parents in one push, whole', async () => {
    const { a, b } = await twoDevices();
    const [category, product, sale, item1, item2] = [newId(), newId(), newId(), newId(), newId()];
    const response = await a.push([
      a.upsert('sale_items', item1, { sale_id: sale, product_id: product, quantity: 2, price_cents: 120 }),
      a.upsert('sale_items', item2, { sale_id: sale, product_id: product, quantity: 1, price_cents: 120 }),
      a.upsert('sales', sale, {
        customer_id: null,
        total_cents: 360,
        created_at: '2026-11-22T10:00:00.000Z',
      }),
      a.upsert('products', product, productValues({ category_id: category })),
      a.upsert('categories', category, { name: 'Fruit' }),
    ]);
    expect(response.results.map((result) => [result.table, result.id, result.status])).toEqual([
      ['sale_items', item1, 'applied'],
      ['sale_items', item2, 'applied'],
      ['sales', sale, 'applied'],
      ['products', product, 'applied'],
      ['categories', category, 'applied'],
    ]);
    const pulled = await b.pullAll();
    // daily_sales is written by the sale-daily-sales sync job the sale triggers (PROTOCOL.md §6).
    const synced = pulled.changes.filter((change) => change.table !== 'daily_sales');
    expect(synced.map((change) => change.id).sort()).toEqual([category, product, sale, item1, item2].sort());
    expect(pulled.changes.find((change) => change.id === item1)?.values).toEqual({
      sale_id: sale,
      product_id: product,
      quantity: 2,
      price_cents: 120,
    });
  });

  it('rejects a reference to a row that only a later push creates, and stores nothing of it', async () => {
    const { server, a, b } = await twoDevices();
    const [product, sale, item] = [newId(), newId(), newId()];
    await a.push([a.upsert('products', product, productValues())]);
    const before = await b.pullAll();

    const first = await a.push([
      a.upsert('sale_items', item, { sale_id: sale, product_id: product, quantity: 1, price_cents: 1 }),
    ]);
    const error = rejection(first.results[0]);
    expect(error.code).toBe('FK_VIOLATION');
    expect(error.message).toContain('sale_items.sale_id');
    expect(error.message).toContain(sale);
    expect((await b.pullAll()).changes).toEqual([]);
    expect((await storedRows(server)).has(`sale_items/${item}`)).toBe(false);

    const second = await a.push([
      a.upsert('sales', sale, { customer_id: null, total_cents: 1, created_at: '2026-11-22T10:00:00Z' }),
    ]);
    expect(statuses(second)).toEqual(['applied']);
    // Sent again after its parent arrived, the child is applied.
    const third = await a.push([
      a.upsert('sale_items', item, { sale_id: sale, product_id: product, quantity: 1, price_cents: 1 }),
    ]);
    expect(statuses(third)).toEqual(['applied']);
    const later = (await b.pullAll({ since: before.cursor })).changes;
    // The sale also brings its day's daily_sales row, written by the sync job it triggered.
    expect(later.filter((change) => change.table !== 'daily_sales').map((change) => change.id)).toEqual([
      sale,
      item,
    ]);
  });

  it('rejects a child whose parent is rejected in the same push, and clears an optional reference to one it deletes', async () => {
    const { server, a } = await twoDevices();
    const [badCategory, product, oldCategory, product2] = [newId(), newId(), newId(), newId()];
    await a.push([a.upsert('categories', oldCategory, { name: 'Old' })]);
    const response = await a.push([
      a.upsert('products', product, productValues({ category_id: badCategory })),
      a.upsert('categories', badCategory, { name: 42 }),
      a.delete('categories', oldCategory),
      a.upsert('products', product2, productValues({ category_id: oldCategory })),
    ]);
    expect(
      response.results.map((result) => (result.status === 'rejected' ? result.error.code : result.status)),
    ).toEqual(['FK_VIOLATION', 'INVALID_VALUE', 'applied', 'applied']);
    const rows = await storedRows(server);
    expect(rows.has(`products/${product}`)).toBe(false);
    expect(rows.get(`products/${product2}`)?.values).toMatchObject({ category_id: null });
    expect(rows.get(`categories/${oldCategory}`)?.values).toBeNull();
  });

  it('answers a retried pushId with the identical answer and stores nothing again', async () => {
    const { server, a, b } = await twoDevices();
    const product = newId();
    await a.push([a.upsert('products', product, productValues({ stock: 10 }))]);
    const cursor = (await b.pullAll()).cursor;

    const pushId = randomUUID();
    const changes = [
      a.upsert('products', product, productValues({ stock: { delta: -2 }, sku: 'RETRY-1' })),
      a.upsert('categories', newId(), { name: 'New' }),
      a.upsert('categories', newId(), {}),
    ];
    const first = await a.push(changes, pushId);
    expect(statuses(first)).toEqual(['applied', 'applied', 'rejected']);
    const afterFirst = await b.pullAll({ since: cursor });
    expect(afterFirst.changes).toHaveLength(2);

    server.clock.advance(60_000);
    const again = await a.push(changes, pushId);
    expect(again).toEqual(first);
    // Even a retry whose body differs gets the first answer and changes nothing.
    const different = await a.request('POST', '/api/sync/push', {
      json: { pushId, changes: [a.upsert('categories', newId(), { name: 'Other' })] },
    });
    expect(different).toMatchObject({ status: 200, body: first });
    const afterRetry = await b.pullAll();
    expect(afterRetry.changes).toEqual([]);
    expect(afterRetry.cursor).toBe(afterFirst.cursor);
    expect((await storedRows(server)).get(`products/${product}`)?.values).toMatchObject({ stock: 8 });
  });

  it('answers a till paired again, resending its unanswered push, with the first answer', async () => {
    const { server, a, b } = await twoDevices();
    const product = newId();
    await a.push([a.upsert('products', product, productValues({ stock: 10, sku: 'REPAIR-1' }))]);
    const pushId = randomUUID();
    const sale = [a.upsert('products', product, productValues({ stock: { delta: -3 }, sku: 'REPAIR-1' }))];
    const first = await a.push(sale, pushId);
    // Another till sells one a second later, so the row's stamp moves on past the first till's sale.
    server.clock.advance(1000);
    await b.push([b.upsert('products', product, productValues({ stock: { delta: -1 }, sku: 'REPAIR-1' }))]);
    // The answer was lost and the till's session ended: the owner pairs it again, under a new device id.
    const again = await server.pair('tillA again');
    expect(again.deviceId).not.toBe(a.deviceId);
    expect(await again.push(sale, pushId)).toEqual(first);
    expect((await storedRows(server)).get(`products/${product}`)?.values).toMatchObject({ stock: 6 });
  });

  it("judges the same pushId from another device as that device's own push", async () => {
    const { a, b } = await twoDevices();
    const pushId = randomUUID();
    const first = await a.push([a.upsert('categories', newId(), { name: 'A' })], pushId);
    const other = await b.push([b.upsert('categories', newId(), {})], pushId);
    expect(statuses(first)).toEqual(['applied']);
    expect(statuses(other)).toEqual(['rejected']);
  });

  it('answers an older write stale with the newer one, and applies a newer write', async () => {
    const { server, a, b } = await twoDevices();
    const product = newId();
    const sku = 'LWW-1';
    const t0 = server.clock.now();
    const created = a.upsert(
      'products',
      product,
      productValues({ sku, name: 'Apple' }),
      a.stamps.at(t0 - 10_000),
    );
    const renamed = a.upsert(
      'products',
      product,
      productValues({ sku, name: 'Red apple', stock: { delta: 0 } }),
      a.stamps.at(t0 - 5_000),
    );
    await a.push([created]);
    await a.push([renamed]);

    const offline = b.upsert(
      'products',
      product,
      productValues({ sku, name: 'Green apple', stock: { delta: 0 } }),
      b.stamps.at(t0 - 7_000),
    );
    const stale = await b.push([offline]);
    expect(stale.results[0]).toEqual({
      table: 'products',
      id: product,
      status: 'stale',
      current: {
        table: 'products',
        id: product,
        op: 'upsert',
        updatedAt: renamed.updatedAt,
        values: { sku, name: 'Red apple', price_cents: 120, stock: 10, category_id: null, active: 1 },
      },
    });
    expect((await storedRows(server)).get(`products/${product}`)?.values).toMatchObject({
      name: 'Red apple',
    });

    const newer = await b.push([
      b.upsert('products', product, productValues({ sku, name: 'Pear', stock: { delta: 0 } })),
    ]);
    expect(statuses(newer)).toEqual(['applied']);
    const pulled = await a.pullAll();
    expect(pulled.changes.find((change) => change.id === product)?.values).toMatchObject({ name: 'Pear' });
  });

  it('takes an equal stamp sent again as harmless: applied, nothing stored twice, no delta added twice', async () => {
    const { server, a, b } = await twoDevices();
    const product = newId();
    await a.push([a.upsert('products', product, productValues({ stock: 10 }))]);
    const sale = a.upsert('products', product, productValues({ stock: { delta: -1 } }));
    await a.push([sale]);
    const cursor = (await b.pullAll()).cursor;

    // The device lost the answer and rebuilt the push under a new pushId: the same change, the same stamp.
    const again = await a.push([sale]);
    expect(statuses(again)).toEqual(['applied']);
    const pulled = await b.pullAll({ since: cursor });
    expect(pulled.changes).toEqual([]);
    expect((await storedRows(server)).get(`products/${product}`)?.values).toMatchObject({ stock: 9 });
  });

  it('records a conflict for each value last-write-wins overrides without its winner having seen it', async () => {
    const { server, a, b } = await twoDevices();
    const category = newId();
    const t0 = server.clock.now();
    const fromA = a.upsert('categories', category, { name: 'A' }, a.stamps.at(t0 - 3000));
    await a.push([fromA]);
    // B overrides A's write: A's is the loser.
    const fromB = b.upsert('categories', category, { name: 'B' }, b.stamps.at(t0 - 2000));
    await b.push([fromB]);
    // A's older offline edit loses against B's.
    const lateA = a.upsert('categories', category, { name: 'A late' }, a.stamps.at(t0 - 2500));
    expect(statuses(await a.push([lateA]))).toEqual(['stale']);

    const conflicts = await server.server.storage.sync
      .forTenant(server.tenantId)
      .conflicts('categories', category);
    // Both were recorded within one millisecond, so their order is not asserted.
    conflicts.sort((x, y) => x.loser.updatedAt.localeCompare(y.loser.updatedAt));
    // B's write overrode each of A's two, and each is recorded with both versions as written.
    const overriddenByB = (loser: Change): unknown => ({
      table: 'categories',
      id: category,
      column: 'name',
      winner: {
        table: 'categories',
        id: category,
        op: 'upsert',
        updatedAt: fromB.updatedAt,
        values: { name: 'B' },
      },
      loser: {
        table: 'categories',
        id: category,
        op: 'upsert',
        updatedAt: loser.updatedAt,
        values: loser.values,
      },
      winnerDeviceId: b.deviceId,
      loserDeviceId: a.deviceId,
    });
    expect(conflicts).toEqual([overriddenByB(fromA), overriddenByB(lateA)]);
  });

  it('sends deletes as tombstones; an older upsert stays deleted, a newer one brings the row back', async () => {
    const { server, a, b } = await twoDevices();
    const category = newId();
    const t0 = server.clock.now();
    await a.push([a.upsert('categories', category, { name: 'Gone soon' }, a.stamps.at(t0 - 3000))]);
    await b.pullAll();
    const deletion = a.delete('categories', category, a.stamps.at(t0 - 2000));
    expect(statuses(await a.push([deletion]))).toEqual(['applied']);

    const pulled = await b.pullAll();
    expect(pulled.changes).toEqual([
      { table: 'categories', id: category, op: 'delete', updatedAt: deletion.updatedAt },
    ]);
    expect(pulled.checksums.categories).toEqual({ count: 0, sum: '0000000000000000' });

    const older = await b.push([
      b.upsert('categories', category, { name: 'Edited offline' }, b.stamps.at(t0 - 2500)),
    ]);
    expect(older.results[0]).toEqual({
      table: 'categories',
      id: category,
      status: 'stale',
      current: { table: 'categories', id: category, op: 'delete', updatedAt: deletion.updatedAt },
    });
    const newer = await b.push([b.upsert('categories', category, { name: 'Back' })]);
    expect(statuses(newer)).toEqual(['applied']);
    expect((await storedRows(server)).get(`categories/${category}`)?.values).toEqual({ name: 'Back' });
    // The delete that B's newer edit undid is kept as a conflict, so A's owner can see where it went.
    const conflicts = await server.server.storage.sync
      .forTenant(server.tenantId)
      .conflicts('categories', category);
    expect(conflicts.find((conflict) => conflict.loser.op === 'delete')).toMatchObject({
      loser: { op: 'delete', updatedAt: deletion.updatedAt },
      winner: { op: 'upsert', values: { name: 'Back' } },
      winnerDeviceId: b.deviceId,
      loserDeviceId: a.deviceId,
    });
  });

  it("clears a reference to a deleted row as the server's own write, which another device pulls", async () => {
    const { a, b } = await twoDevices();
    const [category, product, sale, item] = [newId(), newId(), newId(), newId()];
    await a.push([
      a.upsert('categories', category, { name: 'Fruit' }),
      a.upsert('products', product, productValues({ category_id: category })),
      a.upsert('sales', sale, {
        customer_id: null,
        total_cents: 120,
        created_at: '2026-11-22T10:00:00.000Z',
      }),
      a.upsert('sale_items', item, { sale_id: sale, product_id: product, quantity: 1, price_cents: 120 }),
    ]);
    await b.pullAll();

    // The product is still sold on a sale item: its delete is refused, naming the item.
    const refused = await a.push([a.delete('products', product)]);
    expect(rejection(refused.results[0])).toMatchObject({ code: 'FK_VIOLATION' });
    expect(rejection(refused.results[0]).message).toContain(`sale_items ${item}`);

    const deletion = a.delete('categories', category);
    expect(statuses(await a.push([deletion]))).toEqual(['applied']);
    const pulled = await b.pullAll();
    const cleared = pulled.changes.find((change) => change.id === product);
    expect(cleared?.values).toMatchObject({ category_id: null });
    // The clear wins over the write that named the category, just past its stamp (not past the delete's).
    expect(cleared?.updatedAt.endsWith('-server')).toBe(true);
    expect(pulled.changes.find((change) => change.id === category)?.op).toBe('delete');
  });

  it('refuses a delete of a row that an upsert of the same push names through a required reference, and takes the upsert', async () => {
    // A till sells a product and deletes it before it syncs: the sale item and the delete reach the server
    // together. References within a push are resolved first, so the item is a live row that needs the product.
    const { server, a } = await twoDevices();
    const [product, sale, item] = [newId(), newId(), newId()];
    await a.push([a.upsert('products', product, productValues({}))]);
    const response = await a.push([
      a.upsert('sales', sale, {
        customer_id: null,
        total_cents: 120,
        created_at: '2026-11-22T10:00:00.000Z',
      }),
      a.upsert('sale_items', item, { sale_id: sale, product_id: product, quantity: 1, price_cents: 120 }),
      a.delete('products', product),
    ]);
    expect(statuses(response)).toEqual(['applied', 'applied', 'rejected']);
    expect(rejection(response.results[2])).toMatchObject({ code: 'FK_VIOLATION' });
    expect(rejection(response.results[2]).message).toContain(`sale_items ${item}`);
    const rows = await storedRows(server);
    expect(rows.get(`products/${product}`)?.values).not.toBeNull();
    expect(rows.get(`sale_items/${item}`)?.values).toMatchObject({ product_id: product });

    // An item refused for a reason of its own does not hold the delete up.
    const [other, badItem] = [newId(), newId()];
    await a.push([a.upsert('products', other, productValues({ sku: 'OTHER-1' }))]);
    const second = await a.push([
      a.upsert('sale_items', badItem, { sale_id: newId(), product_id: other, quantity: 1, price_cents: 120 }),
      a.delete('products', other),
    ]);
    expect(statuses(second)).toEqual(['rejected', 'applied']);
    expect(rejection(second.results[0]).code).toBe('FK_VIOLATION');
    expect((await storedRows(server)).get(`products/${other}`)?.values).toBeNull();
  });

  it('takes a row naming, through an optional reference, a row deleted before its push, and clears the reference', async () => {
    // Two tills offline: one deletes a customer while the other rings up a sale to them. The sale stays.
    const { a, b } = await twoDevices();
    const [customer, sale, item, product] = [newId(), newId(), newId(), newId()];
    await a.push([
      a.upsert('customers', customer, { name: 'Ann' }),
      a.upsert('products', product, productValues({})),
    ]);
    const saleValues = { customer_id: customer, total_cents: 120, created_at: '2026-11-22T10:00:00.000Z' };
    const ringing = b.upsert('sales', sale, saleValues);
    expect(statuses(await a.push([a.delete('customers', customer)]))).toEqual(['applied']);
    const answer = await b.push([
      ringing,
      b.upsert('sale_items', item, { sale_id: sale, product_id: product, quantity: 1, price_cents: 120 }),
    ]);
    expect(statuses(answer)).toEqual(['applied', 'applied']);
    const pulled = await a.pullAll();
    const stored = pulled.changes.find((change) => change.id === sale);
    expect(stored?.values).toMatchObject({ customer_id: null, total_cents: 120 });
    expect((stored?.updatedAt ?? '') > ringing.updatedAt).toBe(true);
    // A reference to a row the server never had is still refused.
    const orphan = await b.push([
      b.upsert('sale_items', newId(), { sale_id: newId(), product_id: product, quantity: 1, price_cents: 1 }),
    ]);
    expect(rejection(orphan.results[0])).toMatchObject({ code: 'FK_VIOLATION' });
  });

  describe('rejections', () => {
    it('rejects each bad change with its code and a message, and applies the good ones beside them', async () => {
      const { server, a, b } = await twoDevices();
      const existing = newId();
      await a.push([a.upsert('products', existing, productValues({ sku: 'TAKEN' }))]);
      const cursor = (await b.pullAll()).cursor;
      const now = server.clock.now();
      const good = [newId(), newId(), newId()];

      const bad: Array<[string, ReturnType<TestDevice['upsert']>]> = [
        [
          'FK_VIOLATION',
          a.upsert('sale_items', newId(), {
            sale_id: newId(),
            product_id: existing,
            quantity: 1,
            price_cents: 1,
          }),
        ],
        ['UNIQUE_VIOLATION', a.upsert('products', newId(), productValues({ sku: 'TAKEN' }))],
        ['UNKNOWN_TABLE', a.upsert('no_such_table', newId(), { name: 'x' })],
        ['UNKNOWN_COLUMN', a.upsert('categories', newId(), { name: 'x', colour: 'red' })],
        ['INVALID_VALUE', a.upsert('products', newId(), productValues({ price_cents: 'abc' }))],
        ['INVALID_VALUE', a.upsert('products', newId(), productValues({ price_cents: 1.5 }))],
        ['INVALID_VALUE', a.upsert('categories', newId(), {})],
        ['INVALID_VALUE', a.upsert('sales', newId(), { total_cents: 1, created_at: 'yesterday' })],
        ['INVALID_VALUE', a.upsert('products', newId(), productValues({ active: 2 }))],
        ['INVALID_VALUE', a.upsert('products', existing, productValues({ sku: 'TAKEN', stock: 5 }))],
        ['INVALID_VALUE', a.upsert('categories', newId(), { name: 'x' }, 'yesterday')],
        [
          'INVALID_VALUE',
          a.upsert('categories', newId(), { name: 'x' }, '2026-02-30T10:00:00.000Z-0000-tillA'),
        ],
        ['INVALID_VALUE', { table: 'categories', id: newId(), op: 'upsert', updatedAt: a.stamps.next() }],
        [
          'READ_ONLY_TABLE',
          a.upsert('daily_sales', newId(), { day: '2026-11-22', sales_count: 1, total_cents: 1 }),
        ],
        ['READ_ONLY_TABLE', a.delete('daily_sales', newId())],
        [
          'CLOCK_SKEW',
          a.upsert('categories', newId(), { name: 'future' }, a.stamps.at(now + MAX_CLOCK_SKEW_MS + 1000)),
        ],
        ['INVALID_VALUE', a.upsert('categories', `half-\ud83c-${newId()}`, { name: 'x' })],
      ];
      const changes = [
        a.upsert('categories', good[0] ?? '', { name: 'Good 1' }),
        ...bad.map(([, change]) => change),
        a.upsert(
          'categories',
          good[1] ?? '',
          { name: 'Good 2' },
          a.stamps.at(now + MAX_CLOCK_SKEW_MS - 1000),
        ),
        a.delete('products', good[2] ?? ''),
      ];
      const response = await a.push(changes);

      expect(response.results[0]?.status).toBe('applied');
      bad.forEach(([code, change], index) => {
        const result = response.results[index + 1];
        expect({ table: result?.table, id: result?.id }).toEqual({ table: change.table, id: change.id });
        const error = rejection(result);
        expect(error.code, JSON.stringify(change)).toBe(code);
        expect(error.message.length).toBeGreaterThan(10);
      });
      expect(statuses(response).slice(-2)).toEqual(['applied', 'applied']);

      const messages = response.results.slice(1, -2).map((result) => rejection(result).message);
      expect(messages[1]).toContain(existing);
      expect(messages[3]).toContain('colour');
      expect(messages[4]).toContain('products.price_cents');
      expect(messages[6]).toContain('categories.name');
      expect(messages[9]).toContain('products.stock');

      const pulled = await b.pullAll({ since: cursor });
      expect(pulled.changes.map((change) => change.id).sort()).toEqual([...good].sort());
    });

    it('rejects the second of two rows claiming one unique value in a push, naming the first', async () => {
      const { server, a } = await twoDevices();
      const [first, second] = [newId(), newId()];
      const response = await a.push([
        a.upsert('products', first, productValues({ sku: 'TWIN' })),
        a.upsert('products', second, productValues({ sku: 'TWIN' })),
      ]);
      expect(statuses(response)).toEqual(['applied', 'rejected']);
      const error = rejection(response.results[1]);
      expect(error).toMatchObject({ code: 'UNIQUE_VIOLATION' });
      expect(error.message).toContain(first);
      expect(error.message).toContain('products.sku');
      expect((await storedRows(server)).has(`products/${second}`)).toBe(false);
    });

    it('lets a value freed by a delete or a rename in the same push be taken, in any order', async () => {
      const { a } = await twoDevices();
      const [deleted, renamed, taker1, taker2, swapA, swapB] = [
        newId(),
        newId(),
        newId(),
        newId(),
        newId(),
        newId(),
      ];
      await a.push([
        a.upsert('products', deleted, productValues({ sku: 'FREE-1' })),
        a.upsert('products', renamed, productValues({ sku: 'FREE-2' })),
        a.upsert('products', swapA, productValues({ sku: 'SWAP-A' })),
        a.upsert('products', swapB, productValues({ sku: 'SWAP-B' })),
      ]);
      const response = await a.push([
        a.upsert('products', taker1, productValues({ sku: 'FREE-1' })),
        a.delete('products', deleted),
        a.upsert('products', taker2, productValues({ sku: 'FREE-2' })),
        a.upsert('products', renamed, productValues({ sku: 'FREE-3', stock: { delta: 0 } })),
        a.upsert('products', swapA, productValues({ sku: 'SWAP-B', stock: { delta: 0 } })),
        a.upsert('products', swapB, productValues({ sku: 'SWAP-A', stock: { delta: 0 } })),
      ]);
      expect(statuses(response)).toEqual(['applied', 'applied', 'applied', 'applied', 'applied', 'applied']);

      // The values are held by their new rows now.
      const check = await a.push([
        a.upsert('products', newId(), productValues({ sku: 'FREE-1' })),
        a.upsert('products', newId(), productValues({ sku: 'FREE-2' })),
        a.upsert('products', newId(), productValues({ sku: 'SWAP-A' })),
        a.upsert('products', newId(), productValues({ sku: 'FREE-3' })),
      ]);
      expect(check.results.map((result) => rejection(result).code)).toEqual([
        'UNIQUE_VIOLATION',
        'UNIQUE_VIOLATION',
        'UNIQUE_VIOLATION',
        'UNIQUE_VIOLATION',
      ]);
      expect(check.results.map((result) => rejection(result).message)).toEqual([
        expect.stringContaining(taker1),
        expect.stringContaining(taker2),
        expect.stringContaining(swapB),
        expect.stringContaining(renamed),
      ]);
    });

    it('accepts a stamp just under the clock skew limit and refuses one past it', async () => {
      const { server, a } = await twoDevices();
      const now = server.clock.now();
      const response = await a.push([
        a.upsert('categories', newId(), { name: 'ok' }, a.stamps.at(now + MAX_CLOCK_SKEW_MS)),
        a.upsert('categories', newId(), { name: 'ahead' }, a.stamps.at(now + MAX_CLOCK_SKEW_MS + 1)),
      ]);
      expect(statuses(response)).toEqual(['applied', 'rejected']);
      expect(rejection(response.results[1]).message).toContain('5 minutes');
    });
  });

  describe('counters', () => {
    it('adds deltas from two devices exactly once, through a stale write and a retried pushId', async () => {
      const { server, a, b } = await twoDevices();
      const product = newId();
      const sku = 'COUNT-1';
      const t0 = server.clock.now();
      await a.push([
        a.upsert('products', product, productValues({ sku, stock: 10 }), a.stamps.at(t0 - 10_000)),
      ]);
      await b.pullAll();

      // Till A sells 1; tablet B, offline with an older clock, sells 3.
      const saleA = a.upsert(
        'products',
        product,
        productValues({ sku, stock: { delta: -1 } }),
        a.stamps.at(t0 - 5_000),
      );
      const pushA = randomUUID();
      expect(statuses(await a.push([saleA], pushA))).toEqual(['applied']);
      const saleB = b.upsert(
        'products',
        product,
        productValues({ sku, name: 'Renamed offline', stock: { delta: -3 } }),
        b.stamps.at(t0 - 8_000),
      );
      const pushB = randomUUID();
      const answerB = await b.push([saleB], pushB);
      expect(answerB.results[0]).toMatchObject({
        status: 'stale',
        current: { updatedAt: saleA.updatedAt, values: { name: 'Apple', stock: 6 } },
      });

      // Both answers were lost; both devices retry.
      expect(await b.push([saleB], pushB)).toEqual(answerB);
      expect(statuses(await a.push([saleA], pushA))).toEqual(['applied']);
      // A stock-take on B: it saw 6 and counts 7.
      const stockTake = b.upsert('products', product, productValues({ sku, stock: { delta: 1 } }));
      expect(statuses(await b.push([stockTake]))).toEqual(['applied']);

      const fresh = await server.pair('tillC');
      const pulled = await fresh.pullAll();
      expect(pulled.changes.find((change) => change.id === product)?.values).toMatchObject({ stock: 7 });
      const forA = await a.pullAll();
      expect(forA.changes.find((change) => change.id === product)?.values).toMatchObject({
        stock: 7,
        name: 'Apple',
      });
    });

    it('keeps a counter a plain integer on pull and in current, and starts a new row at its given value', async () => {
      const { a, b } = await twoDevices();
      const product = newId();
      const created = await a.push([a.upsert('products', product, productValues({ stock: 4 }))]);
      expect(statuses(created)).toEqual(['applied']);
      const pulled = await b.pullAll();
      expect(pulled.changes[0]?.values?.stock).toBe(4);
    });
  });

  it('rejects a plain counter value for a row that exists, even when the stamp is older', async () => {
    const { a } = await twoDevices();
    const product = newId();
    await a.push([a.upsert('products', product, productValues())]);
    const response = await a.push([
      a.upsert('products', product, productValues({ stock: 3 }), a.stamps.at(0)),
    ]);
    expect(rejection(response.results[0]).code).toBe('INVALID_VALUE');
  });
});

describe('two changes to one row in a push', () => {
  it('judges the row on its outcome even when an older change with a delta follows the applied one', async () => {
    const { server, a } = await twoDevices();
    const [holder, product, category] = [newId(), newId(), newId()];
    const t0 = server.clock.now();
    await a.push([
      a.upsert('products', holder, productValues({ sku: 'HELD' }), a.stamps.at(t0 - 9000)),
      a.upsert('products', product, productValues({ sku: 'MINE', stock: 10 }), a.stamps.at(t0 - 9000, 1)),
    ]);
    const response = await a.push([
      a.upsert(
        'products',
        product,
        productValues({ sku: 'HELD', stock: { delta: 0 } }),
        a.stamps.at(t0 - 1000),
      ),
      a.upsert(
        'products',
        product,
        productValues({ sku: 'MINE', stock: { delta: -2 } }),
        a.stamps.at(t0 - 5000),
      ),
      a.upsert('products', newId(), productValues({ category_id: category }), a.stamps.at(t0 - 900)),
    ]);
    expect(
      response.results.map((result) => (result.status === 'rejected' ? result.error.code : result.status)),
    ).toEqual([
      'UNIQUE_VIOLATION',
      // Judged without the rejected change, it is newer than the stored row.
      'applied',
      'FK_VIOLATION',
    ]);
    const stored = await storedRows(server);
    expect(stored.get(`products/${product}`)?.values).toMatchObject({ sku: 'MINE', stock: 8 });
    expect(stored.get(`products/${holder}`)?.values).toMatchObject({ sku: 'HELD' });
  });

  it('checks the foreign keys of a row whose applied change is followed by an older one with a delta', async () => {
    const { server, a } = await twoDevices();
    const [product, category] = [newId(), newId()];
    const t0 = server.clock.now();
    await a.push([a.upsert('products', product, productValues({ stock: 10 }), a.stamps.at(t0 - 9000))]);
    const response = await a.push([
      a.upsert(
        'products',
        product,
        productValues({ category_id: category, stock: { delta: 0 } }),
        a.stamps.at(t0 - 1000),
      ),
      a.upsert('products', product, productValues({ stock: { delta: -1 } }), a.stamps.at(t0 - 5000)),
    ]);
    expect(
      response.results.map((result) => (result.status === 'rejected' ? result.error.code : result.status)),
    ).toEqual(['FK_VIOLATION', 'applied']);
    expect((await storedRows(server)).get(`products/${product}`)?.values).toMatchObject({
      category_id: null,
      stock: 9,
    });
  });
});

describe('an applied change followed by an older one with a delta', () => {
  it('keeps the applied state and adds the delta to it', async () => {
    const { server, a, b } = await twoDevices();
    const product = newId();
    const t0 = server.clock.now();
    await a.push([
      a.upsert('products', product, productValues({ sku: 'P-1', stock: 10 }), a.stamps.at(t0 - 9000)),
    ]);
    const newer = a.upsert(
      'products',
      product,
      productValues({ sku: 'P-2', name: 'New', stock: { delta: 0 } }),
      a.stamps.at(t0 - 1000),
    );
    const response = await a.push([
      newer,
      a.upsert(
        'products',
        product,
        productValues({ sku: 'P-1', name: 'Old', stock: { delta: -2 } }),
        a.stamps.at(t0 - 5000),
      ),
    ]);
    expect(response.results[0]?.status).toBe('applied');
    expect(response.results[1]).toMatchObject({
      status: 'stale',
      current: { updatedAt: newer.updatedAt, values: { sku: 'P-2', name: 'New', stock: 8 } },
    });
    const pulled = await b.pullAll();
    expect(pulled.changes).toEqual([
      expect.objectContaining({
        id: product,
        updatedAt: newer.updatedAt,
        values: expect.objectContaining({ sku: 'P-2', stock: 8 }),
      }),
    ]);
    expect(pulled.checksums.products).toEqual(checksumsOf(pulled.changes, ['products']).products);
  });
});

import { MAX_PULL_LIMIT, type Change, type PulledChange } from '@tillsync/protocol';
import { describe, expect, it } from 'vitest';
import {
  Replica,
  SHOP_TABLES,
  TestClock,
  checksumsOf,
  expectError,
  newId,
  productValues,
  pull,
  pullAll,
  request,
  startTestServer,
  type TestDevice,
} from './helpers.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Pushes `count` categories in pushes of `perPush`; returns their ids. */
async function pushCategories(
  device: TestDevice,
  count: number,
  perPush = 10,
  prefix = 'c',
): Promise<string[]> {
  const ids = Array.from({ length: count }, () => newId());
  for (let start = 0; start < count; start += perPush) {
    const changes = ids
      .slice(start, start + perPush)
      .map((id, i) => device.upsert('categories', id, { name: `${prefix}${start + i}` }));
    const response = await device.push(changes);
    expect(response.results.every((result) => result.status === 'applied')).toBe(true);
  }
  return ids;
}

describe('pull', () => {
  it('pages with a small limit: each row exactly once, in its latest state, at most once per page', async () => {
    const server = await startTestServer();
    const a = await server.pair('tillA');
    const b = await server.pair('tillB');
    const ids = await pushCategories(a, 40);
    const products = [newId(), newId()];
    await a.push(products.map((id) => a.upsert('products', id, productValues())));
    // Rows changed again move to the end of the order; deleted ones come as tombstones.
    await a.push(ids.slice(0, 10).map((id) => a.upsert('categories', id, { name: `renamed ${id}` })));
    await a.push(ids.slice(10, 15).map((id) => a.delete('categories', id)));

    // A fresh snapshot hands out the live rows only (PROTOCOL.md §2): the deleted ones never reach it.
    const snapshot = await b.pullAll({ limit: 7 });
    expect(snapshot.pages).toHaveLength(Math.ceil(37 / 7));
    expect(snapshot.pages.slice(0, -1).every((page) => page.hasMore && page.changes.length === 7)).toBe(true);
    const seen = snapshot.changes.map((change) => change.id);
    const deleted = new Set(ids.slice(10, 15));
    expect(seen.sort()).toEqual([...ids.filter((id) => !deleted.has(id)), ...products].sort());
    const replica = new Replica().apply(snapshot.changes);
    for (const id of ids.slice(0, 10))
      expect(replica.get('categories', id)?.values).toEqual({ name: `renamed ${id}` });
    for (const id of deleted) expect(replica.get('categories', id)).toBeUndefined();
    expect(replica.get('categories', ids[20] ?? '')?.values).toEqual({ name: 'c20' });
    expect(snapshot.checksums).toEqual(replica.checksums(SHOP_TABLES));
    expect(snapshot.checksums.categories?.count).toBe(35);

    // At the final cursor there is nothing more, and the cursor stays.
    const atEnd = await pull(b.baseUrl, b.accessToken, snapshot.cursor, 7);
    expect(atEnd).toMatchObject({ changes: [], hasMore: false, cursor: snapshot.cursor });

    // From that cursor, only what changed since comes, once.
    await a.push([
      a.upsert('categories', ids[30] ?? '', { name: 'later' }),
      a.delete('products', products[0] ?? ''),
    ]);
    await a.push([a.upsert('categories', ids[30] ?? '', { name: 'later still' })]);
    const next = await b.pullAll({ limit: 1 });
    expect(next.changes.map((change) => [change.id, change.op])).toEqual([
      [products[0], 'delete'],
      [ids[30], 'upsert'],
    ]);
    expect(next.changes[1]?.values).toEqual({ name: 'later still' });
    expect(next.checksums).toEqual(replica.apply(next.changes).checksums(SHOP_TABLES));
  });

  it('misses nothing while three devices push and another pages with small pages', async () => {
    const server = await startTestServer();
    const pushers = await Promise.all([server.pair('p1'), server.pair('p2'), server.pair('p3')]);
    const puller = await server.pair('puller');
    const replica = new Replica();
    let pushing = true;

    const pushes = Promise.all(
      pushers.map(async (device, n) => {
        const ids: string[] = [];
        for (let round = 0; round < 20; round++) {
          const changes: Change[] = [];
          for (let i = 0; i < 8; i++) {
            const id = newId();
            ids.push(id);
            changes.push(device.upsert('categories', id, { name: `${n}-${round}-${i}` }));
          }
          // Rows written earlier change again, so they move past the puller's cursor.
          if (round > 0)
            changes.push(device.upsert('categories', ids[round - 1] ?? '', { name: `${n}-again-${round}` }));
          if (round > 1) changes.push(device.delete('categories', ids[round * 2] ?? ''));
          await device.push(changes);
        }
      }),
    ).finally(() => {
      pushing = false;
    });

    let pages = 0;
    while (pushing) {
      const result = await puller.pullAll({ limit: 5 });
      pages += result.pages.length;
      replica.apply(result.changes);
    }
    await pushes;
    const last = await puller.pullAll({ limit: 5 });
    replica.apply(last.changes);
    expect(pages).toBeGreaterThan(3);

    const fresh = new Replica().apply(
      (await pullAll(server.url, puller.accessToken, '', MAX_PULL_LIMIT)).changes,
    );
    // The fresh snapshot holds the live rows only; the replica, the tombstones it pulled since its own.
    const key = (change: PulledChange): string => `${change.table}/${change.id}`;
    expect(fresh.rows.size).toBe(fresh.live().length);
    expect(replica.live().map(key).sort()).toEqual(fresh.live().map(key).sort());
    expect(replica.live().sort((x, y) => (key(x) < key(y) ? -1 : 1))).toEqual(
      fresh.live().sort((x, y) => (key(x) < key(y) ? -1 : 1)),
    );
    expect(last.checksums).toEqual(replica.checksums(SHOP_TABLES));
  });

  it('hands out checksums on the last page equal to a recomputation from the pulled snapshot', async () => {
    const server = await startTestServer();
    const a = await server.pair('tillA');
    const [category, customer, product, sale, item] = [newId(), newId(), newId(), newId(), newId()];
    await a.push([
      a.upsert('categories', category, { name: 'Fruit' }),
      a.upsert('customers', customer, { name: 'Ann', phone: null, email: 'ann@example.com' }),
      a.upsert('products', product, productValues({ category_id: category })),
      a.upsert('sales', sale, {
        customer_id: customer,
        total_cents: 120,
        created_at: '2026-11-22T10:00:00.000Z',
      }),
      a.upsert('sale_items', item, { sale_id: sale, product_id: product, quantity: 1, price_cents: 120 }),
    ]);
    await a.push([
      a.delete('customers', customer),
      a.upsert('categories', category, { name: 'Fresh fruit' }),
    ]);

    const snapshot = await a.pullAll({ limit: 2 });
    expect(Object.keys(snapshot.checksums).sort()).toEqual([...SHOP_TABLES].sort());
    expect(snapshot.checksums).toEqual(
      checksumsOf(
        snapshot.changes.filter((change) => change.op === 'upsert'),
        SHOP_TABLES,
      ),
    );
    expect(snapshot.checksums.customers).toEqual({ count: 0, sum: '0000000000000000' });
    // The sale's day, written by the sale-daily-sales sync job (PROTOCOL.md §6).
    expect(snapshot.checksums.daily_sales?.count).toBe(1);
    expect(snapshot.pages.slice(0, -1).every((page) => page.checksums === undefined)).toBe(true);
  });

  it('refuses a cursor it did not hand out and a limit that is not a number, with 400', async () => {
    const server = await startTestServer();
    const a = await server.pair('tillA');
    await pushCategories(a, 3);
    for (const since of ['garbage', 's1.', 's1.!!', 's2.5', 's1.zzzzzzzzzzzz', '12', 's1.-1']) {
      const answer = await a.request('GET', `/api/sync/pull?since=${encodeURIComponent(since)}`);
      expectError(answer, 400, 'INVALID_REQUEST');
    }
    for (const limit of ['abc', '-1', '1.5', '']) {
      const answer = await a.request('GET', `/api/sync/pull?limit=${encodeURIComponent(limit)}`);
      expectError(answer, 400, 'INVALID_REQUEST');
    }
    const capped = await pull(a.baseUrl, a.accessToken, '', 999_999_999);
    expect(capped.changes).toHaveLength(3);
  });

  describe('tombstones and RESYNC_REQUIRED', () => {
    it('keeps tombstones for the retention, then answers an older cursor 410 while a fresh snapshot works', async () => {
      const clock = new TestClock();
      const server = await startTestServer({
        clock,
        tombstoneRetentionDays: 1,
        accessTokenTtlSec: 30 * 24 * 3600,
      });
      const a = await server.pair('tillA');
      const b = await server.pair('tillB');
      const ids = await pushCategories(a, 6);
      const oldCursor = (await b.pullAll()).cursor;
      await a.push([a.delete('categories', ids[0] ?? '')]);
      const passedCursor = (await a.pullAll()).cursor;

      clock.advance(DAY_MS / 2);
      await server.server.runMaintenance();
      const kept = await pull(b.baseUrl, b.accessToken, oldCursor);
      expect(kept.changes).toEqual([expect.objectContaining({ id: ids[0], op: 'delete' })]);

      clock.advance(DAY_MS);
      await server.server.runMaintenance();
      const answer = await b.request('GET', `/api/sync/pull?since=${encodeURIComponent(oldCursor)}`);
      expectError(answer, 410, 'RESYNC_REQUIRED');

      // The device whose cursor passed the tombstone goes on as before.
      expect((await pull(a.baseUrl, a.accessToken, passedCursor)).changes).toEqual([]);

      // A fresh snapshot works, in one page or in many, and leads to cursors that work.
      for (const limit of [100, 2, 1]) {
        const snapshot = await pullAll(b.baseUrl, b.accessToken, '', limit);
        expect(snapshot.changes.map((change) => change.id).sort()).toEqual(ids.slice(1).sort());
        expect(snapshot.checksums).toEqual(checksumsOf(snapshot.changes, SHOP_TABLES));
        expect((await pull(b.baseUrl, b.accessToken, snapshot.cursor)).changes).toEqual([]);
      }
    });

    it('purges at start after the retention passed (retention 0, restarted)', async () => {
      const clock = new TestClock();
      const first = await startTestServer({ clock, tombstoneRetentionDays: 0 });
      const a = await first.pair('tillA');
      const ids = await pushCategories(a, 3);
      const oldCursor = (await a.pullAll()).cursor;
      await a.push([a.delete('categories', ids[1] ?? '')]);
      await first.close();

      clock.advance(1000);
      const second = await startTestServer({ clock, tombstoneRetentionDays: 0, dbPath: first.dbPath });
      const since = `/api/sync/pull?since=${encodeURIComponent(oldCursor)}`;
      expectError(await request(second.url, 'GET', since, { token: a.accessToken }), 410, 'RESYNC_REQUIRED');
      const snapshot = await pullAll(second.url, a.accessToken, '');
      expect(snapshot.changes.map((change) => change.id).sort()).toEqual([ids[0], ids[2]].sort());
    });

    it('measures the retention on the clock it was given', async () => {
      // A clock far from the real one: retention is judged on it alone.
      const clock = new TestClock(Date.parse('2031-03-01T12:00:00.000Z'));
      const server = await startTestServer({
        clock,
        tombstoneRetentionDays: 1,
        accessTokenTtlSec: 30 * 24 * 3600,
      });
      const a = await server.pair('tillA');
      const b = await server.pair('tillB');
      const ids = await pushCategories(a, 2);
      const oldCursor = (await b.pullAll()).cursor;
      await a.push([a.delete('categories', ids[0] ?? '')]);

      await server.server.runMaintenance();
      // Another till pulls the kept tombstone (tillA, which deleted the row, holds it already).
      expect((await pull(b.baseUrl, b.accessToken, oldCursor)).changes).toHaveLength(1);
      clock.advance(DAY_MS + 1);
      await server.server.runMaintenance();
      expectError(
        await b.request('GET', `/api/sync/pull?since=${encodeURIComponent(oldCursor)}`),
        410,
        'RESYNC_REQUIRED',
      );
    });
  });

  it('answers a pull at once when there is nothing, with the server time', async () => {
    const server = await startTestServer();
    const a = await server.pair('tillA');
    const page = await pull(a.baseUrl, a.accessToken, '');
    expect(page).toMatchObject({
      changes: [],
      hasMore: false,
      serverTime: new Date(server.clock.now()).toISOString(),
    });
    expect(page.checksums?.categories).toEqual({ count: 0, sum: '0000000000000000' });
  });
});

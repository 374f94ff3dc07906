import { describe, expect, it } from 'vitest';
import {
  CHAIN_SCHEMA,
  CompiledSchema,
  ConflictList,
  CreatedStore,
  DeviceInfo,
  PairResponse,
  PairingCodeResponse,
  StoreList,
  type Change,
  type PushResult,
} from '@tillsync/protocol';
import { toRowWrite } from '../src/rows/row-writer.js';
import { EventStream } from './event-stream.js';
import { rowKey } from '../src/storage/sync-store.js';
import {
  expectError,
  expectOk,
  newId,
  request,
  Replica,
  TestDevice,
  type TestServer,
  type TestServerOptions,
} from './helpers.js';

/** Opens a test server on one engine with the options given (the chain schema, or none). */
export type OpenServer = (options?: TestServerOptions) => Promise<TestServer>;

const SCHEMA = new CompiledSchema(CHAIN_SCHEMA);
const TABLES = Object.keys(CHAIN_SCHEMA.tables);
const PER_STORE = new Set(['sales', 'sale_items', 'daily_sales', 'stock_levels']);

/** A chain of two stores with a till in each and the catalogue's first rows. */
async function chain(open: OpenServer, options: TestServerOptions = {}) {
  const server = await open({ ...options, schema: CHAIN_SCHEMA });
  const owner = server.ownerToken;
  const stores = expectOk(await request(server.url, 'GET', '/api/stores', { token: owner }), StoreList);
  expect(stores).toHaveLength(1);
  const storeA = stores[0]!.id;
  const storeB = expectOk(
    await request(server.url, 'POST', '/api/stores', { token: owner, json: { name: 'Harbour' } }),
    CreatedStore,
    201,
  ).id;
  const pairIn = async (storeId: string, nodeId: string): Promise<TestDevice> => {
    const code = expectOk(
      await request(server.url, 'POST', '/api/pairing-codes', { token: owner, json: { storeId } }),
      PairingCodeResponse,
      201,
    );
    expect(code.storeId).toBe(storeId);
    const paired = expectOk(
      await request(server.url, 'POST', '/api/devices/pair', { json: { code: code.code, name: nodeId } }),
      PairResponse,
      201,
    );
    expect(paired.storeId).toBe(storeId);
    return new TestDevice(server.url, paired, nodeId, server.clock.now);
  };
  const a = await pairIn(storeA, 'till-a');
  const b = await pairIn(storeB, 'till-b');
  const product = newId();
  const results = await a.push([
    a.upsert('products', product, { sku: 'APL', name: 'Apple', price_cents: 120 }),
  ]);
  expect(results.results[0]?.status).toBe('applied');
  return { server, owner, storeA, storeB, a, b, product, pairIn };
}

function sale(device: TestDevice, id: string, storeId: string): Change {
  return device.upsert('sales', id, {
    store_id: storeId,
    total_cents: 240,
    created_at: '2026-12-06T10:00:00.000Z',
  });
}

function statuses(results: readonly PushResult[]): string[] {
  return results.map((result) => (result.status === 'rejected' ? result.error.code : result.status));
}

/** Every per-store row a device holds belongs to `storeId`. */
function expectOnlyStore(replica: Replica, storeId: string): void {
  for (const row of replica.live())
    if (PER_STORE.has(row.table)) expect(row.values?.['store_id'], `${row.table} ${row.id}`).toBe(storeId);
}

export function storesSuite(engine: string, open: OpenServer): void {
  describe(`stores on ${engine}`, () => {
    it('keeps stores as apart as tenants: a till pulls and writes its own store only, by every endpoint', async () => {
      const { server, storeA, storeB, a, b, product } = await chain(open);
      const saleA = newId();
      const itemA = newId();
      const saleB = newId();
      expect(
        statuses(
          (
            await a.push([
              sale(a, saleA, storeA),
              a.upsert('sale_items', itemA, {
                store_id: storeA,
                sale_id: saleA,
                product_id: product,
                quantity: 2,
                price_cents: 120,
              }),
            ])
          ).results,
        ),
      ).toEqual(['applied', 'applied']);
      expect(statuses((await b.push([sale(b, saleB, storeB)])).results)).toEqual(['applied']);

      // Writes of another store's rows, by every way a push can name one.
      const answer = await b.push([
        b.upsert('sales', saleA, { total_cents: 1 }),
        b.delete('sales', saleA),
        sale(b, newId(), storeA),
        sale(b, newId(), 'no-such-store'),
        b.upsert('sales', saleB, { store_id: storeA }),
        b.upsert('sale_items', newId(), {
          store_id: storeB,
          sale_id: saleA,
          product_id: product,
          quantity: 1,
          price_cents: 1,
        }),
        b.upsert('stores', storeB, { name: 'Mine now' }),
      ]);
      expect(statuses(answer.results)).toEqual([
        'OUT_OF_SCOPE',
        'OUT_OF_SCOPE',
        'OUT_OF_SCOPE',
        'OUT_OF_SCOPE',
        'OUT_OF_SCOPE',
        'FK_VIOLATION',
        'READ_ONLY_TABLE',
      ]);
      // A rejection says nothing of the other store's row beyond what the device sent.
      expect(JSON.stringify(answer)).not.toContain('"total_cents":240');

      for (const [device, storeId, mine, theirs] of [
        [a, storeA, [saleA, itemA], [saleB]],
        [b, storeB, [saleB], [saleA, itemA]],
      ] as const) {
        const pulled = await device.pullAll({ limit: 2 });
        const replica = new Replica().apply(pulled.changes);
        expect(pulled.pages.every((page) => page.storeId === storeId)).toBe(true);
        for (const id of mine) expect(pulled.changes.some((change) => change.id === id)).toBe(true);
        for (const id of theirs) expect(pulled.changes.some((change) => change.id === id)).toBe(false);
        expectOnlyStore(replica, storeId);
        // Both stores are in the synced stores table, so a store column resolves on every device.
        expect(replica.get('stores', storeA)?.op).toBe('upsert');
        expect(replica.get('stores', storeB)?.values).toEqual({ name: 'Harbour' });
        expect(pulled.checksums).toEqual(replica.checksums(TABLES));
      }

      // The rejected writes changed nothing of store A's rows.
      const stored = await server.server.storage.sync
        .forTenant(server.tenantId)
        .readRows([{ table: 'sales', id: saleA }]);
      expect(stored.get(rowKey('sales', saleA))?.values).toMatchObject({
        total_cents: 240,
        store_id: storeA,
      });
    });

    it('names no row of another store in a rejection: a reference to one reads like one to a missing row', async () => {
      const { storeA, storeB, a, b, product } = await chain(open);
      const saleA = newId();
      const itemA = newId();
      await a.push([
        sale(a, saleA, storeA),
        a.upsert('sale_items', itemA, {
          store_id: storeA,
          sale_id: saleA,
          product_id: product,
          quantity: 1,
          price_cents: 120,
        }),
      ]);
      const item = (id: string, saleId: string): Change =>
        b.upsert('sale_items', id, {
          store_id: storeB,
          sale_id: saleId,
          product_id: product,
          quantity: 1,
          price_cents: 1,
        });
      const [toTheirs, toNothing] = [newId(), newId()];
      const nowhere = newId();
      const pointing = await b.push([item(toTheirs, saleA), item(toNothing, nowhere)]);
      const messages = pointing.results.map((result) =>
        result.status === 'rejected' ? `${result.error.code}: ${result.error.message}` : result.status,
      );
      expect(messages[0]).toBe(messages[1]?.replace(nowhere, saleA));
      expect(messages[0]).toMatch(/^FK_VIOLATION: /);

      // A delete of the catalogue's product that store A's sale item still needs: refused, naming no row of A.
      const refused = await b.push([b.delete('products', product)]);
      const result = refused.results[0];
      expect(result).toMatchObject({ status: 'rejected', error: { code: 'FK_VIOLATION' } });
      expect(JSON.stringify(refused)).not.toContain(itemA);
      expect(JSON.stringify(refused)).not.toContain(saleA);
      // Store A's own till is told which of its rows holds on to it.
      const own = await a.push([a.delete('products', product)]);
      expect(own.results[0]?.status === 'rejected' && own.results[0].error.message).toContain(itemA);
    });

    it("shows a till neither another store's conflicts nor anything of its rows through the schema or the owner's calls", async () => {
      const { server, owner, storeA, a, b, pairIn } = await chain(open);
      const a2 = await pairIn(storeA, 'till-a2');
      const saleA = newId();
      await a.push([sale(a, saleA, storeA)]);
      // A second till of store A overrides the total without having seen it: a conflict on store A's sale.
      server.clock.advance(1_000);
      await a2.push([a2.upsert('sales', saleA, { total_cents: 999 })]);
      const conflicts = expectOk(
        await request(server.url, 'GET', '/api/conflicts', { token: owner }),
        ConflictList,
      );
      expect(conflicts.map((conflict) => [conflict.table, conflict.id, conflict.column])).toEqual([
        ['sales', saleA, 'total_cents'],
      ]);

      // The owner's calls are the owner's: a till of either store is refused, another tenant's owner sees none.
      for (const device of [b, a]) {
        for (const path of ['/api/conflicts', '/api/stores', '/api/devices', '/api/sync-jobs']) {
          expectError(await device.request('GET', path), 403, 'FORBIDDEN');
        }
      }
      const stranger = await server.otherTenantOwner();
      expect(
        expectOk(await request(server.url, 'GET', '/api/conflicts', { token: stranger.token }), ConflictList),
      ).toEqual([]);

      // The schema is the same for every till and carries no row: nothing of store A's sale.
      const schema = await b.request('GET', '/api/sync/schema');
      expect(schema.status).toBe(200);
      expect(schema.body).toEqual(CHAIN_SCHEMA);
      expect(JSON.stringify(schema.body)).not.toContain(saleA);
      expect(JSON.stringify(schema.body)).not.toContain(storeA);
    });

    it('judges unique rules over several columns like single ones: one stock level per store and product', async () => {
      const { storeA, storeB, a, b, product } = await chain(open);
      const level = (device: TestDevice, id: string, storeId: string): Change =>
        device.upsert('stock_levels', id, { store_id: storeId, product_id: product, quantity: 10 });
      const first = newId();
      expect(statuses((await a.push([level(a, first, storeA)])).results)).toEqual(['applied']);
      const twice = await a.push([level(a, newId(), storeA)]);
      expect(statuses(twice.results)).toEqual(['UNIQUE_VIOLATION']);
      const rejected = twice.results[0];
      expect(rejected?.status === 'rejected' && rejected.error.message).toContain(first);
      // The same product in another store is another key.
      expect(statuses((await b.push([level(b, newId(), storeB)])).results)).toEqual(['applied']);
      // Two rows of one push that claim the same key: the second is refused.
      const other = newId();
      await a.push([a.upsert('products', other, { sku: 'PER', name: 'Pear', price_cents: 90 })]);
      const claims = await a.push([
        a.upsert('stock_levels', newId(), { store_id: storeA, product_id: other, quantity: 1 }),
        a.upsert('stock_levels', newId(), { store_id: storeA, product_id: other, quantity: 2 }),
      ]);
      expect(statuses(claims.results)).toEqual(['applied', 'UNIQUE_VIOLATION']);
      // A counter of its own store adds up.
      await a.push([a.upsert('stock_levels', first, { quantity: { delta: -3 } })]);
      const pulled = await a.pullAll();
      expect(new Replica().apply(pulled.changes).get('stock_levels', first)?.values?.['quantity']).toBe(7);
    });

    it('moves a device: its old cursor answers 410, and its fresh snapshot holds the new store only', async () => {
      const { server, owner, storeA, storeB, a, b } = await chain(open);
      const saleA = newId();
      const saleB = newId();
      await a.push([sale(a, saleA, storeA)]);
      await b.push([sale(b, saleB, storeB)]);
      await a.pullAll();
      const moved = expectOk(
        await request(server.url, 'POST', `/api/devices/${a.deviceId}/store`, {
          token: owner,
          json: { storeId: storeB },
        }),
        DeviceInfo,
      );
      expect(moved.storeId).toBe(storeB);
      expectError(await a.request('GET', `/api/sync/pull?since=${a.cursor}`), 410, 'RESYNC_REQUIRED');
      const snapshot = await a.pullAll({ since: '', limit: 1 });
      const replica = new Replica().apply(snapshot.changes);
      expect(replica.get('sales', saleB)?.op).toBe('upsert');
      expect(replica.get('sales', saleA)).toBeUndefined();
      expectOnlyStore(replica, storeB);
      expect(snapshot.checksums).toEqual(replica.checksums(TABLES));
      // Now a till of store B: it writes B's rows, and A's are another store's.
      expect(statuses((await a.push([sale(a, newId(), storeB), sale(a, newId(), storeA)])).results)).toEqual([
        'applied',
        'OUT_OF_SCOPE',
      ]);
      const devices = expectOk(await request(server.url, 'GET', '/api/stores', { token: owner }), StoreList);
      expect(devices.map((store) => store.devices)).toEqual([0, 2]);
      // A store or device of no such id, or another tenant's, is a 404 and moves nothing.
      expectError(
        await request(server.url, 'POST', `/api/devices/${a.deviceId}/store`, {
          token: owner,
          json: { storeId: 'nope' },
        }),
        404,
        'NOT_FOUND',
      );
      const other = await server.otherTenantOwner();
      expectError(
        await request(server.url, 'POST', `/api/devices/${a.deviceId}/store`, {
          token: other.token,
          json: { storeId: storeA },
        }),
        404,
        'NOT_FOUND',
      );
    });

    it('evicts a row a sync job moves to another store from its old store, once', async () => {
      const { server, storeA, storeB, a, b } = await chain(open);
      const saleA = newId();
      await a.push([sale(a, saleA, storeA)]);
      await a.pullAll();
      await b.pullAll();
      // The server's write, as a job's target write makes it, through the one row writer.
      const sync = server.server.storage.sync.forTenant(server.tenantId);
      await sync.push(async (tx) => {
        const stored = await tx.getRows([{ table: 'sales', id: saleA }]);
        const previous = stored.get(rowKey('sales', saleA));
        await tx.writeRows([
          toRowWrite(SCHEMA.table('sales'), {
            table: 'sales',
            id: saleA,
            values: { ...previous?.values, store_id: storeB },
            updatedAt: a.stamps.next(),
            deviceId: null,
            stamps: null,
            previous,
          }),
        ]);
      });
      const atA = await a.pullAll();
      expect(atA.changes).toEqual([expect.objectContaining({ table: 'sales', id: saleA, op: 'evict' })]);
      // A fresh snapshot may carry the eviction too (of a row it never delivers): either way, not the row.
      const replicaA = new Replica().apply((await a.pullAll({ since: '' })).changes);
      expect(replicaA.get('sales', saleA)?.op ?? 'absent').not.toBe('upsert');
      expect(atA.checksums['sales']).toEqual(replicaA.checksums(TABLES)['sales']);
      expect((await a.pullAll()).changes).toEqual([]);
      const atB = await b.pullAll();
      expect(atB.changes.find((change) => change.id === saleA)?.values?.['store_id']).toBe(storeB);
      // Its new store writes it; its old one may not.
      server.clock.advance(1_000);
      expect(statuses((await b.push([b.upsert('sales', saleA, { total_cents: 5 })])).results)).toEqual([
        'applied',
      ]);
      expect(statuses((await a.push([a.upsert('sales', saleA, { total_cents: 6 })])).results)).toEqual([
        'OUT_OF_SCOPE',
      ]);
    });

    it("keeps one daily_sales row per store and day, each in its own store's scope", async () => {
      const { storeA, storeB, a, b } = await chain(open, { jobs: { pollIntervalMs: 20 } });
      await a.push([sale(a, newId(), storeA), sale(a, newId(), storeA)]);
      await b.push([sale(b, newId(), storeB)]);
      for (const [device, storeId, count] of [
        [a, storeA, 2],
        [b, storeB, 1],
      ] as const) {
        const deadline = Date.now() + 15_000;
        let replica = new Replica();
        for (;;) {
          replica = new Replica().apply((await device.pullAll({ since: '' })).changes);
          const totals = replica.live().filter((row) => row.table === 'daily_sales');
          if (totals.length === 1 && totals[0]?.values?.['sales_count'] === count) break;
          if (Date.now() > deadline) throw new Error(`daily_sales never came: ${JSON.stringify(totals)}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expectOnlyStore(replica, storeId);
        const totals = replica.live().filter((row) => row.table === 'daily_sales');
        expect(totals[0]?.values).toEqual({
          store_id: storeId,
          day: '2026-12-06',
          sales_count: count,
          total_cents: 240 * count,
        });
      }
    });

    it("tells of a sync job's write only the devices of the store it wrote in", async () => {
      const { server, storeA, a, b, pairIn } = await chain(open, { jobs: { pollIntervalMs: 20 } });
      const a2 = await pairIn(storeA, 'till-a2');
      const [streamA2, streamB] = await Promise.all([EventStream.open(a2), EventStream.open(b)]);
      // Store A's sale, then the daily_sales row the job writes in store A's scope: A's other till hears both.
      await a.push([sale(a, newId(), storeA)]);
      await streamA2.waitFor(2);
      expect(streamA2.notices).toHaveLength(2);
      expect(streamA2.notices).toEqual(
        expect.arrayContaining([
          { tenantId: server.tenantId, deviceId: a.deviceId },
          { tenantId: server.tenantId, deviceId: null },
        ]),
      );
      // Store B hears the catalogue's change only, never store A's sale nor its daily total.
      await a.push([a.upsert('categories', newId(), { name: 'Fruit' })]);
      await streamB.waitFor(1);
      await streamA2.waitFor(3);
      expect(streamB.notices).toEqual([{ tenantId: server.tenantId, deviceId: a.deviceId }]);
    });

    it('never skips or leaks while one store pushes and another store pages', async () => {
      const { storeA, storeB, a, b, pairIn } = await chain(open);
      const b2 = await pairIn(storeB, 'till-b2');
      const written = new Set<string>();
      const pushes = (async () => {
        for (let round = 0; round < 8; round++) {
          await a.push([sale(a, newId(), storeA), sale(a, newId(), storeA)]);
          const id = newId();
          written.add(id);
          await b2.push([sale(b2, id, storeB)]);
        }
      })();
      const replica = new Replica();
      let pages = 0;
      while (pages < 200) {
        const page = await b.pullAll({ limit: 2 });
        replica.apply(page.changes);
        pages += page.pages.length;
        if (written.size === 8 && (await Promise.race([pushes.then(() => true), Promise.resolve(false)])))
          break;
      }
      await pushes;
      const last = await b.pullAll({ limit: 2 });
      replica.apply(last.changes);
      expectOnlyStore(replica, storeB);
      for (const id of written) expect(replica.get('sales', id)?.op).toBe('upsert');
      expect(last.checksums).toEqual(replica.checksums(TABLES));
    });

    it("measures a till's fresh snapshot against its own scope's rows, not the chain's", async () => {
      const { storeA, storeB, a, b } = await chain(open);
      await a.push([sale(a, newId(), storeA)]);
      await b.push([sale(b, newId(), storeB), sale(b, newId(), storeB), sale(b, newId(), storeB)]);
      for (const device of [a, b]) {
        const pulled = await device.pullAll({ since: '', limit: 1 });
        // The first page of a snapshot of several pages says how many rows the snapshot holds.
        expect(pulled.pages[0]?.snapshotRows).toBe(pulled.changes.length);
      }
    });

    it('leaves a tenant of one store as it was: every row to every device, one store listed', async () => {
      const server = await open();
      const first = await server.pair('till-1');
      const second = await server.pair('till-2');
      const product = newId();
      await first.push([
        first.upsert('products', product, { sku: 'A', name: 'A', price_cents: 1, stock: 3 }),
      ]);
      const pulled = await second.pullAll();
      expect(pulled.changes.map((change) => change.id)).toEqual([product]);
      const stores = expectOk(
        await request(server.url, 'GET', '/api/stores', { token: server.ownerToken }),
        StoreList,
      );
      expect(stores).toEqual([
        { id: pulled.pages[0]?.storeId, name: expect.any(String) as string, devices: 2 },
      ]);
    });
  });
}

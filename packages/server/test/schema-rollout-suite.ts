import {
  CHAIN_SCHEMA,
  CreatedStore,
  DeviceList,
  PairResponse,
  PairingCodeResponse,
  SchemaChangeError,
  StoreList,
  parseSchema,
  type SyncSchema,
} from '@tillsync/protocol';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  expectError,
  expectOk,
  newId,
  Replica,
  request,
  startTestServer,
  TestDevice,
  type TestServer,
  type TestServerOptions,
} from './helpers.js';

/** Where the servers of one test keep their data: each start of the test opens the same database. */
export type RolloutDatabase = Pick<TestServerOptions, 'dbPath' | 'databaseUrl'>;

export const V1: SyncSchema = parseSchema({
  version: 1,
  tables: {
    categories: { columns: { name: { type: 'text', required: true } } },
    products: {
      columns: {
        sku: { type: 'text', required: true },
        name: { type: 'text', required: true },
        price_cents: { type: 'integer', required: true },
        stock: { type: 'integer', required: true, merge: 'counter' },
        category_id: { type: 'text' },
        size: { type: 'text' },
      },
    },
  },
});

/** V1 changed by `edit`, at `version`. */
export function changed(version: number, edit: (tables: SyncSchema['tables']) => void): SyncSchema {
  const copy = structuredClone({ ...V1, version });
  edit(copy.tables);
  return parseSchema(copy);
}

function productColumns(tables: SyncSchema['tables']): SyncSchema['tables'][string]['columns'] {
  const products = tables.products;
  if (!products) throw new Error('no products table');
  return products.columns;
}

/** Version 2: only additive changes. */
export const ADDITIVE = changed(2, (tables) => {
  tables.tags = { columns: { label: { type: 'text', required: true } } };
  const columns = productColumns(tables);
  columns.barcode = { type: 'text' };
  columns.shelf = { type: 'text', required: true, default: 'A' };
  columns.sold = { type: 'integer', merge: 'counter' };
  columns.name = { type: 'text' };
});

/** Version 2: a type changed and a column removed. */
export const BREAKING = changed(2, (tables) => {
  const columns = productColumns(tables);
  columns.price_cents = { type: 'text', required: true };
  delete columns.size;
});

/** The chain schema changed by `edit`, at `version`. */
function chainAt(
  version: number,
  edit: (tables: SyncSchema['tables']) => void = () => undefined,
): SyncSchema {
  const copy = structuredClone({ ...CHAIN_SCHEMA, version });
  edit(copy.tables);
  return parseSchema(copy);
}

const CHAIN_TABLES = Object.keys(CHAIN_SCHEMA.tables);

/** A second store of the server's tenant, and a till paired in each store. */
async function twoStores(
  server: TestServer,
): Promise<{ storeA: string; storeB: string; a: TestDevice; b: TestDevice }> {
  const owner = server.ownerToken;
  const storeA = expectOk(await request(server.url, 'GET', '/api/stores', { token: owner }), StoreList)[0]!
    .id;
  const storeB = expectOk(
    await request(server.url, 'POST', '/api/stores', { token: owner, json: { name: 'Harbour' } }),
    CreatedStore,
    201,
  ).id;
  const b = expectOk(
    await request(server.url, 'POST', '/api/devices/pair', {
      json: {
        code: expectOk(
          await request(server.url, 'POST', '/api/pairing-codes', {
            token: owner,
            json: { storeId: storeB },
          }),
          PairingCodeResponse,
          201,
        ).code,
        name: 'till-b',
      },
    }),
    PairResponse,
    201,
  );
  return {
    storeA,
    storeB,
    a: await server.pair('till-a'),
    b: new TestDevice(server.url, b, 'till-b', server.clock.now),
  };
}

/** The same device talking to the server of a later start (which listens on another port). */
function onServer(device: TestDevice, server: TestServer): TestDevice {
  const moved = new TestDevice(
    server.url,
    {
      deviceId: device.deviceId,
      tenantId: device.tenantId,
      accessToken: device.accessToken,
      accessTokenExpiresAt: '',
      refreshToken: device.refreshToken,
    },
    device.stamps.nodeId,
    server.clock.now,
  );
  moved.cursor = device.cursor;
  return moved;
}

/** The schema version header, as a device on `version` sends it. */
const onVersion = (version: number): Record<string, string> => ({
  'x-device-schema-version': String(version),
});

/**
 * Schema changes at the start of a server on a database it served before (PROTOCOL.md §2 schema), on any
 * store: `database` names a fresh one for each test; `severalProcesses` where several servers share it.
 */
export function schemaRolloutSuite(
  label: string,
  database: () => Promise<RolloutDatabase>,
  options: { readonly severalProcesses: boolean },
): void {
  describe(`a server started with another schema (${label})`, () => {
    let where: RolloutDatabase;
    beforeEach(async () => {
      where = await database();
    });
    const start = (schema: SyncSchema, options: TestServerOptions = {}): Promise<TestServer> =>
      startTestServer({ ...where, schema, ...options });
    /** Starts, runs `work`, stops: one run of the server on the test's database. */
    const run = async <T>(
      schema: SyncSchema,
      work: (server: TestServer) => Promise<T>,
      options: TestServerOptions = {},
    ): Promise<T> => {
      const server = await start(schema, options);
      try {
        return await work(server);
      } finally {
        await server.close();
      }
    };
    const refusal = async (schema: SyncSchema, options: TestServerOptions = {}): Promise<string> => {
      const error: unknown = await start(schema, options).then(
        async (server) => {
          await server.close();
          return new Error('the server started');
        },
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(SchemaChangeError);
      return (error as SchemaChangeError).message;
    };

    it('serves the same schema again, and refuses a version that goes back or a version whose tables changed', async () => {
      await run(V1, () => Promise.resolve());
      expect(await run(V1, (server) => Promise.resolve(server.server.schemaRollout))).toEqual({
        outcome: 'same',
        version: 1,
      });
      await run(ADDITIVE, () => Promise.resolve());
      expect(await refusal(V1)).toMatch(
        /^the schema's version 1 is lower than version 2, which this database served last \(.+\): a version never goes back/,
      );
      const sameVersionOtherTables = changed(2, (tables) => {
        productColumns(tables).colour = { type: 'text' };
      });
      expect(await refusal(sameVersionOtherTables)).toMatch(/raise the version \(to 3\)/);
      // Neither refusal changed what is served.
      await run(ADDITIVE, async (server) => {
        const device = await server.pair('till');
        expect((await device.request('GET', '/api/sync/schema')).body).toEqual(ADDITIVE);
      });
    });

    // Several server processes share a PostgreSQL database; a SQLite file has one (in one process, a second
    // writer would wait on the thread that must finish the first).
    it.runIf(options.severalProcesses)(
      'moves the database once when two processes start with a new version at the same time',
      async () => {
        await run(V1, () => Promise.resolve());
        const both = await Promise.all([start(ADDITIVE), start(ADDITIVE)]);
        expect(both.map((server) => server.server.schemaRollout.outcome).sort()).toEqual([
          'additive',
          'same',
        ]);
        await Promise.all(both.map((server) => server.close()));
      },
    );

    it('serves an additive version while a device on the older one goes on pushing and pulling', async () => {
      const [category, apple] = [newId(), newId()];
      let till = await run(V1, async (server) => {
        const device = await server.pair('till');
        await device.push([
          device.upsert('categories', category, { name: 'Fruit' }),
          device.upsert('products', apple, {
            sku: 'A-1',
            name: 'Apple',
            price_cents: 120,
            stock: 10,
            category_id: category,
          }),
        ]);
        await device.pullAll();
        return device;
      });

      await run(ADDITIVE, async (server) => {
        till = onServer(till, server);
        expect(server.server.schemaRollout).toMatchObject({
          outcome: 'additive',
          version: 2,
          previousVersion: 1,
        });
        // The till, still on version 1, writes the row it knows; its headers say which version it is at.
        const pushed = await request(server.url, 'POST', '/api/sync/push', {
          token: till.accessToken,
          headers: onVersion(1),
          json: {
            pushId: newId(),
            changes: [
              till.upsert('products', apple, {
                sku: 'A-1',
                name: 'Red apple',
                price_cents: 130,
                stock: { delta: -2 },
                category_id: category,
              }),
            ],
          },
        });
        expect(pushed.body).toMatchObject({ results: [{ status: 'applied' }] });
        // A device on version 2 writes the new table and columns.
        const desk = await server.pair('desk');
        const [tag, pear] = [newId(), newId()];
        await desk.push([
          desk.upsert('tags', tag, { label: 'new' }),
          desk.upsert('products', pear, { sku: 'P-1', price_cents: 90, stock: 5, barcode: '400', sold: 3 }),
        ]);
        // The till pulls them from its cursor, and the stored row took the new column's default.
        const pulled = await till.pullAll();
        expect(pulled.changes.map((change) => [change.table, change.id])).toEqual([
          ['products', apple],
          ['tags', tag],
          ['products', pear],
        ]);
        expect(pulled.changes[0]?.values).toMatchObject({ name: 'Red apple', stock: 8, shelf: 'A' });
        expect(pulled.changes[2]?.values).toMatchObject({ name: null, barcode: '400', shelf: 'A', sold: 3 });

        const devices = expectOk(
          await request(server.url, 'GET', '/api/devices', { token: server.ownerToken }),
          DeviceList,
        );
        expect(devices.map((device) => [device.name, device.schemaVersion])).toEqual([
          ['till', 1],
          ['desk', null],
        ]);
      });
    });

    it('refuses a breaking version naming table and column, and with the flag brings the stored rows to it and makes every device resync', async () => {
      const apple = newId();
      let till = await run(V1, async (server) => {
        const device = await server.pair('till');
        await device.push([
          device.upsert('products', apple, {
            sku: 'A-1',
            name: 'Apple',
            price_cents: 120,
            stock: 10,
            size: 'M',
          }),
        ]);
        await device.pullAll();
        return device;
      });
      expect(await refusal(BREAKING)).toBe(
        'version 2 is not additive to version 1, which this database served last: products.price_cents: its type changed from integer to text; products.size: the column was removed (or renamed). Make the change additive, or start with --accept-breaking-schema: every device then takes a fresh snapshot, keeping its unsent changes where they still fit',
      );
      // Nothing changed: version 1 is still the one served, and the till's cursor still holds.
      await run(V1, async (server) => {
        till = onServer(till, server);
        expect((await till.pullAll()).changes).toEqual([]);
      });

      await run(
        BREAKING,
        async (server) => {
          till = onServer(till, server);
          expect(server.server.schemaRollout).toMatchObject({ outcome: 'breaking', version: 2 });
          const stale = await till.request('GET', `/api/sync/pull?since=${encodeURIComponent(till.cursor)}`);
          expectError(stale, 410, 'RESYNC_REQUIRED');
          const snapshot = await till.pullAll({ since: '' });
          expect(snapshot.changes).toEqual([
            expect.objectContaining({
              id: apple,
              values: { sku: 'A-1', name: 'Apple', price_cents: '120', stock: 10, category_id: null },
            }),
          ]);
        },
        { acceptBreakingSchema: true },
      );
      // Served once: the next start with it is the same schema, and the till's new cursor holds.
      await run(BREAKING, async (server) => {
        till = onServer(till, server);
        expect((await till.pullAll()).changes).toEqual([]);
      });
    });

    it('refuses a new unique rule, reference or narrower values the stored rows break, naming one row; serves it once they hold', async () => {
      const [first, second, orphan] = [newId(), newId(), newId()];
      const missing = newId();
      const row = (sku: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
        sku,
        name: sku,
        price_cents: 1,
        stock: 1,
        ...extra,
      });
      let till = await run(V1, async (server) => {
        const device = await server.pair('till');
        await device.push([
          device.upsert('products', first, row('A')),
          device.upsert('products', second, row('A')),
          device.upsert('products', orphan, row('B', { category_id: missing, size: 'XL' })),
        ]);
        return device;
      });
      const uniqueSku = changed(2, (tables) => {
        productColumns(tables).sku = { type: 'text', required: true, unique: true };
      });
      const [holder, twin] = [first, second].sort();
      expect(await refusal(uniqueSku)).toBe(
        `products.sku: the new unique rule does not hold for the stored rows: rows ${holder} and ${twin} (tenant ${till.tenantId}) both hold "A"; change that row first, then serve the new rule`,
      );
      expect(
        await refusal(
          changed(2, (tables) => {
            productColumns(tables).category_id = { type: 'text', references: 'categories' };
          }),
        ),
      ).toContain(
        `products.category_id: the new reference to categories does not hold for the stored rows: row ${orphan} (tenant ${till.tenantId}) points at categories ${missing}, which does not exist`,
      );
      expect(
        await refusal(
          changed(2, (tables) => {
            productColumns(tables).size = { type: 'text', allowed: ['S', 'M', 'L'] };
          }),
        ),
      ).toContain(`products.size: the narrower values do not hold for the stored rows: row ${orphan}`);

      await run(V1, async (server) => {
        till = onServer(till, server);
        const fixed = await till.push([till.upsert('products', second, row('C', { stock: { delta: 0 } }))]);
        expect(fixed.results[0]).toMatchObject({ status: 'applied' });
      });
      await run(uniqueSku, async (server) => {
        till = onServer(till, server);
        // The stored values were noted: the rule holds for pushes from now on.
        const answer = await till.push([till.upsert('products', newId(), row('A'))]);
        expect(answer.results[0]).toMatchObject({ status: 'rejected', error: { code: 'UNIQUE_VIOLATION' } });
        expect(
          (await till.push([till.upsert('products', second, row('D', { stock: { delta: 0 } }))])).results[0]
            ?.status,
        ).toBe('applied');
      });
    });
    it('judges a changed scope as breaking, and with the flag puts the rows in their new scopes', async () => {
      // Version 1 keeps sales the whole tenant's; version 2 is the chain schema, sales per store.
      const tenantSales = chainAt(1, (tables) => {
        tables.sales = { ...tables.sales!, scope: 'tenant' };
      });
      const [saleA, saleB] = [newId(), newId()];
      const sale = (device: TestDevice, id: string, storeId: string) =>
        device.upsert('sales', id, {
          store_id: storeId,
          total_cents: 5,
          created_at: '2026-12-06T10:00:00.000Z',
        });
      let chain = await run(tenantSales, async (server) => {
        const stores = await twoStores(server);
        await stores.a.push([sale(stores.a, saleA, stores.storeA)]);
        await stores.b.push([sale(stores.b, saleB, stores.storeB)]);
        const pulled = await stores.a.pullAll();
        expect(pulled.changes.filter((change) => change.table === 'sales')).toHaveLength(2);
        await stores.b.pullAll();
        return stores;
      });
      expect(await refusal(chainAt(2))).toContain(
        'sales: its scope changed from the whole tenant to per store (by store_id)',
      );

      await run(
        chainAt(2),
        async (server) => {
          chain = { ...chain, a: onServer(chain.a, server), b: onServer(chain.b, server) };
          for (const [device, storeId, mine, theirs] of [
            [chain.a, chain.storeA, saleA, saleB],
            [chain.b, chain.storeB, saleB, saleA],
          ] as const) {
            const stale = await device.request(
              'GET',
              `/api/sync/pull?since=${encodeURIComponent(device.cursor)}`,
            );
            expectError(stale, 410, 'RESYNC_REQUIRED');
            const snapshot = await device.pullAll({ since: '', limit: 2 });
            const replica = new Replica().apply(snapshot.changes);
            expect(replica.get('sales', mine)?.values?.['store_id']).toBe(storeId);
            expect(replica.get('sales', theirs)).toBeUndefined();
            expect(snapshot.checksums).toEqual(replica.checksums(CHAIN_TABLES));
          }
          // A store's new sale goes to its own devices only, and a write of the other store's sale is refused.
          const later = newId();
          await chain.b.push([sale(chain.b, later, chain.storeB)]);
          const salesOf = async (device: TestDevice): Promise<string[]> =>
            (await device.pullAll()).changes
              .filter((change) => change.table === 'sales')
              .map((change) => change.id);
          expect(await salesOf(chain.a)).toEqual([]);
          expect(await salesOf(chain.b)).toEqual([later]);
          const answer = await chain.a.push([chain.a.upsert('sales', saleB, { total_cents: 1 })]);
          expect(answer.results[0]).toMatchObject({ status: 'rejected', error: { code: 'OUT_OF_SCOPE' } });
        },
        { acceptBreakingSchema: true },
      );
    });

    it('judges a new unique rule over several columns on the stored rows, and drops a removed one', async () => {
      const noRule = chainAt(1, (tables) => {
        delete tables.stock_levels!.unique;
      });
      const [first, second] = [newId(), newId()];
      const level = (device: TestDevice, id: string, storeId: string, product: string) =>
        device.upsert('stock_levels', id, { store_id: storeId, product_id: product, quantity: 3 });
      let till: TestDevice;
      const { storeA, product } = await run(noRule, async (server) => {
        const { a, storeA } = await twoStores(server);
        const product = newId();
        await a.push([a.upsert('products', product, { sku: 'A', name: 'Apple', price_cents: 1 })]);
        const answer = await a.push([level(a, first, storeA, product), level(a, second, storeA, product)]);
        expect(answer.results.map((result) => result.status)).toEqual(['applied', 'applied']);
        till = a;
        return { storeA, product };
      });
      const [holder, twin] = [first, second].sort();
      expect(await refusal(chainAt(2))).toBe(
        `stock_levels (store_id, product_id): the new unique rule does not hold for the stored rows: rows ${holder} and ${twin} (tenant ${till!.tenantId}) both hold ${JSON.stringify([storeA, product])}; change that row first, then serve the new rule`,
      );
      await run(noRule, async (server) => {
        till = onServer(till, server);
        expect((await till.push([till.delete('stock_levels', second)])).results[0]?.status).toBe('applied');
      });
      await run(chainAt(2), async (server) => {
        till = onServer(till, server);
        expect(server.server.schemaRollout).toMatchObject({
          outcome: 'additive',
          changes: [
            expect.objectContaining({
              message: 'stock_levels: a new unique rule over (store_id, product_id)',
            }),
          ],
        });
        // The stored keys were noted: the rule holds for pushes from now on.
        const answer = await till.push([level(till, newId(), storeA, product)]);
        expect(answer.results[0]).toMatchObject({ status: 'rejected', error: { code: 'UNIQUE_VIOLATION' } });
      });
      await run({ ...noRule, version: 3 }, async (server) => {
        till = onServer(till, server);
        expect(server.server.schemaRollout).toMatchObject({
          outcome: 'additive',
          changes: [
            expect.objectContaining({
              message: 'stock_levels: its unique rule over (store_id, product_id) was dropped',
            }),
          ],
        });
        const answer = await till.push([level(till, newId(), storeA, product)]);
        expect(answer.results[0]?.status).toBe('applied');
      });
    });
  });
}

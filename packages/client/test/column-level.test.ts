import Database from 'better-sqlite3';
import {
  CompiledSchema,
  SHOP_SCHEMA,
  type Change,
  type ConflictList,
  type SyncSchema,
} from '@tillsync/protocol';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { fullMask, maskOf } from '../src/capture/column-mask.js';
import { foldCaptured } from '../src/capture/fold.js';
import { NEXT_HLC_SQL } from '../src/capture/triggers.js';
import { SqliteCycleStore } from '../src/cycle/sqlite-cycle-store.js';
import { LostEdits } from '../src/lost-edits.js';
import { applyLocalSchema } from '../src/local-schema.js';
import { Outbox } from '../src/outbox.js';
import { ServerRows } from '../src/server-rows.js';
import { createSyncClient, type FetchFunction, type SyncClient } from '../src/index.js';
import { folded, onCleanup, openDeviceStore } from './helpers.js';
import { startRecordingProxy } from './recording-proxy.js';
import { asOwner, startTestServer, type TestServer } from './server-fixture.js';

/**
 * Column-level last write wins on the device (PROTOCOL.md §1, §2, §5; issue 19): the capture triggers note
 * which columns each write set, the push sends only those (with `base`) for a row the server has, a pull
 * keeps the pending columns, and the device keeps a list of its own edits that lost.
 *
 * The first describe blocks need the device alone (any server). The last one needs the server's half of
 * column-level merging (protocol 2: partial `values`, per-column stamps) and fails against a server that
 * still judges whole rows.
 */

const SCHEMA_WITH_BARCODE: SyncSchema = {
  ...SHOP_SCHEMA,
  version: 2,
  tables: {
    ...SHOP_SCHEMA.tables,
    products: {
      columns: {
        // In the middle of the columns, not at the end: the masks of pending rows must follow by name.
        sku: { type: 'text', required: true, unique: true },
        barcode: { type: 'text' },
        name: { type: 'text', required: true },
        price_cents: { type: 'integer', required: true },
        stock: { type: 'integer', required: true, merge: 'counter' },
        category_id: { type: 'text', references: 'categories' },
        active: { type: 'integer', default: 1, allowed: [0, 1] },
      },
    },
  },
};

const SERVER_STAMP = '2026-01-01T00:00:00.000Z-0000-server';

function product(client: SyncClient, id: string): Record<string, unknown> {
  return client.database.prepare('SELECT * FROM products WHERE id = ?').get(id) as Record<string, unknown>;
}

function insertApple(client: SyncClient): string {
  const id = uuidv7();
  client.database
    .prepare("INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, 'A-1', 'Apple', 100, 10)")
    .run(id);
  return id;
}

/** Lets the wall clock move on, so the next write is stamped in a later millisecond than the last. */
function later(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 3));
}

async function syncAll(...devices: SyncClient[]): Promise<void> {
  for (const device of devices) {
    const summary = await device.sync();
    expect(summary, JSON.stringify(device.syncLog(1)[0])).toMatchObject({ ok: true, rejected: 0 });
  }
}

/** Two devices paired with a fresh server, both holding a product A made. */
async function twoDevicesWithApple(): Promise<{
  server: TestServer;
  a: SyncClient;
  b: SyncClient;
  id: string;
}> {
  const server = await startTestServer();
  const a = await server.pairedClient('a');
  const b = await server.pairedClient('b');
  const id = insertApple(a);
  await syncAll(a, b);
  return { server, a, b, id };
}

/** A device file with one product as the server has it (written by the sync, known in `_sync_rows`). */
function deviceWithSyncedProduct(schema: SyncSchema = SHOP_SCHEMA): {
  device: ReturnType<typeof openDeviceStore>;
  id: string;
} {
  const device = openDeviceStore(schema);
  const id = uuidv7();
  const serverRows = new ServerRows(device.store);
  device.store.applying(() =>
    serverRows.batch(() => {
      device.store.db
        .prepare(
          "INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, 'A-1', 'Apple', 100, 10)",
        )
        .run(id);
      serverRows.set('products', id, SERVER_STAMP, null);
    }),
  );
  return { device, id };
}

function pendingCols(device: ReturnType<typeof openDeviceStore>, id: string): number | null {
  return (
    folded(device.store.db).prepare('SELECT cols FROM _sync_pending WHERE id = ?').get(id) as {
      cols: number | null;
    }
  ).cols;
}

describe('column-level capture (the device alone)', () => {
  it('notes the columns each update set, accumulated over the writes of a pending row; an insert sets them all', () => {
    const { device, id } = deviceWithSyncedProduct();
    const table = new CompiledSchema(SHOP_SCHEMA).table('products')!;
    device.store.db.prepare("UPDATE products SET name = 'Green apple' WHERE id = ?").run(id);
    expect(pendingCols(device, id)).toBe(maskOf(table, ['name']));
    device.store.db.prepare('UPDATE products SET price_cents = 90, name = name WHERE id = ?').run(id);
    device.store.db.prepare('UPDATE products SET stock = stock - 2 WHERE id = ?').run(id);
    expect(pendingCols(device, id)).toBe(maskOf(table, ['name', 'price_cents', 'stock']));

    const fresh = uuidv7();
    device.store.db
      .prepare("INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, 'B-1', 'Pear', 80, 3)")
      .run(fresh);
    expect(pendingCols(device, fresh)).toBe(fullMask(table.columns.length));
  });

  it('builds a push of the columns set with the base for a row the server has, and a new row whole without one', () => {
    const { device, id } = deviceWithSyncedProduct();
    const schema = new CompiledSchema(SHOP_SCHEMA);
    device.store.db
      .prepare("UPDATE products SET name = 'Green apple', stock = stock - 2 WHERE id = ?")
      .run(id);
    const fresh = uuidv7();
    device.store.db
      .prepare("INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, 'B-1', 'Pear', 80, 3)")
      .run(fresh);
    const outbox = new Outbox(device.store);
    const { changes, covers } = device.store.write(() => outbox.nextBatch(schema, new Set(), 10));
    const byId = new Map(changes.map((change) => [change.id, change]));
    expect(byId.get(id)).toMatchObject({
      op: 'upsert',
      base: SERVER_STAMP,
      values: { name: 'Green apple', stock: { delta: -2 } },
    });
    expect(Object.keys(byId.get(id)?.values ?? {}).sort()).toEqual(['name', 'stock']);
    expect(byId.get(fresh)).not.toHaveProperty('base');
    expect(byId.get(fresh)?.values).toEqual({
      sku: 'B-1',
      name: 'Pear',
      price_cents: 80,
      stock: 3,
      category_id: null,
      active: 1,
    });
    expect(covers.find((cover) => cover.id === id)?.columns).toEqual(['name', 'stock']);

    // The push is on the wire; a write meanwhile is pending on its own, and a push not taken puts the
    // columns it carried back.
    expect(pendingCols(device, id)).toBe(0);
    device.store.db.prepare('UPDATE products SET price_cents = 70 WHERE id = ?').run(id);
    device.store.write(() => outbox.endPush(covers));
    expect(pendingCols(device, id)).toBe(maskOf(schema.table('products')!, ['name', 'stock', 'price_cents']));
  });

  it('sends every column to a server of protocol 1, which takes an upsert as the whole row', () => {
    const { device, id } = deviceWithSyncedProduct();
    device.store.db.prepare("UPDATE products SET name = 'Green apple' WHERE id = ?").run(id);
    const { changes } = device.store.write(() =>
      new Outbox(device.store).nextBatch(new CompiledSchema(SHOP_SCHEMA), new Set(), 10, {
        columnLevel: false,
      }),
    );
    expect(Object.keys(changes[0]?.values ?? {}).sort()).toEqual(
      ['active', 'category_id', 'name', 'price_cents', 'sku', 'stock'].sort(),
    );
  });

  it('never sends a column the schema added after the write was captured', () => {
    const { device, id } = deviceWithSyncedProduct();
    device.store.db
      .prepare("UPDATE products SET name = 'Green apple', price_cents = 90 WHERE id = ?")
      .run(id);
    const schema = applyLocalSchema(device.store, SCHEMA_WITH_BARCODE);
    const outbox = new Outbox(device.store);
    expect(pendingCols(device, id)).toBe(maskOf(schema.table('products')!, ['name', 'price_cents']));
    const { changes } = device.store.write(() => outbox.nextBatch(schema, new Set(), 10));
    expect(changes[0]?.values).toEqual({ name: 'Green apple', price_cents: 90 });
    device.store.write(() => outbox.endPush([{ table: 'products', id }]));

    // A write after the change knows the column.
    device.store.db.prepare("UPDATE products SET barcode = '4006381333931' WHERE id = ?").run(id);
    expect(pendingCols(device, id)).toBe(
      maskOf(schema.table('products')!, ['name', 'price_cents', 'barcode']),
    );
  });
});

describe("a push's answer with the row as stored (the device alone)", () => {
  /** A synced product edited here, its push stored: the answer to it is what each test gives. */
  function pushedEdit(): {
    device: ReturnType<typeof openDeviceStore>;
    cycleStore: SqliteCycleStore;
    id: string;
    push: NonNullable<ReturnType<SqliteCycleStore['storeNextPush']>>;
  } {
    const { device, id } = deviceWithSyncedProduct();
    const cycleStore = new SqliteCycleStore({ store: device.store, clock: device.clock });
    cycleStore.useSchema(SHOP_SCHEMA);
    device.store.db
      .prepare("UPDATE products SET name = 'Green apple', price_cents = 90 WHERE id = ?")
      .run(id);
    const push = cycleStore.storeNextPush({
      sent: new Set(),
      maxChanges: 10,
      createdAt: new Date().toISOString(),
      columnLevel: true,
      encode: (changes) => ({ pushId: uuidv7(), body: JSON.stringify({ changes }) }),
    });
    if (!push) throw new Error('expected a push');
    return { device, cycleStore, id, push };
  }

  const stored = (id: string, values: Record<string, string | number | null>) => ({
    table: 'products',
    id,
    op: 'upsert' as const,
    updatedAt: '2099-01-01T00:00:00.000Z-0000-other',
    values: {
      sku: 'A-1',
      name: 'Apple',
      price_cents: 100,
      stock: 10,
      category_id: null,
      active: 1,
      ...values,
    },
  });

  it('applied with current: the columns that lost take the server values and are told, the others stay', () => {
    const { device, cycleStore, id, push } = pushedEdit();
    const outcome = cycleStore.confirmPush(push, {
      results: [
        {
          table: 'products',
          id,
          status: 'applied',
          current: stored(id, { name: 'Red apple', price_cents: 90 }),
        },
      ] as never,
      serverTime: new Date().toISOString(),
    });
    expect(outcome).toMatchObject({ pushed: 1, conflicts: 1, conflictRows: [{ id, name: 'Red apple' }] });
    expect(device.store.db.prepare('SELECT name, price_cents FROM products WHERE id = ?').get(id)).toEqual({
      name: 'Red apple',
      price_cents: 90,
    });
    expect(cycleStore.hasPending()).toBe(false);
    expect(new LostEdits(device.store).list()).toMatchObject([
      { kind: 'value', column: 'name', mine: 'Green apple', winning: 'Red apple', rowName: 'Red apple' },
    ]);
  });

  it('stale, with the row written again while the push was on the wire: the new write stays pending', () => {
    const { device, cycleStore, id, push } = pushedEdit();
    device.store.db.prepare('UPDATE products SET active = 0, stock = stock - 1 WHERE id = ?').run(id);
    cycleStore.confirmPush(push, {
      results: [
        {
          table: 'products',
          id,
          status: 'stale',
          current: stored(id, { name: 'Red apple', price_cents: 80 }),
        },
      ],
      serverTime: new Date().toISOString(),
    });
    expect(
      device.store.db.prepare('SELECT name, price_cents, active, stock FROM products WHERE id = ?').get(id),
    ).toEqual({
      name: 'Red apple',
      price_cents: 80,
      active: 0,
      stock: 9,
    });
    const products = new CompiledSchema(SHOP_SCHEMA).table('products')!;
    expect(pendingCols(device, id)).toBe(maskOf(products, ['active', 'stock']));
    expect(
      new LostEdits(device.store)
        .list()
        .map((edit) => edit.column)
        .sort(),
    ).toEqual(['name', 'price_cents']);
  });

  it('recreates a row the server deleted before this device set every required column of it: the whole row, without a base', () => {
    const { device, id } = deviceWithSyncedProduct();
    const cycleStore = new SqliteCycleStore({ store: device.store, clock: device.clock });
    cycleStore.useSchema(SHOP_SCHEMA);
    device.store.db
      .prepare(
        "UPDATE products SET sku = 'A-2', name = 'Green apple', price_cents = 90, stock = 12 WHERE id = ?",
      )
      .run(id);
    cycleStore.applyPage(
      [{ table: 'products', id, op: 'delete', updatedAt: '2026-06-01T00:00:00.000Z-0000-other' }],
      {},
    );
    const push = cycleStore.storeNextPush({
      sent: new Set(),
      maxChanges: 10,
      createdAt: new Date().toISOString(),
      columnLevel: true,
      encode: (changes) => ({ pushId: uuidv7(), body: JSON.stringify({ changes }) }),
    });
    const [change] = (JSON.parse(push?.body ?? '{}') as { changes: Change[] }).changes;
    expect(change).not.toHaveProperty('base');
    expect(change?.values).toMatchObject({ sku: 'A-2', name: 'Green apple', price_cents: 90, stock: 12 });
  });

  it('lets an earlier delete from the server win over a later edit of only some columns, as the server does', () => {
    // Till B renames a product the back office deleted a moment before. On the server the delete wins over
    // the rename whichever arrives first (a rename does not carry every required column), so B drops its
    // copy and its rename, and tells its cashier, rather than bringing the product back whole.
    const { device, id } = deviceWithSyncedProduct();
    const cycleStore = new SqliteCycleStore({ store: device.store, clock: device.clock });
    cycleStore.useSchema(SHOP_SCHEMA);
    device.store.db.prepare("UPDATE products SET name = 'Green apple' WHERE id = ?").run(id);
    const deletion = '2026-06-01T00:00:00.000Z-0000-other';
    cycleStore.applyPage([{ table: 'products', id, op: 'delete', updatedAt: deletion }], {});
    expect(device.store.db.prepare('SELECT 1 FROM products WHERE id = ?').get(id)).toBeUndefined();
    expect(
      folded(device.store.db).prepare('SELECT 1 FROM _sync_pending WHERE id = ?').get(id),
    ).toBeUndefined();
    expect(new LostEdits(device.store).list()).toMatchObject([
      { table: 'products', rowId: id, kind: 'their-delete', winningStamp: deletion },
    ]);
  });

  it('recreates a product the server deleted before this device sold it: its sale item needs it', () => {
    // The back office deletes a product while till B, offline, sells it. The server would have refused
    // the delete had the sale reached it first; B brings the product back whole, so the sale item stands.
    const { device, id } = deviceWithSyncedProduct();
    const cycleStore = new SqliteCycleStore({ store: device.store, clock: device.clock });
    cycleStore.useSchema(SHOP_SCHEMA);
    const sale = uuidv7();
    device.store.db
      .prepare("INSERT INTO sales (id, total_cents, created_at) VALUES (?, 100, '2026-06-02T00:00:00.000Z')")
      .run(sale);
    device.store.db
      .prepare(
        'INSERT INTO sale_items (id, sale_id, product_id, quantity, price_cents) VALUES (?, ?, ?, 1, 100)',
      )
      .run(uuidv7(), sale, id);
    device.store.db.prepare('UPDATE products SET stock = stock - 1 WHERE id = ?').run(id);
    cycleStore.applyPage(
      [{ table: 'products', id, op: 'delete', updatedAt: '2026-06-01T00:00:00.000Z-0000-other' }],
      {},
    );
    const push = cycleStore.storeNextPush({
      sent: new Set(),
      maxChanges: 10,
      createdAt: new Date().toISOString(),
      columnLevel: true,
      encode: (changes) => ({ pushId: uuidv7(), body: JSON.stringify({ changes }) }),
    });
    const changes = (JSON.parse(push?.body ?? '{}') as { changes: Change[] }).changes;
    const recreated = changes.find((change) => change.table === 'products');
    expect(recreated).not.toHaveProperty('base');
    expect(recreated?.values).toMatchObject({ sku: 'A-1', name: 'Apple', price_cents: 100, stock: 9 });
  });

  it('rejected: the columns it carried are pending again', () => {
    const { device, cycleStore, id, push } = pushedEdit();
    cycleStore.confirmPush(push, {
      results: [
        { table: 'products', id, status: 'rejected', error: { code: 'INVALID_VALUE', message: 'no' } },
      ],
      serverTime: new Date().toISOString(),
    });
    const products = new CompiledSchema(SHOP_SCHEMA).table('products')!;
    expect(pendingCols(device, id)).toBe(maskOf(products, ['name', 'price_cents']));
    expect(new LostEdits(device.store).list()).toEqual([]);
  });
});

describe('column-level push and merge with a real server (the device alone)', () => {
  it('sends only the columns set, with base, and the schema version on every sync call', async () => {
    const server = await startTestServer();
    // The proxy says protocol 2, so the device sends what it sends to a column-level server.
    const proxy = await startRecordingProxy(server.url, { protocol: 2 });
    const device = await server.pairedClient('till', { serverUrl: proxy.url });
    const id = insertApple(device);
    await syncAll(device);
    const [created] = proxy.pushedChanges();
    expect(created).toMatchObject({ id, op: 'upsert', values: { sku: 'A-1', name: 'Apple', stock: 10 } });
    expect(created).not.toHaveProperty('base');

    proxy.clear();
    device.database
      .prepare("UPDATE products SET name = 'Green apple', stock = stock - 2 WHERE id = ?")
      .run(id);
    await device.sync();
    const [edit] = proxy.pushedChanges();
    expect(edit).toEqual({
      table: 'products',
      id,
      op: 'upsert',
      updatedAt: expect.any(String) as unknown,
      base: created?.updatedAt,
      values: { name: 'Green apple', stock: { delta: -2 } },
    });
    const syncCalls = proxy.requests.filter((request) => !request.path.startsWith('/api/sync/health'));
    expect(syncCalls.length).toBeGreaterThan(0);
    for (const call of syncCalls) expect(call.headers['x-device-schema-version'], call.path).toBe('1');
  });

  it('keeps the pending columns through a pull and takes the server values of the others', async () => {
    const { a, b, id } = await twoDevicesWithApple();
    a.database.prepare("UPDATE products SET name = 'Green apple', stock = stock - 1 WHERE id = ?").run(id);
    await later();
    b.database.prepare('UPDATE products SET price_cents = 150, stock = stock - 3 WHERE id = ?').run(id);
    await syncAll(b);
    expect((await a.pull()).ok).toBe(true);
    expect(product(a, id)).toMatchObject({ name: 'Green apple', price_cents: 150, stock: 6 });
    expect(a.status.pendingChanges).toBe(1);
  });

  it('tells the cashier of an edit that lost to a later write made without knowing it, and not of a plain later edit', async () => {
    const { a, b, id } = await twoDevicesWithApple();

    // Both change the price offline; A's is the later write.
    b.database.prepare('UPDATE products SET price_cents = 150 WHERE id = ?').run(id);
    await later();
    a.database.prepare('UPDATE products SET price_cents = 140 WHERE id = ?').run(id);
    await syncAll(a, b);
    expect(product(b, id)).toMatchObject({ price_cents: 140 });
    expect(b.lostEdits()).toMatchObject([
      {
        table: 'products',
        rowId: id,
        rowName: 'Apple',
        kind: 'value',
        column: 'price_cents',
        mine: 150,
        winning: 140,
      },
    ]);
    expect(b.syncLog(1)[0]).toMatchObject({
      conflicts: 1,
      conflictRows: [{ table: 'products', id, name: 'Apple' }],
    });
    expect(a.lostEdits()).toEqual([]);

    // A plain later edit: B changes the price after it received A's. Nobody lost anything.
    await syncAll(a);
    b.database.prepare('UPDATE products SET price_cents = 170 WHERE id = ?').run(id);
    await syncAll(b, a);
    expect(product(a, id)).toMatchObject({ price_cents: 170 });
    expect(a.lostEdits()).toEqual([]);
    expect(b.lostEdits()).toHaveLength(1);
    expect(a.syncLog(1)[0]).toMatchObject({ conflicts: 0, conflictRows: [] });
  });
});

/**
 * Takes a device file back to the bookkeeping layout of the previous release (version 2: no column masks,
 * no lost edits, no counters noted by a delete, no capture log), with capture triggers as that layout had them:
 * each upserts its row's outbox entry itself, noting no columns.
 */
function toPreviousLayout(dbPath: string): void {
  const db = new Database(dbPath);
  const schema = new CompiledSchema(SHOP_SCHEMA);
  db.transaction(() => {
    for (const table of schema.tables) {
      const triggers = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?")
        .pluck()
        .all(`_sync_capture_${table.name}_%`) as string[];
      for (const name of triggers) db.exec(`DROP TRIGGER "${name}"`);
      // That release upserted the row's outbox entry from the trigger, with no mask.
      const base = (row: string): string =>
        table.counterColumns.length === 0
          ? 'NULL'
          : `json_object(${table.counterColumns.map((c) => `'${c.name}', ${row}."${c.name}"`).join(', ')})`;
      const upsert = (row: string, op: string, rowBase: string): string =>
        `INSERT INTO _sync_pending (tbl, id, op, hlc, revision, base) SELECT '${table.name}', ${row}.id, '${op}', ${NEXT_HLC_SQL}, 1, ${rowBase} FROM _sync_clock WHERE true
         ON CONFLICT (tbl, id) DO UPDATE SET op = excluded.op, hlc = max(excluded.hlc, hlc + 1), revision = revision + 1`;
      const applying = '(SELECT applying FROM _sync_apply_flag) = 0';
      db.exec(`CREATE TRIGGER "_sync_capture_${table.name}_insert" AFTER INSERT ON "${table.name}" WHEN ${applying}
        BEGIN ${upsert('NEW', 'upsert', 'NULL')}; END`);
      db.exec(`CREATE TRIGGER "_sync_capture_${table.name}_update" AFTER UPDATE ON "${table.name}" WHEN ${applying}
        BEGIN ${upsert('NEW', 'upsert', base('OLD'))}; END`);
      db.exec(`CREATE TRIGGER "_sync_capture_${table.name}_delete" AFTER DELETE ON "${table.name}" WHEN ${applying}
        BEGIN ${upsert('OLD', 'delete', base('OLD'))}; END`);
    }
    // What the release after it had captured is folded, as its outbox held it.
    foldCaptured((sql) => db.prepare(sql));
    db.exec('DROP TABLE _sync_captured');
    db.exec(`
      ALTER TABLE _sync_pending DROP COLUMN gone;
      ALTER TABLE _sync_pending DROP COLUMN cols;
      ALTER TABLE _sync_pending DROP COLUMN wire_cols;
      ALTER TABLE _sync_pending DROP COLUMN base_stamp;
      ALTER TABLE _sync_log DROP COLUMN conflict_rows;
      DROP TABLE _sync_lost_edits;
      ALTER TABLE _sync_rows DROP COLUMN received;
      UPDATE _sync_state SET value = '2' WHERE key = 'store_version';
    `);
  })();
  db.close();
}

describe('a device file of the previous release', () => {
  it('is upgraded in place, and its pending rows are pushed as whole-row writes', async () => {
    const server = await startTestServer();
    const old = await server.pairedClient('old');
    const dbPath = old.database.name;
    const id = insertApple(old);
    await syncAll(old);
    old.database.prepare("UPDATE products SET name = 'Green apple', stock = stock - 2 WHERE id = ?").run(id);
    const customer = uuidv7();
    old.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Ada')").run(customer);
    await old.close();

    toPreviousLayout(dbPath);
    // The previous release's triggers at work: a write with no mask.
    const program = new Database(dbPath);
    program.prepare('UPDATE products SET price_cents = 90 WHERE id = ?').run(id);
    program.close();

    const upgraded = createSyncClient({ dbPath, serverUrl: server.url });
    onCleanup(() => upgraded.close());
    const products = new CompiledSchema(SHOP_SCHEMA).table('products')!;
    const pending = folded(upgraded.database)
      .prepare('SELECT tbl, id, cols FROM _sync_pending ORDER BY tbl')
      .all() as { tbl: string; id: string; cols: number }[];
    expect(pending).toEqual([
      { tbl: 'customers', id: customer, cols: fullMask(3) },
      { tbl: 'products', id, cols: fullMask(products.columns.length) },
    ]);
    await syncAll(upgraded);
    expect(upgraded.status.pendingChanges).toBe(0);
    const other = await server.pairedClient('other');
    await syncAll(other);
    expect(product(other, id)).toMatchObject({ name: 'Green apple', price_cents: 90, stock: 8 });
    expect(other.database.prepare('SELECT name FROM customers WHERE id = ?').get(customer)).toEqual({
      name: 'Ada',
    });

    // From now on the triggers note the columns a write set.
    upgraded.database.prepare("UPDATE products SET name = 'Apple' WHERE id = ?").run(id);
    expect(
      folded(upgraded.database).prepare('SELECT cols FROM _sync_pending WHERE id = ?').get(id) as {
        cols: number;
      },
    ).toEqual({ cols: maskOf(products, ['name']) });
    expect(upgraded.lostEdits()).toEqual([]);
  });
});

/** A server that is restarted with the schema that adds `products.barcode`. */
async function changeSchema(server: TestServer): Promise<void> {
  await server.stop();
  await server.restart({ schema: SCHEMA_WITH_BARCODE });
}

describe('with a protocol-2 server judging each column', () => {
  it('keeps edits of different columns of one row made on two devices, on every device', async () => {
    const { a, b, id } = await twoDevicesWithApple();
    a.database.prepare("UPDATE products SET name = 'Green apple' WHERE id = ?").run(id);
    await later();
    b.database.prepare('UPDATE products SET price_cents = 150 WHERE id = ?').run(id);
    await syncAll(b, a, b);
    for (const device of [a, b]) {
      expect(product(device, id)).toMatchObject({ name: 'Green apple', price_cents: 150 });
      expect(device.lostEdits()).toEqual([]);
    }
  });

  it('adds a counter delta and keeps a column edit of the same row from another device', async () => {
    const { a, b, id } = await twoDevicesWithApple();
    a.database.prepare("UPDATE products SET name = 'Green apple', stock = stock - 2 WHERE id = ?").run(id);
    await later();
    b.database.prepare('UPDATE products SET price_cents = 150, stock = stock - 3 WHERE id = ?').run(id);
    await syncAll(a, b, a);
    for (const device of [a, b])
      expect(product(device, id)).toMatchObject({ name: 'Green apple', price_cents: 150, stock: 5 });
  });

  it('keeps a barcode set after a schema change when a device offline across it renames the product', async () => {
    const { server, a, b, id } = await twoDevicesWithApple();

    // B is offline from here: it renames the product under schema version 1.
    b.database.prepare("UPDATE products SET name = 'Green apple' WHERE id = ?").run(id);
    await changeSchema(server);
    await syncAll(a);
    expect(product(a, id)).toHaveProperty('barcode', null);
    a.database.prepare("UPDATE products SET barcode = '4006381333931' WHERE id = ?").run(id);
    await syncAll(a);

    // B comes back: it takes version 2 and pushes its rename, which must not touch the barcode.
    await later();
    await syncAll(b, a);
    for (const device of [a, b]) {
      expect(product(device, id)).toMatchObject({ name: 'Green apple', barcode: '4006381333931' });
    }
    expect(b.lostEdits()).toEqual([]);
  });

  it("records the conflict of a delete written while the device's own edit of the row was on the wire, over another device's column it never received", async () => {
    const server = await startTestServer();
    const a = await server.pairedClient('a');
    // B's cashier deletes the customer while B's push of its own edit of it is on the wire.
    let deleteOnPush: (() => void) | null = null;
    const pushBodies: string[] = [];
    const busyTill: FetchFunction = (input, init) => {
      if (input.includes('/api/sync/push')) {
        pushBodies.push(typeof init?.body === 'string' ? init.body : '');
        deleteOnPush?.();
        deleteOnPush = null;
      }
      return fetch(input, init);
    };
    const b = await server.pairedClient('b', { fetch: busyTill });
    const id = uuidv7();
    b.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Ada')").run(id);
    await syncAll(b, a);
    const created = (JSON.parse(pushBodies[0] ?? '{}') as { changes: Change[] }).changes[0]?.updatedAt;
    expect(created).toEqual(expect.any(String));

    // A sets the email and pushes it; B never pulls that state before its delete.
    a.database.prepare("UPDATE customers SET email = 'ada@shop.test' WHERE id = ?").run(id);
    await syncAll(a);
    await later();
    b.database.prepare("UPDATE customers SET phone = '555' WHERE id = ?").run(id);
    const till = new Database(b.database.name);
    onCleanup(() => till.close());
    deleteOnPush = () => till.prepare('DELETE FROM customers WHERE id = ?').run(id);
    pushBodies.length = 0;
    // The push of the phone is applied; the delete, made before B received A's email, waits for the next cycle.
    await syncAll(b, b, a);

    const pushed = pushBodies.flatMap((body) => (JSON.parse(body) as { changes: Change[] }).changes);
    expect(pushed.map((change) => [change.op, change.base])).toEqual([
      ['upsert', created],
      // What B had received of the row when it deleted it: its creation, not its own phone edit.
      ['delete', created],
    ]);
    const conflicts = await asOwner<ConflictList>(server, 'GET', `/api/conflicts?table=customers&id=${id}`);
    expect(conflicts).toMatchObject([
      { column: 'email', winner: { op: 'delete' }, loser: { values: { email: 'ada@shop.test' } } },
    ]);
    for (const device of [a, b])
      expect(device.database.prepare('SELECT count(*) AS n FROM customers').get()).toEqual({ n: 0 });
  });
});

/**
 * A device whose push of its own edit of a row is applied while another device's edit of another column of
 * that row is on the server, one it has not received yet (PROTOCOL.md §1 `base`, §5): B made the customer,
 * A set its email, B then sets its phone. `hooks` lets a test lose B's next pull, or have B's cashier write
 * once that pull's answer is in, before its page is applied.
 */
async function editAppliedBeforeItsPull(): Promise<{
  server: TestServer;
  a: SyncClient;
  b: SyncClient;
  id: string;
  created: string;
  pushed: () => Change[];
  hooks: { onPull: (() => void) | null; losePull: boolean };
}> {
  const server = await startTestServer();
  const a = await server.pairedClient('a');
  const hooks: { onPull: (() => void) | null; losePull: boolean } = { onPull: null, losePull: false };
  const pushBodies: string[] = [];
  const till: FetchFunction = async (input, init) => {
    if (input.includes('/api/sync/push')) pushBodies.push(typeof init?.body === 'string' ? init.body : '');
    if (!input.includes('/api/sync/pull')) return fetch(input, init);
    if (hooks.losePull) {
      hooks.losePull = false;
      throw new TypeError('fetch failed: the network went away');
    }
    const response = await fetch(input, init);
    // The pull's answer is in; the push's answer before it is applied, the page not yet.
    hooks.onPull?.();
    hooks.onPull = null;
    return response;
  };
  const b = await server.pairedClient('b', { fetch: till });
  const id = uuidv7();
  b.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Ada')").run(id);
  await syncAll(b, a);
  const created = (JSON.parse(pushBodies[0] ?? '{}') as { changes: Change[] }).changes[0]?.updatedAt ?? '';
  expect(created).not.toBe('');

  a.database.prepare("UPDATE customers SET email = 'ada@shop.test' WHERE id = ?").run(id);
  await syncAll(a);
  await later();
  b.database.prepare("UPDATE customers SET phone = '555' WHERE id = ?").run(id);
  pushBodies.length = 0;
  const pushed = (): Change[] =>
    pushBodies.flatMap((body) => (JSON.parse(body) as { changes: Change[] }).changes);
  return { server, a, b, id, created, pushed, hooks };
}

function conflictsOf(server: TestServer, id: string): Promise<ConflictList> {
  return asOwner<ConflictList>(server, 'GET', `/api/conflicts?table=customers&id=${id}`);
}

describe("the base of a write made after the device's own push of the row was applied, before it pulled", () => {
  it("a delete, its pull lost: the base is the row as B received it, and A's email overridden is a conflict", async () => {
    const { server, a, b, id, created, pushed, hooks } = await editAppliedBeforeItsPull();
    hooks.losePull = true;
    // The push of the phone is applied; the pull that would bring A's email is lost.
    expect(await b.sync()).toMatchObject({ ok: false });
    b.database.prepare('DELETE FROM customers WHERE id = ?').run(id);
    await syncAll(b, a);

    expect(pushed().map((change) => [change.op, change.base])).toEqual([
      ['upsert', created],
      // What B had received of the row when it deleted it: its creation, not its own phone edit.
      ['delete', created],
    ]);
    expect(await conflictsOf(server, id)).toMatchObject([
      { column: 'email', winner: { op: 'delete' }, loser: { values: { email: 'ada@shop.test' } } },
    ]);
    for (const device of [a, b])
      expect(device.database.prepare('SELECT count(*) AS n FROM customers').get()).toEqual({ n: 0 });
  });

  it("an edit of the column A wrote, its pull lost: A's email overridden is a conflict", async () => {
    const { server, a, b, id, created, pushed, hooks } = await editAppliedBeforeItsPull();
    hooks.losePull = true;
    expect(await b.sync()).toMatchObject({ ok: false });
    await later();
    b.database.prepare("UPDATE customers SET email = 'ada@b.test' WHERE id = ?").run(id);
    await syncAll(b, a);

    expect(pushed().map((change) => [change.op, Object.keys(change.values ?? {}), change.base])).toEqual([
      ['upsert', ['phone'], created],
      ['upsert', ['email'], created],
    ]);
    expect(await conflictsOf(server, id)).toMatchObject([
      {
        column: 'email',
        winner: { op: 'upsert', values: { email: 'ada@b.test' } },
        loser: { values: { email: 'ada@shop.test' } },
      },
    ]);
    for (const device of [a, b])
      expect(device.database.prepare('SELECT email, phone FROM customers').get()).toEqual({
        email: 'ada@b.test',
        phone: '555',
      });
  });

  it('a delete made between the answer and the pull that follows keeps the base B had received', async () => {
    const { server, a, b, id, created, pushed, hooks } = await editAppliedBeforeItsPull();
    const till = new Database(b.database.name);
    onCleanup(() => till.close());
    // B's cashier deletes the customer once the push's answer is applied, before the pull's page is.
    hooks.onPull = () => till.prepare('DELETE FROM customers WHERE id = ?').run(id);
    await syncAll(b, b, a);

    expect(pushed().map((change) => [change.op, change.base])).toEqual([
      ['upsert', created],
      ['delete', created],
    ]);
    expect(await conflictsOf(server, id)).toMatchObject([
      { column: 'email', winner: { op: 'delete' }, loser: { values: { email: 'ada@shop.test' } } },
    ]);
  });

  it('an edit made after the pull that follows is a plain edit: no conflict', async () => {
    const { server, a, b, id, pushed } = await editAppliedBeforeItsPull();
    // The push is applied and the pull brings the row back with A's email: B has received it.
    await syncAll(b);
    expect(b.database.prepare('SELECT email FROM customers').get()).toEqual({ email: 'ada@shop.test' });
    await later();
    b.database.prepare("UPDATE customers SET email = 'ada@b.test' WHERE id = ?").run(id);
    await syncAll(b, a);

    const [phoneEdit, emailEdit] = pushed();
    expect(emailEdit?.base).toBe(phoneEdit?.updatedAt);
    expect(await conflictsOf(server, id)).toEqual([]);
    expect(b.lostEdits()).toEqual([]);
    expect(a.lostEdits()).toEqual([]);
  });
});

import path from 'node:path';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { Disk } from '../../../test/simulation/src/disk.js';
import { buildAdoptPlan } from '../src/adopt/adopt-plan.js';
import { readBinding } from '../src/adopt/device-bookkeeping.js';
import { LegacyBridge } from '../src/adopt/legacy-bridge.js';
import { SqliteLegacyDatabase } from '../src/adopt/sqlite-legacy-database.js';
import {
  AdoptMapError,
  LegacyBridgeRunner,
  attachLegacyDatabase,
  createSyncClient,
  withLegacyBridge,
  type SyncClient,
  type SyncWorkerClient,
} from '../src/index.js';
import { readLocalSchema } from '../src/local-schema.js';
import { LocalStore } from '../src/local-store.js';
import { SyncedTables } from '../src/synced-tables.js';
import { shopMap, sqliteShop } from './adopt-legacy-shop.js';
import { musicShopStory } from './adopt-music-scenario.js';
import { sqliteMusicShop } from './adopt-music-shop.js';
import { adoptionStory } from './adopt-scenario.js';
import { onCleanup, tempFolder } from './helpers.js';
import { startTestServer } from './server-fixture.js';

/** The real SQLite database, whose next transaction fails as if the power went off before it began. */
class PowerCutLegacyDatabase extends SqliteLegacyDatabase {
  cutNext = false;

  override transaction<T>(fn: () => Promise<T>, options?: { readonly applying?: boolean }): Promise<T> {
    if (this.cutNext) {
      this.cutNext = false;
      return Promise.reject(new Error('power cut'));
    }
    return super.transaction(fn, options);
  }
}

describe('adopting a shop program’s SQLite database', () => {
  it('keeps the program’s tables and another device in step, and attaches, detaches and re-attaches safely', async () => {
    await adoptionStory(sqliteShop());
  }, 180_000);

  it('finishes a bring-in cut off between its two commits, without giving a row a second id or count', async () => {
    const server = await startTestServer();
    const till = await server.pairedClient('till');
    const shop = sqliteShop();
    const cola = await shop.addProduct('Cola', 1.99, 'QR-COLA', 24);
    await attachLegacyDatabase({ dbPath: till.database.name, map: shopMap(shop.location) });
    expect((await till.sync()).pushed).toBe(1);

    await shop.addProduct('Water', 0.99, 'QR-WATER', 12);
    await shop.sell([{ productId: cola, qty: 3 }]);
    const store = LocalStore.open({ dbPath: till.database.name });
    onCleanup(() => store.close());
    const schema = readLocalSchema(store);
    const binding = readBinding(store);
    if (!schema || !binding) throw new Error('the device file is not attached');
    const legacy = new PowerCutLegacyDatabase((shop.location as { sqlite: string }).sqlite);
    onCleanup(() => legacy.close());
    const bridge = new LegacyBridge({
      store,
      tables: new SyncedTables(store, schema),
      legacy,
      plan: await buildAdoptPlan(binding.map, schema, legacy),
    });

    // The device file took the rows; the power went off before the program's database noted their ids.
    legacy.cutNext = true;
    await expect(bridge.bringIn()).rejects.toThrow('power cut');
    expect(store.db.prepare('SELECT count(*) AS n FROM _sync_adopt_journal').get()).toEqual({ n: 4 });
    expect(await shop.query('SELECT count(*) AS n FROM _sync_changelog')).not.toEqual([{ n: 0 }]);

    await bridge.bringIn();
    const products = till.database.prepare('SELECT sku, stock FROM products ORDER BY sku').all();
    expect(products).toEqual([
      { sku: 'QR-COLA', stock: 21 },
      { sku: 'QR-WATER', stock: 12 },
    ]);
    expect(await shop.query('SELECT count(*) AS n FROM _sync_changelog')).toEqual([{ n: 0 }]);
    expect(
      await shop.query(
        "SELECT count(DISTINCT global_id) AS ids, count(DISTINCT local_key) AS keys FROM _sync_ids WHERE tbl = 'products'",
      ),
    ).toEqual([{ ids: 2, keys: 2 }]);
    const summary = await till.sync();
    // Water, Cola's count, the sale and its line: each once.
    expect(summary.pushed).toBe(4);
    const other = await server.pairedClient('other');
    await other.sync();
    expect(other.database.prepare('SELECT sku, stock FROM products ORDER BY sku').all()).toEqual(products);
  });

  it('syncs a pull to disk before its rows go into the program’s database, so a power cut leaves there no row the fleet deleted', async () => {
    // The device file on the simulated disk: a power cut drops what SQLite had not synced (its NORMAL commits).
    const disk = new Disk();
    const server = await startTestServer();
    const other = await server.pairedClient('other');
    const tillPath = path.join(tempFolder(), 'till.db');
    disk.watch(tillPath);
    onCleanup(() => disk.unwatch(tillPath));
    const openTill = (): { client: SyncClient; bridged: SyncWorkerClient; runner: LegacyBridgeRunner } => {
      const client = createSyncClient({ dbPath: tillPath, serverUrl: server.url });
      const runner = new LegacyBridgeRunner({ dbPath: tillPath });
      onCleanup(async () => {
        await runner.close().catch(() => {});
        await client.close().catch(() => {});
      });
      return { client, bridged: withLegacyBridge(client, runner), runner };
    };
    const before = openTill();
    await before.client.pair(await server.pairingCode(), { name: 'till', platform: 'test' });
    const shop = sqliteShop();
    await shop.addProduct('Cola', 1.99, 'QR-COLA', 24);
    await attachLegacyDatabase({ dbPath: tillPath, map: shopMap(shop.location) });
    await before.bridged.runCycle({ trigger: 'manual' });

    // Another device adds a product; the till's cycle pulls it and writes it into the program's Products.
    const water = uuidv7();
    other.database
      .prepare('INSERT INTO products (id, sku, name, price_cents, stock, active) VALUES (?, ?, ?, ?, ?, 1)')
      .run(water, 'QR-WATER', 'Water', 99, 12);
    await other.sync();
    await before.bridged.runCycle({ trigger: 'manual' });
    expect(await shop.query("SELECT ProductName FROM Products WHERE QrCode = 'QR-WATER'")).toEqual([
      { ProductName: 'Water' },
    ]);

    // The power goes off under the till; the program's database keeps its commits.
    await before.runner.close();
    disk.powerCut(tillPath);
    // The leases a cut may keep name this (live) process: let go of, as the system does for a dead one.
    const bare = new Database(tillPath);
    bare.prepare("DELETE FROM _sync_state WHERE key IN ('cycle_lease', 'adopt_lease')").run();
    bare.close();

    // The other device deletes the product meanwhile; the till's next cycle must take it out of Products.
    other.database.prepare('DELETE FROM products WHERE id = ?').run(water);
    await other.sync();
    const after = openTill();
    expect((await after.bridged.runCycle({ trigger: 'manual' })).ok).toBe(true);
    expect(await shop.query("SELECT ProductName FROM Products WHERE QrCode = 'QR-WATER'")).toEqual([]);
    expect(after.client.database.prepare('SELECT sku FROM products ORDER BY sku').all()).toEqual([
      { sku: 'QR-COLA' },
    ]);
  });

  it('counts the bridge’s time in the cycle’s durationMs', async () => {
    const server = await startTestServer();
    const other = await server.pairedClient('other');
    const till = await server.pairedClient('till');
    const shop = sqliteShop();
    await attachLegacyDatabase({ dbPath: till.database.name, map: shopMap(shop.location) });
    // The program's own trigger on Products is slow: the bring-out of a product waits for it.
    const program = new Database((shop.location as { sqlite: string }).sqlite);
    onCleanup(() => program.close());
    program.exec(`
      CREATE TABLE Digit (d INTEGER);
      INSERT INTO Digit VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
      CREATE TRIGGER ProgramTally AFTER INSERT ON Products BEGIN
        SELECT count(*) FROM Digit a, Digit b, Digit c, Digit d, Digit e, Digit f, Digit g;
      END;
    `);
    const started = performance.now();
    program
      .prepare('SELECT count(*) FROM Digit a, Digit b, Digit c, Digit d, Digit e, Digit f, Digit g')
      .get();
    const triggerMs = performance.now() - started;

    other.database
      .prepare('INSERT INTO products (id, sku, name, price_cents, stock, active) VALUES (?, ?, ?, ?, ?, 1)')
      .run(uuidv7(), 'QR-TEA', 'Tea', 250, 8);
    await other.sync();
    const runner = new LegacyBridgeRunner({ dbPath: till.database.name });
    onCleanup(() => runner.close());
    // The cycle's own entry, before the bridge adds its part.
    const own: number[] = [];
    const bridged = withLegacyBridge(
      {
        get status() {
          return till.status;
        },
        get lastCycle() {
          return till.lastCycle;
        },
        runCycle: async (request) => {
          const cycle = await till.runCycle(request);
          own.push(cycle.durationMs);
          return cycle;
        },
        openChangeStream: (signal) => till.openChangeStream(signal),
      },
      runner,
    );
    const entry = await bridged.runCycle({ trigger: 'manual' });
    expect(entry).toMatchObject({ ok: true, pulled: 1 });
    expect(await shop.query("SELECT ProductName FROM Products WHERE QrCode = 'QR-TEA'")).toEqual([
      { ProductName: 'Tea' },
    ]);
    expect(own).toHaveLength(1);
    expect(entry.durationMs - (own[0] ?? 0)).toBeGreaterThanOrEqual(triggerMs / 2);
    // The log keeps the entry with the bridge's part, as `tillsync sync` prints it.
    expect(till.syncLog(1)[0]?.durationMs).toBe(entry.durationMs);
  });

  it('says when the synced schema holds no unique rule over a composite key', async () => {
    const server = await startTestServer();
    const till = await server.pairedClient('till');
    const file = path.join(tempFolder('tillsync-legacy-'), 'receipts.db');
    const db = new Database(file);
    db.exec(`
      CREATE TABLE Article (ArtNo INTEGER PRIMARY KEY, Code TEXT NOT NULL, Title TEXT NOT NULL,
        Price NUMERIC(10,2) NOT NULL, Stock INT NOT NULL DEFAULT 0);
      CREATE TABLE Receipt (ReceiptNo INTEGER PRIMARY KEY, Total NUMERIC(10,2) NOT NULL, SoldAt DATETIME NOT NULL);
      CREATE TABLE ReceiptLine (ReceiptNo INT NOT NULL REFERENCES Receipt (ReceiptNo),
        ArtNo INT NOT NULL REFERENCES Article (ArtNo), Qty INT NOT NULL, Price NUMERIC(10,2) NOT NULL,
        PRIMARY KEY (ReceiptNo, ArtNo));
    `);
    db.close();
    const attached = await attachLegacyDatabase({
      dbPath: till.database.name,
      map: {
        legacy: { sqlite: file },
        tables: {
          products: {
            table: 'Article',
            key: 'ArtNo',
            columns: {
              sku: 'Code',
              name: 'Title',
              price_cents: { column: 'Price', convert: 'decimal-to-cents' },
              stock: 'Stock',
            },
          },
          sales: {
            table: 'Receipt',
            key: 'ReceiptNo',
            columns: {
              total_cents: { column: 'Total', convert: 'decimal-to-cents' },
              created_at: { column: 'SoldAt', convert: 'datetime-to-iso' },
            },
          },
          sale_items: {
            table: 'ReceiptLine',
            key: ['ReceiptNo', 'ArtNo'],
            columns: {
              sale_id: 'ReceiptNo',
              product_id: 'ArtNo',
              quantity: 'Qty',
              price_cents: { column: 'Price', convert: 'decimal-to-cents' },
            },
          },
        },
      },
    });
    expect(attached.tables.map((table) => [table.table, table.keys, table.note ?? null])).toEqual([
      ['products', 'database', null],
      ['sales', 'database', null],
      [
        'sale_items',
        'composite',
        'the synced schema has no unique rule over sale_items (sale_id, product_id), the key of ReceiptLine: ' +
          'another device may add the same sale_id and product_id under an id of its own, which ReceiptLine ' +
          'then refuses; add "unique": [["sale_id","product_id"]] to sale_items in the schema',
      ],
    ]);
  });

  it('refuses a map that does not fit, naming the table and column, and changes nothing', async () => {
    const server = await startTestServer();
    const till = await server.pairedClient('till');
    const shop = sqliteShop();
    const product = await shop.addProduct('Cola', 1.99, 'QR-COLA');
    const objects = await shop.allObjects();
    const problemsOf = async (edit: (map: MapShape) => void): Promise<string> => {
      const map = shopMap(shop.location) as unknown as MapShape;
      edit(map);
      const error = await attachLegacyDatabase({ dbPath: till.database.name, map }).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(AdoptMapError);
      return (error as AdoptMapError).problems.join('\n');
    };

    expect(await problemsOf((map) => (map.tables.products.table = 'Produce'))).toMatch(
      /^tables\.products\.table: .*shop\.db has no table "Produce"$/m,
    );
    expect(await problemsOf((map) => (map.tables.products.columns['name'] = 'ProductTitle'))).toMatch(
      /^tables\.products\.columns\.name: Products has no column "ProductTitle"$/m,
    );
    expect(await problemsOf((map) => (map.tables.products.columns['colour'] = 'Notes'))).toMatch(
      /^tables\.products\.columns\.colour: the synced table products has no column "colour"$/m,
    );
    expect(
      await problemsOf(
        (map) =>
          (map.tables.products.columns['name'] = { column: 'ProductName', convert: 'decimal-to-cents' }),
      ),
    ).toMatch(
      /^tables\.products\.columns\.name: "decimal-to-cents" gives whole cents, but name is of type text$/m,
    );
    expect(await problemsOf((map) => delete map.tables.products.columns['stock'])).toMatch(
      /products\.stock is required: bind it to a column of Products or give its value in "defaults"/,
    );
    expect(await problemsOf((map) => (map.tables.products.key = 'QrCode'))).toMatch(
      /^tables\.products\.key: Products\.QrCode is not an integer primary key/m,
    );
    expect(
      await problemsOf((map) => (map.tables.products.columns['sku'] = { column: 'QrCode', convert: 'euro' })),
    ).toMatch(/tables\.products\.columns\.sku/);
    await shop.setStatus(product, 'Discontinued' as 'Inactive');
    expect(await problemsOf(() => {})).toMatch(
      /^tables\.products\.columns\.active: Products\.Status holds "Discontinued" \(ProductID 1\), which the value table does not list$/m,
    );
    expect(await shop.allObjects()).toEqual(objects);
  });
});

interface MapShape {
  tables: Record<string, { table: string; key: string; columns: Record<string, unknown> }> & {
    products: { table: string; key: string; columns: Record<string, unknown> };
  };
}

describe('adopting a music shop’s SQLite database nobody here wrote', () => {
  it('goes from adopt init to two synced devices: keys of every kind, deletes in order, refusals shown and retried, no echo', async () => {
    await musicShopStory(sqliteMusicShop());
  }, 180_000);
});

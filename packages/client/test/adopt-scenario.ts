import { v7 as uuidv7 } from 'uuid';
import { expect } from 'vitest';
import {
  LegacyBridgeRunner,
  SyncWorker,
  attachLegacyDatabase,
  detachLegacyDatabase,
  withLegacyBridge,
  type SyncClient,
} from '../src/index.js';
import { shopMap, type LegacyShop } from './adopt-legacy-shop.js';
import { onCleanup } from './helpers.js';
import { startTestServer } from './server-fixture.js';

interface SyncedProduct {
  id: string;
  sku: string;
  name: string;
  price_cents: number;
  stock: number;
  active: number;
}

function productsOf(client: SyncClient): SyncedProduct[] {
  return client.database.prepare('SELECT * FROM products ORDER BY sku').all() as SyncedProduct[];
}

function productBySku(client: SyncClient, sku: string): SyncedProduct | undefined {
  return productsOf(client).find((product) => product.sku === sku);
}

/** A worker whose cycles the bridge frames, as the device agent runs it; stopped after the test. */
export function bridgedWorker(client: SyncClient): SyncWorker {
  const bridge = new LegacyBridgeRunner({ dbPath: client.database.name });
  const worker = new SyncWorker({
    client: withLegacyBridge(client, bridge),
    live: false,
    statusPollMs: 3600_000,
  });
  onCleanup(async () => {
    await worker.stop();
    await bridge.close();
  });
  return worker;
}

/**
 * The whole story of adopting a shop program's database, the same on every engine: a real server on
 * loopback, the till's device file with the bridge run around its worker's cycles (as the device agent
 * does), the program writing its own tables beside it, and a second, ordinary device.
 */
export async function adoptionStory(shop: LegacyShop): Promise<void> {
  const server = await startTestServer();
  const other = await server.pairedClient('other');
  const till = await server.pairedClient('till');
  const tillPath = till.database.name;

  // The program has been running for a while before sync comes along.
  const cola = await shop.addProduct('Cola', 1.99, 'QR-COLA', 24);
  const chips = await shop.addProduct('Chips', 2.5, 'QR-CHIPS', 10);
  const gum = await shop.addProduct('Gum', 0.75, 'QR-GUM', 5);
  await shop.sell([
    { productId: cola, qty: 2 },
    { productId: chips, qty: 1 },
  ]);
  const definitions = await shop.tableDefinitions();
  const objects = await shop.allObjects();

  const attached = await attachLegacyDatabase({ dbPath: tillPath, map: shopMap(shop.location) });
  expect(attached.tables).toEqual([
    { table: 'products', legacyTable: 'Products', rows: 3, keys: 'database' },
    { table: 'sales', legacyTable: 'Sales', rows: 1, keys: 'database' },
    { table: 'sale_items', legacyTable: 'SaleItems', rows: 2, keys: 'database' },
  ]);
  expect(attached.broughtIn).toBe(6);
  expect(await shop.tableDefinitions()).toBe(definitions);

  const worker = bridgedWorker(till);

  // The existing rows are the device's first push.
  const first = await worker.syncNow();
  expect(first.error).toBeNull();
  expect(first.pushed).toBe(6);
  await other.sync();
  expect(
    productsOf(other).map(({ sku, name, price_cents, stock, active }) => ({
      sku,
      name,
      price_cents,
      stock,
      active,
    })),
  ).toEqual([
    { sku: 'QR-CHIPS', name: 'Chips', price_cents: 250, stock: 9, active: 1 },
    { sku: 'QR-COLA', name: 'Cola', price_cents: 199, stock: 22, active: 1 },
    { sku: 'QR-GUM', name: 'Gum', price_cents: 75, stock: 5, active: 1 },
  ]);
  const colaId = productBySku(other, 'QR-COLA')?.id;
  const sale = other.database.prepare('SELECT * FROM sales').get() as {
    id: string;
    total_cents: number;
    created_at: string;
  };
  expect(sale).toMatchObject({ total_cents: 648, created_at: '2026-12-01T10:30:00.000Z' });
  expect(
    other.database
      .prepare(
        'SELECT product_id, quantity, price_cents FROM sale_items WHERE sale_id = ? ORDER BY price_cents',
      )
      .all(sale.id),
  ).toEqual([
    { product_id: colaId, quantity: 2, price_cents: 199 },
    { product_id: productBySku(other, 'QR-CHIPS')?.id, quantity: 1, price_cents: 250 },
  ]);

  // The program's inserts, updates and deletes reach the other device.
  const water = await shop.addProduct('Water', 0.99, 'QR-WATER', 12);
  await shop.setPrice(chips, 2.75);
  await shop.setStatus(cola, 'Inactive');
  await shop.deleteProduct(gum);
  await shop.sell([{ productId: water, qty: 1 }]);
  expect((await worker.syncNow()).error).toBeNull();
  await other.sync();
  expect(productBySku(other, 'QR-WATER')).toMatchObject({
    name: 'Water',
    price_cents: 99,
    stock: 11,
    active: 1,
  });
  expect(productBySku(other, 'QR-CHIPS')).toMatchObject({ price_cents: 275 });
  expect(productBySku(other, 'QR-COLA')).toMatchObject({ active: 0 });
  expect(productBySku(other, 'QR-GUM')).toBeUndefined();
  expect(
    other.database
      .prepare('SELECT count(*) AS n FROM sale_items WHERE product_id = ?')
      .get(productBySku(other, 'QR-WATER')?.id),
  ).toEqual({ n: 1 });

  // The other device edits the catalogue and sells, while the program sells Cola too.
  const tea = uuidv7();
  other.database
    .prepare('INSERT INTO products (id, sku, name, price_cents, stock, active) VALUES (?, ?, ?, ?, ?, 1)')
    .run(tea, 'QR-TEA', 'Tea', 320, 8);
  other.database.prepare("UPDATE products SET price_cents = 210, active = 1 WHERE sku = 'QR-COLA'").run();
  expect((await other.sync()).ok).toBe(true);
  expect((await worker.syncNow()).error).toBeNull();
  // Both sell Cola at once: the counts add up (a row's other columns follow its last write, PROTOCOL.md §5).
  const otherSale = uuidv7();
  other.database
    .prepare('INSERT INTO sales (id, total_cents, created_at) VALUES (?, ?, ?)')
    .run(otherSale, 530, '2026-12-01T11:00:00.000Z');
  const items = other.database.prepare(
    'INSERT INTO sale_items (id, sale_id, product_id, quantity, price_cents) VALUES (?, ?, ?, ?, ?)',
  );
  items.run(uuidv7(), otherSale, colaId, 1, 210);
  items.run(uuidv7(), otherSale, tea, 1, 320);
  other.database.prepare('UPDATE products SET stock = stock - 1 WHERE id IN (?, ?)').run(colaId, tea);
  expect((await other.sync()).ok).toBe(true);
  await shop.sell([{ productId: cola, qty: 1 }]);
  expect((await worker.syncNow()).error).toBeNull();

  const legacyProducts = await shop.products();
  const legacyTea = legacyProducts.find((product) => product.QrCode === 'QR-TEA');
  expect(legacyTea).toMatchObject({ ProductName: 'Tea', Status: 'Active', Stock: 7 });
  expect(Number(legacyTea?.SellPrice)).toBe(3.2);
  // A fresh key of the program's own sequence, after every key the program had used.
  expect(legacyTea?.ProductID).toBeGreaterThan(Math.max(cola, chips, gum, water));
  const legacyCola = legacyProducts.find((product) => product.ProductID === cola);
  expect(legacyCola).toMatchObject({ Status: 'Active', Stock: 24 - 2 - 1 - 1 });
  expect(Number(legacyCola?.SellPrice)).toBe(2.1);
  const legacySales = await shop.sales();
  const newSale = legacySales.find((row) => row.SaleDate.startsWith('2026-12-01 11:00:00'));
  expect(newSale).toBeDefined();
  expect(Number(newSale?.Total)).toBe(5.3);
  const newItems = (await shop.saleItems()).filter((item) => item.SaleID === newSale?.SaleID);
  expect(newItems.map((item) => [item.ProductID, item.Qty, Number(item.UnitPrice)]).sort()).toEqual(
    [
      [cola, 1, 2.1],
      [legacyTea?.ProductID, 1, 3.2],
    ].sort(),
  );

  // The program's next product takes the next key of its own; the other device sees the counts merged.
  const juice = await shop.addProduct('Juice', 1.5, 'QR-JUICE', 6);
  expect(juice).toBeGreaterThan(legacyTea?.ProductID ?? 0);
  expect((await worker.syncNow()).pushed).toBe(1);
  await other.sync();
  expect(productBySku(other, 'QR-COLA')).toMatchObject({ stock: 20, price_cents: 210 });
  expect(productBySku(other, 'QR-JUICE')).toMatchObject({ name: 'Juice', price_cents: 150 });

  // A delete on the other device removes the program's row; nothing comes back as an echo.
  other.database.prepare("DELETE FROM products WHERE sku = 'QR-JUICE'").run();
  await other.sync();
  await worker.syncNow();
  expect((await shop.products()).some((product) => product.ProductID === juice)).toBe(false);
  const quiet = await worker.syncNow();
  expect(quiet.pushed).toBe(0);
  expect(await shop.query('SELECT count(*) AS n FROM _sync_changelog')).toEqual([{ n: 0 }]);
  expect(till.status.pendingChanges).toBe(0);
  expect(await shop.tableDefinitions()).toBe(definitions);

  // Detach: the program's tables and rows as they were, none of the bookkeeping left.
  const rows = { products: await shop.products(), sales: await shop.sales(), items: await shop.saleItems() };
  expect(await detachLegacyDatabase({ dbPath: tillPath })).toMatchObject({ detached: true });
  expect(await shop.allObjects()).toEqual(objects);
  expect(await shop.tableDefinitions()).toBe(definitions);
  expect({
    products: await shop.products(),
    sales: await shop.sales(),
    items: await shop.saleItems(),
  }).toEqual(rows);
  expect(await detachLegacyDatabase({ dbPath: tillPath })).toEqual({ detached: false, legacy: null });
  expect((await worker.syncNow()).error).toBeNull();

  // A change made while detached goes out after the next attach; no row is sent twice.
  await shop.setPrice(water, 1.05);
  const serverRows = productsOf(other).length;
  const again = await attachLegacyDatabase({ dbPath: tillPath, map: shopMap(shop.location) });
  expect(again.broughtIn).toBe(1);
  expect((await attachLegacyDatabase({ dbPath: tillPath, map: shopMap(shop.location) })).broughtIn).toBe(0);
  expect((await worker.syncNow()).pushed).toBe(1);
  await other.sync();
  expect(productsOf(other)).toHaveLength(serverRows);
  expect(productBySku(other, 'QR-WATER')).toMatchObject({ price_cents: 105 });
  expect(other.database.prepare('SELECT count(*) AS n FROM sale_items').get()).toEqual({ n: 6 });
  expect(await shop.tableDefinitions()).toBe(definitions);
}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createSyncClient } from '@tillsync/client';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startDeviceAgent } from '../src/device-agent.js';
import { tillsync } from './cli-process.js';
import { startCloud } from './cloud-fixture.js';

/**
 * `tillsync attach` and `detach` (the built command, run `npx tsc -b` first) on the file of a running device
 * agent, beside a shop program writing its own SQLite tables, with a second device on the same server.
 */

describe('a shop program’s database attached to a running device agent', () => {
  it('reaches the other device and receives its rows under the program’s own keys', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-adopt-agent-'));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    const cloud = await startCloud(dir);

    // The shop program and its own file.
    const shop = new Database(path.join(dir, 'shop.db'));
    onTestFinished(() => {
      shop.close();
    });
    shop.exec(`CREATE TABLE Products (ProductID INTEGER PRIMARY KEY, ProductName TEXT NOT NULL, SellPrice REAL NOT NULL,
      QrCode TEXT, Status TEXT NOT NULL DEFAULT 'Active')`);
    shop
      .prepare('INSERT INTO Products (ProductName, SellPrice, QrCode) VALUES (?, ?, ?)')
      .run('Cola', 1.99, 'QR-COLA');
    const objects = shop.prepare('SELECT type, name, sql FROM sqlite_master ORDER BY name').all();
    fs.writeFileSync(
      path.join(dir, 'map.json'),
      JSON.stringify({
        legacy: { sqlite: 'shop.db' },
        tables: {
          products: {
            table: 'Products',
            key: 'ProductID',
            columns: {
              name: 'ProductName',
              sku: 'QrCode',
              price_cents: { column: 'SellPrice', convert: 'decimal-to-cents' },
              active: { column: 'Status', values: { Active: 1, Inactive: 0 } },
            },
            defaults: { stock: 0 },
          },
        },
      }),
    );

    const agent = await startDeviceAgent({
      dbPath: path.join(dir, 'till.db'),
      serverUrl: cloud.url,
      pairCode: await cloud.pairingCode(),
      port: 0,
      intervalMs: 3600_000,
    });
    onTestFinished(() => agent.close());
    await agent.worker.idle();
    const other = createSyncClient({ dbPath: path.join(dir, 'other.db'), serverUrl: cloud.url });
    onTestFinished(() => other.close());
    await other.pair(await cloud.pairingCode());

    const attached = await tillsync(['attach', '--db', 'till.db', '--map', 'map.json'], { cwd: dir });
    expect(attached.stderr).toBe('');
    expect(attached.code).toBe(0);
    expect(JSON.parse(attached.stdout)).toMatchObject({
      tables: [{ table: 'products', legacyTable: 'Products', rows: 1 }],
      broughtIn: 1,
    });

    shop
      .prepare('INSERT INTO Products (ProductName, SellPrice, QrCode) VALUES (?, ?, ?)')
      .run('Chips', 2.5, 'QR-CHIPS');
    expect((await agent.worker.syncNow()).pushed).toBe(2);
    await other.sync();
    expect(
      other.database.prepare('SELECT sku, name, price_cents, stock, active FROM products ORDER BY sku').all(),
    ).toEqual([
      { sku: 'QR-CHIPS', name: 'Chips', price_cents: 250, stock: 0, active: 1 },
      { sku: 'QR-COLA', name: 'Cola', price_cents: 199, stock: 0, active: 1 },
    ]);

    other.database
      .prepare('INSERT INTO products (id, sku, name, price_cents, stock, active) VALUES (?, ?, ?, ?, ?, ?)')
      .run(uuidv7(), 'QR-TEA', 'Tea', 320, 4, 0);
    await other.sync();
    await agent.worker.syncNow();
    expect(shop.prepare('SELECT * FROM Products ORDER BY ProductID').all()).toEqual([
      { ProductID: 1, ProductName: 'Cola', SellPrice: 1.99, QrCode: 'QR-COLA', Status: 'Active' },
      { ProductID: 2, ProductName: 'Chips', SellPrice: 2.5, QrCode: 'QR-CHIPS', Status: 'Active' },
      { ProductID: 3, ProductName: 'Tea', SellPrice: 3.2, QrCode: 'QR-TEA', Status: 'Inactive' },
    ]);

    // `tillsync sync` brings the program's changes in around its cycle, as the agent does.
    shop.prepare('UPDATE Products SET SellPrice = 1.89 WHERE ProductID = 1').run();
    const synced = await tillsync(['sync', '--db', 'till.db'], { cwd: dir });
    expect(synced.code).toBe(0);
    expect(JSON.parse(synced.stdout)).toMatchObject({ ok: true, pushed: 1 });

    const detached = await tillsync(['detach', '--db', 'till.db'], { cwd: dir });
    expect(detached.code).toBe(0);
    expect(JSON.parse(detached.stdout)).toMatchObject({ detached: true });
    expect(shop.prepare('SELECT type, name, sql FROM sqlite_master ORDER BY name').all()).toEqual(objects);
    expect(shop.prepare('SELECT count(*) AS n FROM Products').get()).toEqual({ n: 3 });
  }, 300_000);
});

import type Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { expect } from 'vitest';
import type { SyncClient } from '../src/index.js';
import { startTestServer } from './server-fixture.js';

/** A real server and two paired devices: a till and the back office. */
export async function tillAndOffice(): Promise<{ till: SyncClient; office: SyncClient }> {
  const server = await startTestServer();
  return { till: await server.pairedClient('till'), office: await server.pairedClient('office') };
}

/** Writes the product Apple (sku A-1, 1.20, a stock of 10) with SQL, as a shop's program would. */
export function insertApple(db: Database.Database, id = uuidv7()): string {
  db.prepare(
    "INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, 'A-1', 'Apple', 120, 10)",
  ).run(id);
  return id;
}

/** Writes a sale of one `product` with SQL: the sale and its item (the stock is left alone). */
export function insertSaleOf(db: Database.Database, product: string): { sale: string; item: string } {
  const [sale, item] = [uuidv7(), uuidv7()];
  db.prepare(
    "INSERT INTO sales (id, total_cents, created_at) VALUES (?, 120, '2026-11-22T10:00:00.000Z')",
  ).run(sale);
  db.prepare(
    'INSERT INTO sale_items (id, sale_id, product_id, quantity, price_cents) VALUES (?, ?, ?, 1, 120)',
  ).run(item, sale, product);
  return { sale, item };
}

/** The product's name and stock on a device (undefined when it has no such row). */
export function productOf(client: SyncClient, product: string): unknown {
  return client.database.prepare('SELECT name, stock FROM products WHERE id = ?').get(product);
}

/** Syncs each device in turn, expecting each cycle to succeed. */
export async function syncEach(...clients: SyncClient[]): Promise<void> {
  for (const client of clients) expect((await client.sync()).ok).toBe(true);
}

import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import type { FetchFunction, SyncClient, SyncStatus } from '../src/index.js';
import { trigramQuery } from '../src/search-index.js';
import { onCleanup } from './helpers.js';
import { startTestServer, type TestServer } from './server-fixture.js';

function rows(client: SyncClient, table: string): Record<string, unknown>[] {
  return client.database.prepare(`SELECT * FROM ${table} ORDER BY id`).all() as Record<string, unknown>[];
}

/** Another program's connection to a device file. */
function otherProgram(client: SyncClient): Database.Database {
  const db = new Database(client.database.name);
  db.pragma('busy_timeout = 10000');
  onCleanup(() => db.close());
  return db;
}

describe('two devices and a server', () => {
  it('converge on inserts, updates and deletes written by another program', async () => {
    const server = await startTestServer();
    const d1 = await server.pairedClient('d1');
    const d2 = await server.pairedClient('d2');
    const shop = otherProgram(d1);
    const [category, product] = [uuidv7(), uuidv7()];
    shop.prepare("INSERT INTO categories (id, name) VALUES (?, 'Fruit')").run(category);
    shop
      .prepare(
        "INSERT INTO products (id, sku, name, price_cents, stock, category_id) VALUES (?, 'A-1', 'Apple', 120, 10, ?)",
      )
      .run(product, category);
    expect(d1.status.pendingChanges).toBe(2);

    const first = await d1.sync();
    expect(first).toMatchObject({ ok: true, trigger: 'manual', pushed: 2, rejected: 0, error: null });
    expect(d1.status).toMatchObject({ state: 'synced', pendingChanges: 0, lastError: null });
    expect((await d2.sync()).ok).toBe(true);
    expect(rows(d2, 'products')).toEqual(rows(d1, 'products'));

    otherProgram(d2).prepare("UPDATE products SET name = 'Green apple' WHERE id = ?").run(product);
    await d2.sync();
    await d1.sync();
    expect(rows(d1, 'products')[0]).toMatchObject({ name: 'Green apple', stock: 10 });

    shop.prepare('DELETE FROM products WHERE id = ?').run(product);
    await d1.sync();
    await d2.sync();
    expect(rows(d2, 'products')).toEqual([]);
    expect(rows(d2, 'categories')).toEqual(rows(d1, 'categories'));
  });

  it('add up counters sold on two offline devices', async () => {
    const server = await startTestServer();
    const d1 = await server.pairedClient('d1');
    const d2 = await server.pairedClient('d2');
    const product = uuidv7();
    d1.database
      .prepare("INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, 'A-1', 'Apple', 120, 10)")
      .run(product);
    await d1.sync();
    await d2.sync();
    d1.database.prepare('UPDATE products SET stock = stock - 1 WHERE id = ?').run(product);
    d2.database.prepare('UPDATE products SET stock = stock - 3 WHERE id = ?').run(product);
    d2.database.prepare("UPDATE products SET name = 'Red apple' WHERE id = ?").run(product);
    for (const device of [d1, d2, d1, d2]) expect((await device.sync()).ok).toBe(true);
    expect(rows(d1, 'products')[0]).toMatchObject({ stock: 6, name: 'Red apple' });
    expect(rows(d2, 'products')[0]).toMatchObject({ stock: 6, name: 'Red apple' });
  });
});

/** Lets the wall clock move on, so the next write is stamped in a later millisecond than the last. */
function later(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 3));
}

function state(client: SyncClient, key: string): string | null {
  const row = client.database.prepare('SELECT value FROM _sync_state WHERE key = ?').get(key) as
    { value: string } | undefined;
  return row?.value ?? null;
}

function addProduct(
  client: SyncClient,
  values: { name?: string; stock?: number; sku?: string } = {},
): string {
  const id = uuidv7();
  client.database
    .prepare('INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, ?, ?, 120, ?)')
    .run(id, values.sku ?? `SKU-${id}`, values.name ?? 'Apple', values.stock ?? 10);
  return id;
}

/** Two devices of one shop, both synced with the same product: an Apple, 10 in stock. */
async function twoDevicesWithAnApple(): Promise<{ d1: SyncClient; d2: SyncClient; product: string }> {
  const server = await startTestServer();
  const d1 = await server.pairedClient('d1');
  const d2 = await server.pairedClient('d2');
  const product = addProduct(d1, { name: 'Apple', stock: 10 });
  await d1.sync();
  await d2.sync();
  return { d1, d2, product };
}

describe('adopting an existing shop database', () => {
  it('syncs the rows a shop program wrote before the file was paired, and adds missing columns', async () => {
    const server = await startTestServer();
    const { tempFolder } = await import('./helpers.js');
    const { createSyncClient } = await import('../src/index.js');
    const dbPath = `${tempFolder()}/shop.db`;
    const shop = new Database(dbPath);
    // The shop's own table: no phone column yet, and a column the sync does not know.
    shop.exec(
      'CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT, loyalty_points INTEGER)',
    );
    const existing = [uuidv7(), uuidv7()];
    for (const id of existing)
      shop.prepare("INSERT INTO customers (id, name, loyalty_points) VALUES (?, 'Old', 5)").run(id);
    shop.close();
    const client = createSyncClient({ dbPath, serverUrl: server.url });
    onCleanup(() => client.close());
    await client.pair(await server.pairingCode());
    expect(client.status.pendingChanges).toBe(2);
    expect(await client.sync()).toMatchObject({ ok: true, pushed: 2 });
    const other = await server.pairedClient('other');
    await other.sync();
    expect(rows(other, 'customers')).toEqual(
      existing.sort().map((id) => ({ id, name: 'Old', phone: null, email: null })),
    );
    expect(rows(client, 'customers')[0]).toMatchObject({ loyalty_points: 5, phone: null });
  });
});

describe('a server that is down', () => {
  it('leaves every change pending with a clear state, and syncs them when it is back', async () => {
    const server = await startTestServer();
    const d1 = await server.pairedClient('d1');
    const d2 = await server.pairedClient('d2');
    await server.stop();
    const customer = uuidv7();
    d1.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Offline')").run(customer);
    const failed = await d1.sync();
    expect(failed).toMatchObject({ ok: false, pushed: 0, pulled: 0 });
    expect(failed.error).toMatch(/cannot be reached|did not answer/);
    expect(d1.status).toMatchObject({ state: 'offline', pendingChanges: 1, lastSyncedAt: null });
    expect(d1.syncLog(1)[0]).toMatchObject({ ok: false, outcome: 'offline' });

    await server.restart();
    expect(await d1.sync()).toMatchObject({ ok: true, pushed: 1 });
    expect(d1.status).toMatchObject({ state: 'synced', pendingChanges: 0, lastError: null });
    await d2.sync();
    expect(rows(d2, 'customers').map((row) => row.id)).toEqual([customer]);
  });
});

describe('force pull', () => {
  it('keeps unsent changes pending, and with discard-local replaces them and sets them aside', async () => {
    const server = await startTestServer();
    const d1 = await server.pairedClient('d1');
    const product = addProduct(d1, { name: 'Apple', stock: 10 });
    await d1.sync();
    d1.database
      .prepare("UPDATE products SET name = 'Local only', stock = stock - 2 WHERE id = ?")
      .run(product);
    const localInsert = uuidv7();
    d1.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Never sent')").run(localInsert);

    const pulled = await d1.pull();
    expect(pulled).toMatchObject({ ok: true, pushed: 0, trigger: 'force-pull' });
    expect(d1.status.pendingChanges).toBe(2);
    expect(rows(d1, 'products')[0]).toMatchObject({ name: 'Local only', stock: 8 });

    const discarded = await d1.pull({ discardLocal: true });
    expect(discarded).toMatchObject({ ok: true, pushed: 0 });
    expect(d1.status.pendingChanges).toBe(0);
    expect(rows(d1, 'products')[0]).toMatchObject({ name: 'Apple', stock: 10 });
    expect(rows(d1, 'customers')).toEqual([]);
    const aside = d1.setAsideRows();
    expect(aside.map((row) => [row.table, row.rowId, row.op, row.values?.name])).toEqual(
      expect.arrayContaining([
        ['products', product, 'upsert', 'Local only'],
        ['customers', localInsert, 'upsert', 'Never sent'],
      ]),
    );
    expect(d1.syncLog(1)[0]?.repairs.map((repair) => [repair.reason, repair.matched])).toEqual(
      expect.arrayContaining([['discard-local', true]]),
    );
    // Nothing discarded ever reaches the server.
    await d1.sync();
    const d2 = await server.pairedClient('d2');
    await d2.sync();
    expect(rows(d2, 'products')).toEqual(rows(d1, 'products'));
    expect(rows(d2, 'customers')).toEqual([]);
  });

  it("does not let an older server write overwrite a pending row, and keeps the counter's sales on top", async () => {
    const { d1, d2, product } = await twoDevicesWithAnApple();
    d2.database.prepare("UPDATE products SET name = 'Older', stock = stock - 1 WHERE id = ?").run(product);
    await later();
    d1.database.prepare("UPDATE products SET name = 'Newer', stock = stock - 3 WHERE id = ?").run(product);
    await d2.sync();
    await d1.pull();
    expect(rows(d1, 'products')[0]).toMatchObject({ name: 'Newer', stock: 6 });
    expect(d1.status.pendingChanges).toBe(1);
    await d1.sync();
    await d2.sync();
    for (const device of [d1, d2])
      expect(rows(device, 'products')[0]).toMatchObject({ name: 'Newer', stock: 6 });
  });
});

describe('push results', () => {
  it('stale: the later write wins, the local version is kept as a conflict, and the deltas still add up', async () => {
    const { d1, d2, product } = await twoDevicesWithAnApple();
    d1.database
      .prepare("UPDATE products SET name = 'Earlier edit', stock = stock - 1 WHERE id = ?")
      .run(product);
    await later();
    d2.database
      .prepare("UPDATE products SET name = 'Later edit', stock = stock - 2 WHERE id = ?")
      .run(product);
    await d2.sync();
    const summary = await d1.sync();
    expect(summary).toMatchObject({ ok: true, pushed: 1, conflicts: 1, rejected: 0 });
    expect(rows(d1, 'products')[0]).toMatchObject({ name: 'Later edit', stock: 7 });
    expect(d1.status.pendingChanges).toBe(0);
    const [conflict] = d1.conflicts();
    expect(conflict).toMatchObject({
      table: 'products',
      rowId: product,
      winner: 'server',
      source: 'push',
      local: { op: 'upsert', values: { name: 'Earlier edit' } },
      server: { op: 'upsert', values: { name: 'Later edit' } },
    });
    await d2.sync();
    expect(rows(d2, 'products')[0]).toMatchObject({ name: 'Later edit', stock: 7 });
  });

  it('rejected: the row stays pending with its error, in the summary, the log and the status, and blocks nothing', async () => {
    const server = await startTestServer();
    const d1 = await server.pairedClient('d1');
    const d2 = await server.pairedClient('d2');
    addProduct(d1, { sku: 'SAME' });
    await d1.sync();
    const duplicate = addProduct(d2, { sku: 'SAME' });
    const orphan = uuidv7();
    d2.database
      .prepare(
        'INSERT INTO sale_items (id, sale_id, product_id, quantity, price_cents) VALUES (?, ?, ?, 1, 100)',
      )
      .run(orphan, uuidv7(), uuidv7());
    const fine = uuidv7();
    d2.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Fine')").run(fine);
    d2.database
      .prepare("INSERT INTO daily_sales (id, day, sales_count, total_cents) VALUES (?, '2026-01-01', 1, 1)")
      .run(uuidv7());

    const summary = await d2.sync();
    expect(summary).toMatchObject({ ok: true, pushed: 1, rejected: 3 });
    expect(d2.status).toMatchObject({ state: 'synced', pendingChanges: 3 });
    expect(d2.status.lastError).toMatch(/3 changes were rejected/);
    const codes = Object.fromEntries(d2.pendingChanges().map((change) => [change.table, change.error?.code]));
    expect(codes).toEqual({
      products: 'UNIQUE_VIOLATION',
      sale_items: 'FK_VIOLATION',
      daily_sales: 'READ_ONLY_TABLE',
    });
    const logged = d2.syncLog(1)[0]!.rejected;
    expect(logged.find((row) => row.id === duplicate)).toMatchObject({
      table: 'products',
      code: 'UNIQUE_VIOLATION',
    });
    expect(logged.find((row) => row.id === orphan)?.message).toMatch(/does not exist/);
    await d1.sync();
    expect(rows(d1, 'customers').map((row) => row.id)).toEqual([fine]);

    // Fixing the row lets it through on the next cycle.
    d2.database.prepare("UPDATE products SET sku = 'OTHER' WHERE id = ?").run(duplicate);
    expect(await d2.sync()).toMatchObject({ ok: true, pushed: 1, rejected: 2 });
  });
});

describe('a till writing during the push', () => {
  it('still reaches the pull: rows written while the push is on the wire wait for the next cycle', async () => {
    const server = await startTestServer();
    const d2 = await server.pairedClient('d2');
    d2.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'From d2')").run(uuidv7());
    await d2.sync();
    let till: Database.Database | null = null;
    // A sale lands on the till while every push is on the wire, as on a busy till with a slow link.
    const busyTill: FetchFunction = (input, init) => {
      if (input.includes('/api/sync/push') && till)
        till
          .prepare(
            "INSERT INTO sales (id, total_cents, created_at) VALUES (?, 100, '2026-11-22T09:00:00.000Z')",
          )
          .run(uuidv7());
      return fetch(input, init);
    };
    const d1 = await server.pairedClient('d1', { fetch: busyTill, pushBatchSize: 1 });
    till = otherProgram(d1);
    till
      .prepare("INSERT INTO sales (id, total_cents, created_at) VALUES (?, 100, '2026-11-22T09:00:00.000Z')")
      .run(uuidv7());
    till
      .prepare("INSERT INTO sales (id, total_cents, created_at) VALUES (?, 100, '2026-11-22T09:00:00.000Z')")
      .run(uuidv7());

    expect(await d1.sync()).toMatchObject({ ok: true, pushed: 2 });
    expect(rows(d1, 'customers')).toMatchObject([{ name: 'From d2' }]);
    expect(d1.status.pendingChanges).toBe(2);
  });
});

describe('sessions', () => {
  it('refresh an expired access token and keep the rotated tokens', async () => {
    const server = await startTestServer({ accessTokenTtlSec: 1 });
    const d1 = await server.pairedClient('d1');
    const before = state(d1, 'refresh_token');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    d1.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'x')").run(uuidv7());
    expect(await d1.sync()).toMatchObject({ ok: true, pushed: 1 });
    expect(state(d1, 'refresh_token')).not.toBe(before);
    expect(d1.status.state).toBe('synced');
  });

  it('refresh once on 401 TOKEN_EXPIRED even when the stored expiry is still ahead', async () => {
    const server = await startTestServer({ accessTokenTtlSec: 1 });
    const d1 = await server.pairedClient('d1');
    d1.database
      .prepare(
        "UPDATE _sync_state SET value = '2999-01-01T00:00:00.000Z' WHERE key = 'access_token_expires_at'",
      )
      .run();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await d1.sync()).toMatchObject({ ok: true });
  });

  it('say so when the owner removed the device, or the session cannot be refreshed', async () => {
    const server = await startTestServer();
    const d1 = await server.pairedClient('d1');
    const d2 = await server.pairedClient('d2');
    const revoked = await fetch(`${server.url}/api/devices/${state(d1, 'device_id')}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await server.ownerToken()}` },
    });
    expect(revoked.status).toBe(204);
    expect(await d1.sync()).toMatchObject({ ok: false, error: 'This device was removed by the owner' });
    expect(d1.status).toMatchObject({ state: 'error', lastError: 'This device was removed by the owner' });

    d2.database
      .prepare("UPDATE _sync_state SET value = 'not-a-token' WHERE key IN ('access_token', 'refresh_token')")
      .run();
    d2.database
      .prepare(
        "UPDATE _sync_state SET value = '2000-01-01T00:00:00.000Z' WHERE key = 'access_token_expires_at'",
      )
      .run();
    expect(await d2.sync()).toMatchObject({ ok: false, error: 'Session expired: pair this device again' });
    expect(d2.status.state).toBe('error');
  });
});

describe('pull', () => {
  it('indexes the rows of a first sync for search in bulk, and what the till writes when a search catches up', async () => {
    const server = await startTestServer();
    const d1 = await server.pairedClient('d1');
    const insert = d1.database.prepare('INSERT INTO customers (id, name, phone) VALUES (?, ?, ?)');
    d1.database.transaction(() => {
      for (let index = 0; index < 600; index++)
        insert.run(crypto.randomUUID(), `Customer ${index}`, `555-${String(index).padStart(4, '0')}`);
    })();
    expect(await d1.sync()).toMatchObject({ ok: true, pushed: 600 });
    const d2 = await server.pairedClient('d2');
    // A row the device holds before the pull (written by the till, unsent) is indexed before its push.
    const mine = crypto.randomUUID();
    d2.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Walk-in Wanda')").run(mine);
    expect(await d2.sync()).toMatchObject({ ok: true, pushed: 1 });
    expect(d2.database.prepare('SELECT count(*) AS n FROM customers').get()).toEqual({ n: 601 });
    const search = (text: string): string[] => {
      d2.catchUpSearchIndex();
      return (
        d2.database
          .prepare(
            `SELECT c.id FROM _sync_search_customers AS s JOIN customers AS c ON c.rowid = s.rowid
             WHERE _sync_search_customers MATCH ? AND instr(c.name || ' ' || coalesce(c.phone, ''), ?) > 0
             ORDER BY c.id`,
          )
          .all(trigramQuery(text), text) as { id: string }[]
      ).map((row) => row.id);
    };
    // Every row is in the index once.
    const entries = (): unknown =>
      d2.database.prepare('SELECT count(*) AS n FROM _sync_search_customers_docsize').get();
    expect(entries()).toEqual({ n: 601 });
    d2.database.exec(
      "INSERT INTO _sync_search_customers (_sync_search_customers) VALUES ('integrity-check')",
    );
    expect(search('ustomer 59').length).toBe(11);
    expect(search('555-0123')).toHaveLength(1);
    expect(search('Wanda')).toEqual([mine]);
    // The till's writes after it are indexed by the catch-up before a search.
    d2.database.prepare("UPDATE customers SET name = 'Renamed Rita' WHERE id = ?").run(mine);
    expect(search('Wanda')).toEqual([]);
    expect(search('Rita')).toEqual([mine]);
    expect(entries()).toEqual({ n: 601 });
    d2.database.exec(
      "INSERT INTO _sync_search_customers (_sync_search_customers) VALUES ('integrity-check')",
    );
  });

  it('applies a child that arrives in an earlier page than its parent', async () => {
    const server = await startTestServer();
    const d1 = await server.pairedClient('d1');
    const pages: string[][] = [];
    const recording: FetchFunction = async (input, init) => {
      const response = await fetch(input, init);
      if (input.includes('/api/sync/pull')) {
        const page = (await response.clone().json()) as { changes: { table: string }[] };
        pages.push(page.changes.map((change) => change.table));
      }
      return response;
    };
    // Synced before the rows exist, so they come after its cursor in the order of their last change (a
    // fresh snapshot would bring parents first).
    const d2 = await server.pairedClient('d2', { pullPageSize: 1, fetch: recording });
    expect(await d2.sync()).toMatchObject({ ok: true, pulled: 0 });
    const category = uuidv7();
    d1.database.prepare("INSERT INTO categories (id, name) VALUES (?, 'Fruit')").run(category);
    const product = uuidv7();
    d1.database
      .prepare(
        "INSERT INTO products (id, sku, name, price_cents, stock, category_id) VALUES (?, 'A', 'Apple', 1, 1, ?)",
      )
      .run(product, category);
    await d1.sync();
    d1.database.prepare("UPDATE categories SET name = 'Fresh fruit' WHERE id = ?").run(category);
    await d1.sync();
    pages.length = 0;
    expect(await d2.sync()).toMatchObject({ ok: true, pulled: 2 });
    expect(pages).toEqual([['products'], ['categories']]);
    expect(rows(d2, 'products')).toEqual(rows(d1, 'products'));
    expect(rows(d2, 'categories')).toEqual(rows(d1, 'categories'));
  });

  it('pulls a page again when a cycle stops between its slices, and ends as if it had not stopped', async () => {
    const server = await startTestServer();
    const d1 = await server.pairedClient('d1');
    for (let index = 0; index < 10; index++)
      d1.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'c')").run(uuidv7());
    await d1.sync();
    const controller = new AbortController();
    let d2: SyncClient | null = null;
    // Once the page has arrived, stops the cycle as soon as its first slice is in the table.
    const watch = (): void => {
      const count = d2?.database.prepare('SELECT count(*) AS n FROM customers').get() as { n: number };
      if (count.n > 0) controller.abort();
      else setImmediate(watch);
    };
    const stopping: FetchFunction = async (input, init) => {
      const response = await fetch(input, init);
      if (input.includes('/api/sync/pull') && !controller.signal.aborted) setImmediate(watch);
      return response;
    };
    d2 = await server.pairedClient('d2', { fetch: stopping, applyBatchSize: 3 });
    const stopped = await d2.runCycle({ trigger: 'manual', signal: controller.signal });
    expect(stopped).toMatchObject({ ok: false, outcome: 'stopped', errorCode: 'STOPPED', pulled: 3 });
    expect(rows(d2, 'customers')).toHaveLength(3);
    expect(state(d2, 'cursor')).toBeNull();
    expect(d2.status.state).toBe('stopped');

    expect(await d2.sync()).toMatchObject({ ok: true, pulled: 10 });
    expect(rows(d2, 'customers')).toEqual(rows(d1, 'customers'));
    // Stopped before its first cursor, the snapshot began again from the start as a resync (a fresh
    // snapshot brings no deletes of before it began, so it sweeps what it did not bring): every table
    // resumed, and each matched the server's checksum.
    const repairs = d2.syncLog(1)[0]?.repairs ?? [];
    expect(repairs.length).toBeGreaterThan(0);
    for (const repair of repairs) expect(repair).toMatchObject({ reason: 'resumed', matched: true });
  });

  it('repairs a table whose checksum differs from the server, and says so in the log', async () => {
    const server = await startTestServer();
    const d1 = await server.pairedClient('d1');
    const [kept, lost] = [uuidv7(), uuidv7()];
    d1.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Kept'), (?, 'Lost')").run(kept, lost);
    await d1.sync();
    const d2 = await server.pairedClient('d2');
    await d2.sync();
    // Damage d2 behind the sync's back: a row lost (with its bookkeeping), a stray row that the server
    // never had, and a stale value the server's stamp still vouches for.
    const stray = uuidv7();
    d2.database.transaction(() => {
      d2.database.prepare('UPDATE _sync_apply_flag SET applying = 1').run();
      d2.database.prepare('DELETE FROM customers WHERE id = ?').run(lost);
      d2.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Stray')").run(stray);
      d2.database
        .prepare(
          "INSERT INTO _sync_rows (tbl, id, stamp) VALUES ('customers', ?, '2026-01-01T00:00:00.000Z-0000-x')",
        )
        .run(stray);
      d2.database.prepare("DELETE FROM _sync_rows WHERE tbl = 'customers' AND id = ?").run(lost);
      d2.database.prepare("UPDATE _sync_checksums SET count = count + 7 WHERE tbl = 'customers'").run();
      d2.database.prepare('UPDATE _sync_apply_flag SET applying = 0').run();
    })();
    const summary = await d2.sync();
    expect(summary.ok).toBe(true);
    expect(rows(d2, 'customers')).toEqual(rows(d1, 'customers'));
    expect(d2.syncLog(1)[0]?.repairs).toEqual([{ table: 'customers', reason: 'checksum', matched: true }]);
    expect(d2.status.pendingChanges).toBe(0);
    // A second cycle finds nothing to repair.
    await d2.sync();
    expect(d2.syncLog(1)[0]?.repairs).toEqual([]);
  });

  it('takes a fresh snapshot on RESYNC_REQUIRED, keeping unsent changes', async () => {
    const server = await startTestServer({ tombstoneRetentionDays: 0 });
    const d1 = await server.pairedClient('d1');
    const d2 = await server.pairedClient('d2');
    const [gone, stays] = [uuidv7(), uuidv7()];
    d1.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Gone'), (?, 'Stays')").run(gone, stays);
    await d1.sync();
    await d2.sync();
    d1.database.prepare('DELETE FROM customers WHERE id = ?').run(gone);
    await d1.sync();
    await server.running.runMaintenance();
    const unsent = uuidv7();
    d2.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Unsent')").run(unsent);
    const summary = await d2.pull();
    expect(summary.ok).toBe(true);
    expect(d2.syncLog(1)[0]?.repairs.map((repair) => repair.reason)).toContain('resync');
    expect(
      rows(d2, 'customers')
        .map((row) => row.id)
        .sort(),
    ).toEqual([stays, unsent].sort());
    expect(d2.status.pendingChanges).toBe(1);
    await d2.sync();
    await d1.sync();
    expect(rows(d1, 'customers')).toEqual(rows(d2, 'customers'));
  });
});

describe('a lost answer', () => {
  it('resends the push with the same pushId and body, so counters add up once', async () => {
    const server = await startTestServer();
    const bodies: string[] = [];
    let dropNextPushAnswer = false;
    const recording: FetchFunction = async (input, init) => {
      const response = await fetch(input, init);
      if (input.endsWith('/api/sync/push')) {
        bodies.push(init.body as string);
        if (dropNextPushAnswer) {
          dropNextPushAnswer = false;
          await response.arrayBuffer();
          throw new TypeError('fetch failed (the test dropped the answer)');
        }
      }
      return response;
    };
    const d1 = await server.pairedClient('d1', { fetch: recording });
    const product = addProduct(d1, { stock: 10 });
    await d1.sync();
    d1.database.prepare('UPDATE products SET stock = stock - 4 WHERE id = ?').run(product);
    dropNextPushAnswer = true;
    expect(await d1.sync()).toMatchObject({ ok: false });
    expect(d1.status).toMatchObject({ state: 'offline', pendingChanges: 1 });
    // Sold again before the retry: the resent push still carries only the first delta.
    d1.database.prepare('UPDATE products SET stock = stock - 1 WHERE id = ?').run(product);
    expect(await d1.sync()).toMatchObject({ ok: true });
    expect(bodies[2]).toBe(bodies[1]);
    expect(JSON.parse(bodies[1]!).changes[0].values.stock).toEqual({ delta: -4 });
    expect(JSON.parse(bodies[3]!).changes[0].values.stock).toEqual({ delta: -1 });
    const d2 = await server.pairedClient('d2');
    await d2.sync();
    expect(rows(d2, 'products')[0]).toMatchObject({ stock: 5 });
    expect(rows(d1, 'products')[0]).toMatchObject({ stock: 5 });
  });
});

describe('status', () => {
  it('tells listeners when a cycle starts and ends, until they unsubscribe', async () => {
    const server: TestServer = await startTestServer();
    const d1 = await server.pairedClient('d1');
    const seen: SyncStatus['state'][] = [];
    const unsubscribe = d1.on('status', (status) => seen.push(status.state));
    await d1.sync();
    expect(seen).toEqual(['syncing', 'synced']);
    unsubscribe();
    await d1.sync();
    expect(seen).toHaveLength(2);
  });

  it('is unpaired before pairing', async () => {
    const server = await startTestServer();
    const { createSyncClient } = await import('../src/index.js');
    const { tempFolder } = await import('./helpers.js');
    const client = createSyncClient({ dbPath: `${tempFolder()}/fresh.db`, serverUrl: server.url });
    onCleanup(() => client.close());
    expect(client.status).toEqual({
      state: 'unpaired',
      lastSyncedAt: null,
      pendingChanges: 0,
      lastError: null,
    });
    expect(await client.sync()).toMatchObject({ ok: false });
  });
});

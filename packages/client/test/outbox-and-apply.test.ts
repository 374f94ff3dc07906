import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { addToChecksum, checksumTerm, formatChecksum, type StoredChange } from '@tillsync/protocol';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { ServerRows } from '../src/server-rows.js';
import { openDeviceParts } from './helpers.js';

const stampAt = (ms: number, node = 'server'): string => `${new Date(ms).toISOString()}-0000-${node}`;
const FAR_PAST = Date.parse('2020-01-01T00:00:00Z');
const FAR_FUTURE = Date.parse('2099-01-01T00:00:00Z');

function product(
  id: string,
  updatedAt: string,
  values: Partial<Record<string, string | number | null>> = {},
): StoredChange {
  return {
    table: 'products',
    id,
    op: 'upsert',
    updatedAt,
    values: {
      sku: `SKU-${id}`,
      name: 'Apple',
      price_cents: 120,
      stock: 10,
      category_id: null,
      active: 1,
      ...values,
    },
  };
}

describe('the outbox', () => {
  it('sends upserts parents first and deletes children first, in bounded batches, each row once per cycle', () => {
    const { store, schema, outbox, applier } = openDeviceParts();
    const db = store.db;
    const [category, item, oldSale, oldItem] = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    // Rows the server has, to delete.
    applier.applyPage([
      {
        table: 'sales',
        id: oldSale,
        op: 'upsert',
        updatedAt: stampAt(FAR_PAST),
        values: { customer_id: null, total_cents: 1, created_at: '2020-01-01T00:00:00Z' },
      },
      {
        table: 'sale_items',
        id: oldItem,
        op: 'upsert',
        updatedAt: stampAt(FAR_PAST),
        values: { sale_id: oldSale, product_id: 'x', quantity: 1, price_cents: 1 },
      },
    ]);
    db.prepare('DELETE FROM sales WHERE id = ?').run(oldSale);
    db.prepare('DELETE FROM sale_items WHERE id = ?').run(oldItem);
    // Inserted children before their parents.
    const sale = uuidv7();
    db.prepare(
      "INSERT INTO sale_items (id, sale_id, product_id, quantity, price_cents) VALUES (?, ?, 'p', 1, 1)",
    ).run(item, sale);
    db.prepare("INSERT INTO sales (id, total_cents, created_at) VALUES (?, 1, '2026-01-01T00:00:00Z')").run(
      sale,
    );
    db.prepare("INSERT INTO categories (id, name) VALUES (?, 'c')").run(category);

    const sent = new Set<string>();
    const batches: string[][] = [];
    for (;;) {
      const batch = store.write(() => outbox.nextBatch(schema, sent, 2));
      if (batch.changes.length === 0) break;
      batches.push(batch.changes.map((change) => `${change.op} ${change.table}`));
    }
    expect(batches).toEqual([
      ['upsert categories', 'upsert sales'],
      ['upsert sale_items', 'delete sale_items'],
      ['delete sales'],
    ]);
    // Marked as on the wire, so a delete meanwhile is recorded rather than forgotten.
    expect(db.prepare('SELECT count(*) AS n FROM _sync_pending WHERE in_push = 1').get()).toEqual({ n: 5 });
  });

  it('sends a counter as its starting value for a new row, and as a delta from the server value otherwise', () => {
    const { store, schema, outbox, applier } = openDeviceParts();
    const [known, created] = [uuidv7(), uuidv7()];
    applier.applyPage([product(known, stampAt(FAR_PAST), { stock: 10 })]);
    store.db.prepare('UPDATE products SET stock = stock - 4 WHERE id = ?').run(known);
    store.db
      .prepare("INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, 'N', 'New', 1, 25)")
      .run(created);
    const { changes, covers } = store.write(() => outbox.nextBatch(schema, new Set(), 10));
    const byId = Object.fromEntries(changes.map((change) => [change.id, change.values?.stock]));
    expect(byId).toEqual({ [known]: { delta: -4 }, [created]: 25 });
    expect(Object.fromEntries(covers.map((cover) => [cover.id, cover.counters]))).toEqual({
      [known]: { stock: 6 },
      [created]: { stock: 25 },
    });
  });
});

describe('applying server changes', () => {
  it('keeps a pending row against an older server write, moving its counter to the server value plus local sales', () => {
    const { store, outbox, applier, conflicts } = openDeviceParts();
    const id = uuidv7();
    applier.applyPage([product(id, stampAt(FAR_PAST), { stock: 10 })]);
    store.db.prepare("UPDATE products SET name = 'Local', stock = stock - 3 WHERE id = ?").run(id);
    // Another till sold 2 meanwhile, with an older stamp.
    applier.applyPage([product(id, stampAt(FAR_PAST + 1), { name: 'Server', stock: 8 })]);
    expect(store.db.prepare('SELECT name, stock FROM products WHERE id = ?').get(id)).toEqual({
      name: 'Local',
      stock: 5,
    });
    expect(outbox.get('products', id)?.base).toEqual({ stock: 8 });
    expect(conflicts.conflicts()).toEqual([]);
  });

  it('merges a later server write per column: the pending columns stay, the others and the counter follow the server', () => {
    const { store, outbox, applier, conflicts, lostEdits } = openDeviceParts();
    const id = uuidv7();
    applier.applyPage([product(id, stampAt(FAR_PAST), { stock: 10 })]);
    store.db.prepare("UPDATE products SET name = 'Local', stock = stock - 3 WHERE id = ?").run(id);
    applier.applyPage([product(id, stampAt(FAR_FUTURE), { name: 'Server', price_cents: 99, stock: 9 })]);
    expect(store.db.prepare('SELECT name, price_cents, stock FROM products WHERE id = ?').get(id)).toEqual({
      name: 'Local',
      price_cents: 99,
      stock: 6,
    });
    // Still pending: the name and the delta go in the next push, whose answer says whether the name lost.
    expect(outbox.get('products', id)?.base).toEqual({ stock: 9 });
    expect(conflicts.conflicts()).toEqual([]);
    expect(lostEdits.list()).toEqual([]);
  });

  it('records a pending write that a later delete overrides as a lost edit', () => {
    const { store, outbox, applier, lostEdits } = openDeviceParts();
    const id = uuidv7();
    applier.applyPage([product(id, stampAt(FAR_PAST), { name: 'Plum' })]);
    store.db.prepare('UPDATE products SET price_cents = 5 WHERE id = ?').run(id);
    applier.applyPage([{ table: 'products', id, op: 'delete', updatedAt: stampAt(FAR_FUTURE) }]);
    expect(store.db.prepare('SELECT count(*) AS n FROM products').get()).toEqual({ n: 0 });
    expect(outbox.get('products', id)).toBeNull();
    expect(lostEdits.list()).toMatchObject([
      { table: 'products', rowId: id, rowName: 'Plum', kind: 'their-delete', column: null },
    ]);
  });

  it('treats the server holding the exact pending write as the row being clean', () => {
    const { store, outbox, applier } = openDeviceParts();
    const id = uuidv7();
    applier.applyPage([product(id, stampAt(FAR_PAST), { stock: 10 })]);
    store.db.prepare('UPDATE products SET stock = 7 WHERE id = ?').run(id);
    const stamp = outbox.get('products', id)!.stamp;
    applier.applyPage([product(id, stamp, { stock: 5 })]);
    expect(outbox.get('products', id)).toBeNull();
    expect(store.db.prepare('SELECT stock FROM products WHERE id = ?').get(id)).toEqual({ stock: 5 });
  });

  it('stores a page and its cursor together, or neither', () => {
    const { store, applier } = openDeviceParts();
    const good = product(uuidv7(), stampAt(FAR_PAST));
    const bad = product(uuidv7(), stampAt(FAR_PAST), { name: null });
    expect(() => applier.applyPage([good, bad], { cursor: 's1.2' })).toThrow(/NOT NULL/);
    expect(store.db.prepare('SELECT count(*) AS n FROM products').get()).toEqual({ n: 0 });
    expect(store.db.prepare("SELECT count(*) AS n FROM _sync_state WHERE key = 'cursor'").get()).toEqual({
      n: 0,
    });
    expect(store.db.prepare('SELECT count(*) AS n FROM _sync_rows').get()).toEqual({ n: 0 });
    expect(new ServerRows(store).checksum('products')).toEqual({ count: 0, sum: '0000000000000000' });
  });
});

describe('applying a page in one go', () => {
  it('leaves the rows, their stamps and the checksums as applying its changes one at a time', () => {
    const ids = Array.from({ length: 90 }, () => uuidv7());
    const change = fc.record({
      id: fc.constantFrom(...ids),
      op: fc.constantFrom<'upsert' | 'delete'>('upsert', 'upsert', 'upsert', 'delete'),
      ms: fc.integer({ min: FAR_PAST, max: FAR_FUTURE }),
      name: fc.constantFrom('Apple', 'Pear', 'Plum'),
    });
    const state = (parts: ReturnType<typeof openDeviceParts>): unknown => ({
      products: parts.store.db.prepare('SELECT * FROM products ORDER BY id').all(),
      rows: parts.store.db.prepare('SELECT * FROM _sync_rows ORDER BY tbl, id').all(),
      pending: parts.store.db.prepare('SELECT tbl, id, op, base FROM _sync_pending ORDER BY tbl, id').all(),
      checksum: parts.serverRows.checksum('products'),
    });
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 300 }), fc.nat(89), (items, localIndex) => {
        const changes = items.map((item): StoredChange =>
          item.op === 'upsert'
            ? product(item.id, stampAt(item.ms), { name: item.name })
            : { table: 'products', id: item.id, op: 'delete', updatedAt: stampAt(item.ms) },
        );
        const [together, oneByOne] = [openDeviceParts(), openDeviceParts()];
        for (const parts of [together, oneByOne]) {
          // A row written on the device itself and not yet pushed: merged, not overwritten.
          parts.store.db
            .prepare(
              "INSERT INTO products (id, sku, name, price_cents, stock, active) VALUES (?, 'L', 'Local', 1, 1, 1)",
            )
            .run(ids[localIndex]);
        }
        together.applier.applyPage(changes);
        for (const item of changes) oneByOne.applier.applyPage([item]);
        expect(state(together)).toEqual(state(oneByOne));
        together.store.close();
        oneByOne.store.close();
      }),
      { numRuns: 40 },
    );
  });
});

describe('checksums', () => {
  it("compute the protocol's term: the first 8 bytes, big-endian, of SHA-256 of `id|updatedAt`", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (id, stamp) => {
        const digest = createHash('sha256').update(`${id}|${stamp}`).digest();
        expect(checksumTerm(id, stamp)).toBe(digest.readBigUInt64BE(0));
      }),
    );
  });

  it('kept one change at a time equal the sum over the rows, whatever the order of changes', () => {
    const { store, applier, serverRows } = openDeviceParts();
    const ids = Array.from({ length: 12 }, () => uuidv7());
    const change = fc.record({
      id: fc.constantFrom(...ids),
      op: fc.constantFrom<'upsert' | 'delete'>('upsert', 'upsert', 'delete'),
      ms: fc.integer({ min: FAR_PAST, max: FAR_FUTURE }),
    });
    fc.assert(
      fc.property(fc.array(fc.array(change, { maxLength: 8 }), { maxLength: 6 }), (pages) => {
        for (const page of pages) {
          // One change per row in a page, as the server sends them.
          const unique = [...new Map(page.map((item) => [item.id, item])).values()];
          applier.applyPage(
            unique.map((item) =>
              item.op === 'upsert'
                ? product(item.id, stampAt(item.ms))
                : { table: 'products', id: item.id, op: 'delete', updatedAt: stampAt(item.ms) },
            ),
          );
        }
        const rows = store.db.prepare("SELECT id, stamp FROM _sync_rows WHERE tbl = 'products'").all() as {
          id: string;
          stamp: string;
        }[];
        const sum = rows.reduce((total, row) => addToChecksum(total, checksumTerm(row.id, row.stamp)), 0n);
        expect(serverRows.checksum('products')).toEqual({ count: rows.length, sum: formatChecksum(sum) });
        expect(store.db.prepare('SELECT count(*) AS n FROM products').get()).toEqual({ n: rows.length });
      }),
      { numRuns: 60 },
    );
  });
});

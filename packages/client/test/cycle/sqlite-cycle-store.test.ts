import { SHOP_SCHEMA, type StoredChange } from '@tillsync/protocol';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { ALL_TABLES, type NextPushRequest } from '../../src/cycle/cycle-store.js';
import { SqliteCycleStore } from '../../src/cycle/sqlite-cycle-store.js';
import { openDeviceStore } from '../helpers.js';

/** A device file with the shop schema under the store port (no server: these calls never leave the file). */
function deviceFile() {
  const { store, cycleStore } = deviceFileWithPath();
  return { store, cycleStore };
}

function deviceFileWithPath() {
  const { store, clock, dbPath } = openDeviceStore();
  const cycleStore = new SqliteCycleStore({ store, clock, now: () => Date.parse('2026-03-01T10:00:00Z') });
  cycleStore.useSchema(SHOP_SCHEMA);
  return { store, cycleStore, dbPath };
}

function insertCustomer(store: ReturnType<typeof deviceFile>['store'], name: string): string {
  const id = uuidv7();
  store.db.prepare('INSERT INTO customers (id, name) VALUES (?, ?)').run(id, name);
  return id;
}

function nextPush(sent: Set<string>, maxChanges: number, pushId = uuidv7()): NextPushRequest {
  return {
    sent,
    maxChanges,
    createdAt: new Date().toISOString(),
    columnLevel: true,
    encode: (changes) => ({ pushId, body: JSON.stringify({ pushId, changes }) }),
  };
}

function serverCustomer(id: string, name: string): StoredChange {
  return {
    table: 'customers',
    id,
    op: 'upsert',
    updatedAt: '2026-01-01T00:00:00.000Z-0000-server',
    values: { name, phone: null, email: null },
  };
}

describe('SqliteCycleStore', () => {
  it('stores a push with its rows marked on the wire, lists it, and drops it leaving the rows pending', () => {
    const { store, cycleStore } = deviceFile();
    insertCustomer(store, 'Ada');
    insertCustomer(store, 'Bo');
    expect(cycleStore.hasPending()).toBe(true);
    expect(cycleStore.hasStoredPush()).toBe(false);

    const sent = new Set<string>();
    const push = cycleStore.storeNextPush(nextPush(sent, 1));
    expect(push?.covers).toHaveLength(1);
    expect(cycleStore.storedPushes()).toEqual([push]);
    expect(JSON.parse(push?.body ?? '{}')).toMatchObject({ pushId: push?.pushId });
    expect(store.db.prepare('SELECT count(*) AS n FROM _sync_pending WHERE in_push = 1').get()).toEqual({
      n: 1,
    });
    // The next push skips the row on the wire.
    const second = cycleStore.storeNextPush(nextPush(sent, 5));
    expect(second?.covers).toHaveLength(1);
    expect(second?.covers[0]?.id).not.toBe(push?.covers[0]?.id);
    expect(cycleStore.storeNextPush(nextPush(sent, 5))).toBeNull();

    if (push) cycleStore.dropPush(push);
    expect(cycleStore.storedPushes()).toEqual([second]);
    expect(cycleStore.pendingCount()).toBe(2);
    expect(store.db.prepare('SELECT count(*) AS n FROM _sync_pending WHERE in_push = 1').get()).toEqual({
      n: 1,
    });
  });

  it('confirms a push: applies its answer and deletes it from the journal in one go', () => {
    const { store, cycleStore } = deviceFile();
    insertCustomer(store, 'Ada');
    const push = cycleStore.storeNextPush(nextPush(new Set(), 10));
    if (!push) throw new Error('expected a push');
    const outcome = cycleStore.confirmPush(push, {
      results: push.covers.map((cover) => ({ table: cover.table, id: cover.id, status: 'applied' as const })),
      serverTime: new Date().toISOString(),
    });
    expect(outcome).toEqual({ pushed: 1, conflicts: 0, conflictRows: [], rejected: [], restore: [] });
    expect(cycleStore.hasStoredPush()).toBe(false);
    expect(cycleStore.hasPending()).toBe(false);
    expect(cycleStore.localChecksum('customers').count).toBe(1);
  });

  it('keeps the due list: marked, every table, and cleared by the snapshot that ends it', () => {
    const { cycleStore } = deviceFile();
    expect(cycleStore.dueRepairs()).toEqual(new Set());
    cycleStore.markDue(['customers', 'products']);
    expect(cycleStore.dueRepairs()).toEqual(new Set(['customers', 'products']));

    cycleStore.beginSnapshot();
    cycleStore.endSnapshot(new Set(['customers']), undefined);
    expect(cycleStore.dueRepairs()).toEqual(new Set(['products']));

    cycleStore.markDue([ALL_TABLES]);
    expect(cycleStore.dueRepairs()).toBe(ALL_TABLES);
    cycleStore.beginSnapshot();
    cycleStore.endSnapshot(new Set(cycleStore.tableNames()), 'cursor-at-end');
    expect(cycleStore.dueRepairs()).toEqual(new Set());
    expect(cycleStore.cursor()).toBe('cursor-at-end');
  });

  it('ends a snapshot by sweeping the rows it did not hold, except pending ones, with their checksums', () => {
    const { store, cycleStore } = deviceFile();
    const [kept, gone] = [uuidv7(), uuidv7()];
    cycleStore.applyPage([serverCustomer(kept, 'Kept'), serverCustomer(gone, 'Gone')], { cursor: 'c1' });
    const pending = insertCustomer(store, 'Mine');
    expect(cycleStore.tablesWithPending()).toEqual(new Set(['customers']));

    cycleStore.beginSnapshot();
    cycleStore.applySnapshotPage([serverCustomer(kept, 'Kept')], new Set(['customers']));
    const checksums = cycleStore.endSnapshot(new Set(['customers', 'no_such_table']), undefined);

    const ids = (store.db.prepare('SELECT id FROM customers ORDER BY id').all() as { id: string }[]).map(
      (row) => row.id,
    );
    expect(ids).toEqual([kept, pending].sort());
    expect([...checksums.keys()]).toEqual(['customers']);
    expect(checksums.get('customers')?.count).toBe(1);
    expect(cycleStore.localChecksum('customers')).toEqual(checksums.get('customers'));
    expect(cycleStore.cursor()).toBe('c1');
  });

  it('tells whether anything but its applies of pull pages wrote the file since it was last asked', () => {
    const { store, cycleStore, dbPath } = deviceFileWithPath();
    cycleStore.othersWrote();
    cycleStore.applyPage([serverCustomer(uuidv7(), 'Pulled')], { cursor: 'c1' });
    expect(cycleStore.othersWrote()).toBe(false);
    insertCustomer(store, 'Rung up here');
    expect(cycleStore.othersWrote()).toBe(true);
    expect(cycleStore.othersWrote()).toBe(false);
    // A write before an apply still counts once the apply is done.
    insertCustomer(store, 'Rung up before a slice');
    cycleStore.applyPage([serverCustomer(uuidv7(), 'Pulled')], { cursor: 'c2' });
    expect(cycleStore.othersWrote()).toBe(true);
    // Another program's write, through its own connection.
    const other = new Database(dbPath);
    other.prepare("INSERT INTO _sync_state (key, value) VALUES ('other', 'x')").run();
    other.close();
    expect(cycleStore.othersWrote()).toBe(true);
  });

  it('ends a snapshot into a table it began with nothing of as one into a table that held rows', () => {
    // The same snapshot, and the same till writes while it is paged, on a device that held none of the
    // products and on one that held one of them: the first notes no seen row per upsert and keeps its
    // checksum row by row instead of computing it again, and must end alike, checksum included.
    const [held, edited, rewritten, deleted] = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    const product = (id: string, stamp: string, stock: number): StoredChange => ({
      table: 'products',
      id,
      op: 'upsert',
      updatedAt: `2026-01-0${stamp}T00:00:00.000Z-0000-server`,
      values: { sku: `S-${id}`, name: 'Apple', price_cents: 120, stock, category_id: null, active: 1 },
    });
    const removed = (id: string): StoredChange => ({
      table: 'products',
      id,
      op: 'delete',
      updatedAt: '2026-01-03T00:00:00.000Z-0000-server',
    });
    const run = (holdsOne: boolean) => {
      const { store, cycleStore } = deviceFile();
      if (holdsOne) cycleStore.applyPage([product(held, '1', 4)], { cursor: 'c1' });
      cycleStore.beginSnapshot();
      const tables = new Set(cycleStore.tableNames());
      cycleStore.applySnapshotPage(
        [
          product(held, '1', 4),
          product(edited, '1', 10),
          product(rewritten, '1', 5),
          product(deleted, '1', 7),
        ],
        tables,
      );
      store.db.prepare('UPDATE products SET stock = stock - 1 WHERE id = ?').run(edited);
      store.db
        .prepare("UPDATE products SET sku = 'MINE', name = 'Pear', price_cents = 99, stock = 3 WHERE id = ?")
        .run(rewritten);
      store.db.prepare('DELETE FROM products WHERE id = ?').run(deleted);
      const mine = insertCustomer(store, 'Mine');
      cycleStore.applySnapshotPage(
        [removed(rewritten), product(edited, '2', 20), product(deleted, '2', 8), removed(held)],
        tables,
      );
      const checksums = cycleStore.endSnapshot(tables, 'c2');
      const all = (sql: string) => store.db.prepare(sql).all();
      return {
        products: all('SELECT * FROM products ORDER BY id'),
        customers: (all('SELECT id FROM customers') as { id: string }[]).map((row) => row.id === mine),
        serverRows: all('SELECT tbl, id, stamp FROM _sync_rows ORDER BY tbl, id'),
        pending: all('SELECT tbl, op, base, gone FROM _sync_pending ORDER BY tbl, id'),
        checksum: checksums.get('products'),
        stored: cycleStore.localChecksum('products'),
      };
    };
    const fresh = run(false);
    expect(fresh).toEqual(run(true));
    expect(fresh.serverRows).toHaveLength(2);
    expect(fresh.pending).toHaveLength(4);
    expect(fresh.checksum).toEqual(fresh.stored);
    expect(fresh.checksum?.count).toBe(2);
  });

  it('keeps a pending edit of a row left behind by a move to another store an edit: its delta, not a new row', () => {
    // Alike but for the store the snapshot names: the same store (the row is gone from the server), or another
    // (the device was moved, PROTOCOL.md §7; the row lives on in the old store).
    const outcome = (snapshotStore: string) => {
      const { store, cycleStore } = deviceFile();
      const product = uuidv7();
      const serverProduct: StoredChange = {
        table: 'products',
        id: product,
        op: 'upsert',
        updatedAt: '2026-01-01T00:00:00.000Z-0000-server',
        values: { sku: 'A-1', name: 'Apple', price_cents: 120, stock: 10, category_id: null, active: 1 },
      };
      cycleStore.applyPage([serverProduct], { cursor: 'c1', storeId: 'store-a' });
      store.db.prepare('UPDATE products SET stock = stock - 1 WHERE id = ?').run(product);

      cycleStore.beginSnapshot();
      cycleStore.applySnapshotPage([], new Set(cycleStore.tableNames()));
      cycleStore.endSnapshot(new Set(cycleStore.tableNames()), 'c2', snapshotStore);

      expect(store.db.prepare('SELECT stock FROM products').get()).toEqual({ stock: 9 });
      const push = cycleStore.storeNextPush(nextPush(new Set(), 10));
      const [change] = (JSON.parse(push?.body ?? '{}') as { changes: { values: Record<string, unknown> }[] })
        .changes;
      return {
        stock: change?.values.stock,
        storeId: store.db.prepare("SELECT value FROM _sync_state WHERE key = 'store_id'").get(),
      };
    };
    expect(outcome('store-a')).toEqual({ stock: 9, storeId: { value: 'store-a' } });
    expect(outcome('store-b')).toEqual({ stock: { delta: -1 }, storeId: { value: 'store-b' } });
  });

  it('sets every pending row aside and marks its tables due in one transaction', () => {
    const { store, cycleStore } = deviceFile();
    insertCustomer(store, 'Ada');
    expect(cycleStore.setAsidePending()).toEqual(new Set(['customers']));
    expect(cycleStore.hasPending()).toBe(false);
    expect(cycleStore.dueRepairs()).toEqual(new Set(['customers']));
    expect(store.db.prepare('SELECT count(*) AS n FROM _sync_set_aside').get()).toEqual({ n: 1 });
  });

  it('knows the tables of the schema it was given', () => {
    const { cycleStore } = deviceFile();
    expect(cycleStore.knowsTable('customers')).toBe(true);
    expect(cycleStore.knowsTable('invoices')).toBe(false);
    expect(cycleStore.tableNames()).toContain('sale_items');
  });
});

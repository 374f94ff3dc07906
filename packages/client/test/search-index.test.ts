import Database from 'better-sqlite3';
import type { PushResponse, StoredChange } from '@tillsync/protocol';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { applyPushAnswer } from '../src/apply-push.js';
import { LocalStore } from '../src/local-store.js';
import { trigramQuery } from '../src/search-index.js';
import { folded, onCleanup, openDeviceParts } from './helpers.js';

/** A paired device file, its sync's parts, and another program's connection to it (the till's POS). */
function device() {
  const { applier, dbPath, ...parts } = openDeviceParts();
  const { store } = parts;
  const till = new Database(dbPath);
  till.pragma('busy_timeout = 10000');
  onCleanup(() => till.close());
  /** The customers a search finds as the till's list asks it: the index's candidates, each checked on the row. */
  const search = (text: string): string[] => {
    parts.tables.search.catchUp();
    return (
      store.db
        .prepare(
          `SELECT t.id FROM _sync_search_customers AS s JOIN customers AS t ON t.rowid = s.rowid
           WHERE _sync_search_customers MATCH ? AND (t.name LIKE ? OR t.phone LIKE ? OR t.email LIKE ?)
           ORDER BY t.id`,
        )
        .all(trigramQuery(text), ...Array<string>(3).fill(`%${text}%`)) as { id: string }[]
    ).map((row) => row.id);
  };
  /** How many pages the index holds: a write that went into it adds some. */
  const indexPages = (): number =>
    (store.db.prepare('SELECT count(*) AS n FROM _sync_search_customers_data').get() as { n: number }).n;
  return { store, parts, applier, till, search, indexPages };
}

const serverStamp = (ms: number): string => `${new Date(ms).toISOString()}-0000-server`;

function customer(id: string, updatedAt: string, name: string): StoredChange {
  return { table: 'customers', id, op: 'upsert', updatedAt, values: { name, phone: null, email: null } };
}

describe('the search index, off the write path', () => {
  it('finds what another program wrote with plain SQL, as it is now, with no sync in between', () => {
    const { till, search, indexPages } = device();
    const ada = uuidv7();
    const before = indexPages();
    till
      .prepare("INSERT INTO customers (id, name, phone) VALUES (?, 'Ada Lovelace', '+44 20 7946 0000')")
      .run(ada);
    // The write itself left the index alone: no trigger writes it.
    expect(indexPages()).toBe(before);
    expect(search('Lovelace')).toEqual([ada]);
    expect(search('7946 0000')).toEqual([ada]);

    till.prepare("UPDATE customers SET name = 'Grace Hopper' WHERE id = ?").run(ada);
    expect(search('Hopper')).toEqual([ada]);
    expect(search('Lovelace')).toEqual([]);

    till.prepare('DELETE FROM customers WHERE id = ?').run(ada);
    expect(search('Hopper')).toEqual([]);
  });

  it('finds only the new row at a rowid a deleted row had', () => {
    const { till, search } = device();
    const [zed, yan] = [uuidv7(), uuidv7()];
    till.prepare("INSERT INTO customers (id, name) VALUES (?, 'Zed Zebra')").run(zed);
    expect(search('Zebra')).toEqual([zed]);
    const rowid = (till.prepare('SELECT rowid AS r FROM customers WHERE id = ?').get(zed) as { r: number }).r;
    till.prepare('DELETE FROM customers WHERE id = ?').run(zed);
    till.prepare("INSERT INTO customers (id, name) VALUES (?, 'Yan Yak')").run(yan);
    expect(till.prepare('SELECT rowid AS r FROM customers WHERE id = ?').get(yan)).toEqual({ r: rowid });
    expect(search('Zebra')).toEqual([]);
    expect(search('Yak')).toEqual([yan]);
  });

  it('indexes nothing for a write that sets no searched column', () => {
    const { till, search, indexPages } = device();
    const ada = uuidv7();
    till.prepare("INSERT INTO customers (id, name) VALUES (?, 'Ada Lovelace')").run(ada);
    search('Ada');
    const before = indexPages();
    // A program writing every column back as it was: no change, no outbox entry.
    till.prepare('UPDATE customers SET name = name, phone = phone WHERE id = ?').run(ada);
    // Sales refer to the customer: a reference is not searched.
    till
      .prepare("INSERT INTO sales (id, customer_id, total_cents, created_at) VALUES (?, ?, 1, '2026-01-01')")
      .run(uuidv7(), ada);
    search('Ada');
    expect(indexPages()).toBe(before);
  });

  it('indexes a write stamped below the last one it indexed (the wall clock stepped back)', () => {
    const { store, till, search } = device();
    const [ada, bob] = [uuidv7(), uuidv7()];
    till.prepare("INSERT INTO customers (id, name) VALUES (?, 'Ada Lovelace')").run(ada);
    // As if the device's clock had been a day ahead at that write.
    folded(store.db).prepare('UPDATE _sync_pending SET hlc = hlc + 86400000 * 65536 WHERE id = ?').run(ada);
    expect(search('Lovelace')).toEqual([ada]);
    till.prepare("INSERT INTO customers (id, name) VALUES (?, 'Bob Babbage')").run(bob);
    expect(search('Babbage')).toEqual([bob]);
  });

  it('finds the rows a pull brings, as the pull leaves them', () => {
    const { applier, till, search } = device();
    const ids = Array.from({ length: 40 }, () => uuidv7());
    // A first sync's page: rows the device never held, indexed in bulk.
    applier.applyPage(ids.map((id, index) => customer(id, serverStamp(1000), `Pulled Paula ${index}`)));
    expect(search('Paula 17')).toEqual([ids[17]]);
    expect(search('Pulled Paula')).toHaveLength(40);
    // A row the till writes meanwhile, and a later page: an edit, a delete, and a merge with the till's write.
    till.prepare("UPDATE customers SET phone = '555-0199' WHERE id = ?").run(ids[2]);
    applier.applyPage([
      customer(ids[1]!, serverStamp(2000), 'Renamed Rhoda'),
      { table: 'customers', id: ids[3]!, op: 'delete', updatedAt: serverStamp(2000) },
      customer(ids[2]!, serverStamp(2000), 'Merged Mona'),
    ]);
    expect(search('Paula 1')).not.toContain(ids[1]);
    expect(search('Rhoda')).toEqual([ids[1]]);
    expect(search('Paula 3')).toEqual(ids.slice(30).sort());
    expect(search('Mona')).toEqual([ids[2]]);
    expect(search('555-0199')).toEqual([ids[2]]);
  });

  it('finds a row as a push answer leaves it, and a row pushed before any catch-up ran', () => {
    const { store, parts, applier, till, search } = device();
    const [mine, theirs] = [uuidv7(), uuidv7()];
    applier.applyPage([customer(theirs, serverStamp(1000), 'Old Olga')]);
    till.prepare("INSERT INTO customers (id, name) VALUES (?, 'Walk-in Wanda')").run(mine);
    till.prepare("UPDATE customers SET name = 'Older Olga' WHERE id = ?").run(theirs);
    // The push is built and answered with no catch-up in between (as a push stored by an earlier run).
    const { changes, covers } = store.write(() => parts.outbox.nextBatch(parts.schema, new Set(), 100));
    expect(changes).toHaveLength(2);
    const later = serverStamp(Date.now() + 60_000);
    const response: PushResponse = {
      serverTime: new Date().toISOString(),
      results: covers.map((cover) =>
        cover.id === mine
          ? { table: cover.table, id: cover.id, status: 'applied' as const }
          : {
              table: cover.table,
              id: cover.id,
              status: 'stale' as const,
              current: customer(theirs, later, 'Newer Nadia'),
            },
      ),
    };
    const body = JSON.stringify({ pushId: 'p1', changes });
    store.write(() =>
      store.db
        .prepare("INSERT INTO _sync_push (push_id, body, covers, created_at) VALUES ('p1', ?, ?, '')")
        .run(body, JSON.stringify(covers)),
    );
    applyPushAnswer(parts, applier, { pushId: 'p1', body, covers }, response);
    expect(parts.outbox.count()).toBe(0);
    expect(search('Wanda')).toEqual([mine]);
    expect(search('Nadia')).toEqual([theirs]);
    expect(search('Olga')).toEqual([]);
  });

  it('drops the triggers of a file from before, and indexes its rows again in the new form', () => {
    const { store } = device();
    const dbPath = store.dbPath;
    const db = store.db;
    const ada = uuidv7();
    db.prepare("INSERT INTO customers (id, name) VALUES (?, 'Ada Lovelace')").run(ada);
    // The index of bookkeeping version 5: external content, kept by triggers.
    db.exec(`DROP TABLE _sync_search_customers;
      CREATE VIRTUAL TABLE _sync_search_customers USING fts5(name, phone, email, content=customers, content_rowid='rowid', tokenize='trigram', detail='none');
      INSERT INTO _sync_search_customers (_sync_search_customers) VALUES ('rebuild');
      CREATE TRIGGER _sync_search_customers_insert AFTER INSERT ON customers BEGIN
        INSERT INTO _sync_search_customers (rowid, name, phone, email) VALUES (NEW.rowid, NEW.name, NEW.phone, NEW.email);
      END;
      ALTER TABLE _sync_rows DROP COLUMN received;
      UPDATE _sync_state SET value = '5' WHERE key = 'store_version';`);
    store.close();
    const reopened = LocalStore.open({ dbPath });
    onCleanup(() => reopened.close());
    const triggers = reopened.db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '_sync_search_%'")
      .all();
    expect(triggers).toEqual([]);
    const index = reopened.db
      .prepare("SELECT sql FROM sqlite_master WHERE name = '_sync_search_customers'")
      .get() as { sql: string };
    expect(index.sql).toContain("content=''");
    const found = reopened.db
      .prepare(
        'SELECT t.id FROM _sync_search_customers AS s JOIN customers AS t ON t.rowid = s.rowid WHERE _sync_search_customers MATCH ?',
      )
      .all(trigramQuery('Lovelace'));
    expect(found).toEqual([{ id: ada }]);
  });
});

import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { HybridClock, MAX_COUNTER, formatStamp, parseStamp } from '@tillsync/protocol';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { NEXT_HLC_SQL } from '../src/capture/triggers.js';
import { Outbox } from '../src/outbox.js';
import { ServerRows } from '../src/server-rows.js';
import { folded, onCleanup, openDeviceStore } from './helpers.js';

/** A second connection to the device file, as another program would open it. */
function otherProgram(dbPath: string): Database.Database {
  const db = new Database(dbPath);
  db.pragma('busy_timeout = 10000');
  onCleanup(() => db.close());
  return db;
}

function pendingRows(
  db: Database.Database,
): { tbl: string; id: string; op: string; revision: number; base: string | null }[] {
  return folded(db)
    .prepare('SELECT tbl, id, op, revision, base FROM _sync_pending ORDER BY tbl, id')
    .all() as never;
}

/** Makes a row look synced: written by the sync (capture off) and known on the server. */
function syncedRow(
  device: ReturnType<typeof openDeviceStore>,
  sql: string,
  params: unknown[],
  table: string,
  id: string,
): void {
  const serverRows = new ServerRows(device.store);
  device.store.applying(() =>
    serverRows.batch(() => {
      device.store.db.prepare(sql).run(...params);
      serverRows.set(table, id, '2026-01-01T00:00:00.000Z-0000-server', null);
    }),
  );
}

describe('capture triggers', () => {
  it('capture inserts, updates and deletes made by another connection', () => {
    const device = openDeviceStore();
    const other = otherProgram(device.dbPath);
    const [a, b] = [uuidv7(), uuidv7()];
    other.prepare('INSERT INTO customers (id, name) VALUES (?, ?)').run(a, 'Ada');
    other.prepare('INSERT INTO customers (id, name) VALUES (?, ?)').run(b, 'Bob');
    other.prepare("UPDATE customers SET phone = '555' WHERE id = ?").run(a);
    expect(pendingRows(other)).toEqual([
      { tbl: 'customers', id: a, op: 'upsert', revision: 2, base: null },
      { tbl: 'customers', id: b, op: 'upsert', revision: 1, base: null },
    ]);
    // Never on the server: a delete just forgets the insert.
    other.prepare('DELETE FROM customers WHERE id = ?').run(b);
    expect(pendingRows(other).map((row) => row.id)).toEqual([a]);
    expect(new Outbox(device.store).count()).toBe(1);
  });

  it('capture writes from programs on an older SQLite (Python, the sqlite3 shell)', () => {
    const device = openDeviceStore();
    const [fromPython, fromShell] = [uuidv7(), uuidv7()];
    const before = Date.now();
    const python = spawnSync(
      'python3',
      [
        '-c',
        'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("INSERT INTO customers (id, name) VALUES (?, ?)", (sys.argv[2], "Py")); c.commit(); print(sqlite3.sqlite_version)',
        device.dbPath,
        fromPython,
      ],
      { encoding: 'utf8' },
    );
    expect(python.status, python.stderr).toBe(0);
    const shell = spawnSync(
      'sqlite3',
      [device.dbPath, `INSERT INTO customers (id, name) VALUES ('${fromShell}', 'Sh');`],
      {
        encoding: 'utf8',
      },
    );
    expect(shell.status, shell.stderr).toBe(0);
    const outbox = new Outbox(device.store);
    for (const id of [fromPython, fromShell]) {
      const pending = outbox.get('customers', id);
      expect(pending?.op).toBe('upsert');
      const stamp = parseStamp(pending?.stamp ?? '');
      expect(stamp?.nodeId).toBe('node1');
      expect(stamp!.ms).toBeGreaterThanOrEqual(before - 1);
      expect(stamp!.ms).toBeLessThanOrEqual(Date.now() + 1);
    }
  });

  it('skip updates that change no synced column', () => {
    const device = openDeviceStore();
    const id = uuidv7();
    syncedRow(device, 'INSERT INTO customers (id, name) VALUES (?, ?)', [id, 'Ada'], 'customers', id);
    device.store.db.prepare("UPDATE customers SET name = 'Ada' WHERE id = ?").run(id);
    expect(pendingRows(device.store.db)).toEqual([]);
    device.store.db.prepare("UPDATE customers SET name = 'Ada L.' WHERE id = ?").run(id);
    expect(pendingRows(device.store.db)).toHaveLength(1);
  });

  it("keep the server's counter value as the base of a row's first local change", () => {
    const device = openDeviceStore();
    const id = uuidv7();
    syncedRow(
      device,
      "INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, 'A', 'Apple', 120, 10)",
      [id],
      'products',
      id,
    );
    const other = otherProgram(device.dbPath);
    other.prepare('UPDATE products SET stock = stock - 1 WHERE id = ?').run(id);
    other.prepare('UPDATE products SET stock = stock - 3 WHERE id = ?').run(id);
    expect(pendingRows(other)).toEqual([
      { tbl: 'products', id, op: 'upsert', revision: 2, base: '{"stock":10}' },
    ]);
  });

  it('note the replaced counter when a program uses INSERT OR REPLACE, and nothing for INSERT OR IGNORE', () => {
    const device = openDeviceStore();
    const id = uuidv7();
    const insert =
      "INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, 'A', 'Apple', 120, 10)";
    syncedRow(device, insert, [id], 'products', id);
    const other = otherProgram(device.dbPath);
    other
      .prepare(
        "INSERT OR IGNORE INTO products (id, sku, name, price_cents, stock) VALUES (?, 'A', 'X', 1, 99)",
      )
      .run(id);
    expect(pendingRows(other)).toEqual([]);
    other
      .prepare(
        "INSERT OR REPLACE INTO products (id, sku, name, price_cents, stock) VALUES (?, 'A', 'Apple', 120, 7)",
      )
      .run(id);
    expect(pendingRows(other)).toEqual([
      { tbl: 'products', id, op: 'upsert', revision: 1, base: '{"stock":10}' },
    ]);
    expect(other.prepare('SELECT count(*) AS n FROM _sync_replaced').get()).toEqual({ n: 0 });
  });

  it('record deletes of rows the server has, and of rows on the wire in a push', () => {
    const device = openDeviceStore();
    const [synced, inPush, local] = [uuidv7(), uuidv7(), uuidv7()];
    syncedRow(device, "INSERT INTO customers (id, name) VALUES (?, 'S')", [synced], 'customers', synced);
    const db = device.store.db;
    db.prepare("INSERT INTO customers (id, name) VALUES (?, 'P')").run(inPush);
    db.prepare("INSERT INTO customers (id, name) VALUES (?, 'L')").run(local);
    folded(db).prepare('UPDATE _sync_pending SET in_push = 1 WHERE id = ?').run(inPush);
    db.prepare('DELETE FROM customers').run();
    expect(pendingRows(db).map((row) => [row.id, row.op])).toEqual(
      [
        [synced, 'delete'],
        [inPush, 'delete'],
      ].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)),
    );
  });

  it('treat a changed id as a delete of the old id and an insert of the new one', () => {
    const device = openDeviceStore();
    const [oldId, newId] = [uuidv7(), uuidv7()];
    syncedRow(device, "INSERT INTO customers (id, name) VALUES (?, 'S')", [oldId], 'customers', oldId);
    device.store.db.prepare('UPDATE customers SET id = ? WHERE id = ?').run(newId, oldId);
    const ops = Object.fromEntries(pendingRows(device.store.db).map((row) => [row.id, row.op]));
    expect(ops).toEqual({ [oldId]: 'delete', [newId]: 'upsert' });
  });

  it("skip the sync's own writes, and no other connection ever sees the flag set", () => {
    const device = openDeviceStore();
    const other = otherProgram(device.dbPath);
    device.store.applying(() => {
      device.store.db.prepare("INSERT INTO customers (id, name) VALUES (?, 'From the server')").run(uuidv7());
    });
    expect(pendingRows(other)).toEqual([]);
    expect(other.prepare('SELECT applying FROM _sync_apply_flag').get()).toEqual({ applying: 0 });
    expect(() =>
      device.store.applying(() => {
        device.store.db.prepare("INSERT INTO customers (id, name) VALUES (?, 'x')").run(uuidv7());
        throw new Error('rolled back');
      }),
    ).toThrow('rolled back');
    expect(other.prepare('SELECT applying FROM _sync_apply_flag').get()).toEqual({ applying: 0 });
    other.prepare("INSERT INTO customers (id, name) VALUES (?, 'Local')").run(uuidv7());
    expect(pendingRows(other)).toHaveLength(1);
  });
});

describe('stamps of captured writes', () => {
  it('advance like HybridClock.issue(), on the integer form of the clock', () => {
    const device = openDeviceStore();
    // NEXT_HLC_SQL with the wall clock as a parameter, so the property can choose it.
    const next = device.store.db.prepare(
      `SELECT (${NEXT_HLC_SQL.replace(/CAST\(ROUND\(\(julianday\('now'\).*?AS INTEGER\)/, 'CAST(@wall AS INTEGER)')}) >> 16 AS ms,
              (${NEXT_HLC_SQL.replace(/CAST\(ROUND\(\(julianday\('now'\).*?AS INTEGER\)/, 'CAST(@wall AS INTEGER)')}) & 65535 AS counter
       FROM (SELECT CAST(@ms AS INTEGER) * 65536 + CAST(@counter AS INTEGER) AS hlc)`,
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        fc.integer({ min: 0, max: MAX_COUNTER }),
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        (ms, counter, wall) => {
          const clock = new HybridClock({ nodeId: 'n', now: () => wall, state: { ms, counter } });
          const expected = clock.issue();
          const row = next.get({ ms, counter, wall }) as { ms: number; counter: number };
          expect(formatStamp({ ...row, nodeId: 'n' })).toBe(expected);
        },
      ),
    );
  });

  it("read SQLite's wall clock to the exact millisecond", () => {
    const device = openDeviceStore();
    const toMs = device.store.db.prepare(
      'SELECT CAST(ROUND((julianday(?) - 2440587.5) * 86400000) AS INTEGER) AS ms',
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (ms) => {
        const iso = new Date(ms).toISOString().replace('Z', '');
        expect((toMs.get(iso) as { ms: number }).ms).toBe(ms);
      }),
      { numRuns: 2000 },
    );
  });

  it('grow for every write to a row, and pass every stamp the device received', () => {
    const device = openDeviceStore();
    const outbox = new Outbox(device.store);
    const id = uuidv7();
    const db = device.store.db;
    db.prepare("INSERT INTO customers (id, name) VALUES (?, 'v0')").run(id);
    let previous = outbox.get('customers', id)!.stamp;
    for (let i = 1; i <= 300; i++) {
      db.prepare('UPDATE customers SET name = ? WHERE id = ?').run(`v${i}`, id);
      const stamp = outbox.get('customers', id)!.stamp;
      expect(stamp > previous).toBe(true);
      previous = stamp;
    }
    // A stamp from a device whose clock is ahead, at the last counter value: the next write carries into
    // the following millisecond.
    const ahead = Date.now() + 60_000;
    device.store.write(() =>
      device.clock.receive(formatStamp({ ms: ahead, counter: MAX_COUNTER, nodeId: 'other' })),
    );
    const other = uuidv7();
    db.prepare("INSERT INTO customers (id, name) VALUES (?, 'after')").run(other);
    expect(parseStamp(outbox.get('customers', other)!.stamp)).toEqual({
      ms: ahead + 1,
      counter: 0,
      nodeId: 'node1',
    });
  });

  it('interleave with the stamps the sync issues in JavaScript, in order', () => {
    const device = openDeviceStore();
    const outbox = new Outbox(device.store);
    const db = device.store.db;
    let latest = '';
    for (let i = 0; i < 200; i++) {
      const id = uuidv7();
      db.prepare("INSERT INTO customers (id, name) VALUES (?, 'x')").run(id);
      const captured = outbox.get('customers', id)!.stamp;
      expect(captured >= latest).toBe(true);
      const issued = device.store.write(() => device.clock.issue());
      expect(issued > captured).toBe(true);
      latest = issued;
      // Every stamp after one the JS side issued is later than it.
      const next = uuidv7();
      db.prepare("INSERT INTO customers (id, name) VALUES (?, 'y')").run(next);
      expect(outbox.get('customers', next)!.stamp > issued).toBe(true);
      latest = outbox.get('customers', next)!.stamp;
    }
  });
});

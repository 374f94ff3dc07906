import { SchemaChangeError, parseSchema, type SyncSchema } from '@tillsync/protocol';
import { startServer, type RunningServer, type ServerOptions } from '@tillsync/server';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import type { SyncClient } from '../src/index.js';
import { onCleanup } from './helpers.js';
import { startTestServer, type TestServer } from './server-fixture.js';

/**
 * Schema changes on a live fleet (PROTOCOL.md §2 schema), with a real server restarted on its file with the
 * new schema and real device files: one device takes the change at once, another stays offline across it
 * and writes meanwhile, then syncs.
 */

const V1: SyncSchema = parseSchema({
  version: 1,
  tables: {
    items: {
      columns: {
        name: { type: 'text', required: true },
        note: { type: 'text', required: true },
        qty: { type: 'integer' },
      },
    },
  },
});

/** V1 changed by `edit`, at `version`. */
function changed(version: number, edit: (tables: SyncSchema['tables']) => void): SyncSchema {
  const copy = structuredClone({ ...V1, version });
  edit(copy.tables);
  return parseSchema(copy);
}

function itemColumns(tables: SyncSchema['tables']): SyncSchema['tables'][string]['columns'] {
  const items = tables.items;
  if (!items) throw new Error('no items table');
  return items.columns;
}

function rows(client: SyncClient, table: string): Record<string, unknown>[] {
  return client.database.prepare(`SELECT * FROM ${table} ORDER BY id`).all() as Record<string, unknown>[];
}

function columnsOf(client: SyncClient, table: string): string[] {
  return (
    client.database.prepare('SELECT name FROM pragma_table_info(?)').all(table) as { name: string }[]
  ).map((column) => column.name);
}

async function syncOk(client: SyncClient): Promise<void> {
  const summary = await client.sync();
  expect(summary, JSON.stringify(summary)).toMatchObject({ ok: true, rejected: 0 });
}

/** The server of a test, restarted on its file and port with another schema. */
class RestartableServer {
  readonly fixture: TestServer;
  readonly #dbPath: string;
  readonly #port: number;
  #running: RunningServer | null = null;

  constructor(fixture: TestServer) {
    this.fixture = fixture;
    this.#dbPath = fixture.running.config.dbPath;
    this.#port = fixture.running.port;
  }

  /** Stops the server and starts it with `schema`; a start that refuses it leaves the server down. */
  async restart(schema: SyncSchema, options: Partial<ServerOptions> = {}): Promise<RunningServer> {
    await this.fixture.stop();
    await this.#running?.close();
    this.#running = null;
    const running = await startServer({
      dbPath: this.#dbPath,
      port: this.#port,
      host: '127.0.0.1',
      logger: false,
      schema,
      ...options,
    });
    this.#running = running;
    onCleanup(() => running.close());
    return running;
  }

  /** The message of a start that refuses `schema`. */
  async refusal(schema: SyncSchema, options: Partial<ServerOptions> = {}): Promise<string> {
    const error = await this.restart(schema, options).then(
      () => new Error('the server started'),
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(SchemaChangeError);
    return (error as Error).message;
  }
}

/** A server on V1 and two devices, A and B, that both have one item. */
async function twoDevicesWithAnItem(): Promise<{
  server: RestartableServer;
  a: SyncClient;
  b: SyncClient;
  item: string;
}> {
  const server = new RestartableServer(await startTestServer({ schema: V1 }));
  const a = await server.fixture.pairedClient('a');
  const b = await server.fixture.pairedClient('b');
  const item = uuidv7();
  a.database.prepare("INSERT INTO items (id, name, note, qty) VALUES (?, 'Apple', 'fresh', 1)").run(item);
  await syncOk(a);
  await syncOk(b);
  return { server, a, b, item };
}

/**
 * Two devices on V1 with one item; B goes offline, renames the item and adds one; the server restarts with
 * `next`; A syncs, makes a write only `next` allows, and syncs; then B comes back.
 */
async function offlineAcross(
  next: SyncSchema,
  writeOnNewSchema: (a: SyncClient, item: string) => void,
): Promise<{ a: SyncClient; b: SyncClient; item: string; added: string; server: RestartableServer }> {
  const { server, a, b, item } = await twoDevicesWithAnItem();

  // B is offline from here on, and its cashier goes on working.
  const added = uuidv7();
  b.database.prepare("UPDATE items SET name = 'Apple (B)' WHERE id = ?").run(item);
  b.database.prepare("INSERT INTO items (id, name, note, qty) VALUES (?, 'Pear', 'from B', 2)").run(added);

  await server.restart(next);
  await syncOk(a);
  writeOnNewSchema(a, item);
  await syncOk(a);

  // B comes back: its two writes go through, and its tables are at the new version.
  const back = await b.sync();
  expect(back, JSON.stringify(back)).toMatchObject({ ok: true, rejected: 0, pushed: 2 });
  expect(
    JSON.parse(
      b.database.prepare("SELECT value FROM _sync_state WHERE key = 'schema'").pluck().get() as string,
    ),
  ).toEqual(next);
  await syncOk(a);
  await syncOk(b);
  expect(rows(a, 'items').find((row) => row.id === item)).toMatchObject({ name: 'Apple (B)' });
  expect(rows(a, 'items').find((row) => row.id === added)).toMatchObject({ name: 'Pear' });
  return { a, b, item, added, server };
}

describe('an additive schema change, with a device offline across it that writes meanwhile', () => {
  it('a new table', async () => {
    const next = changed(2, (tables) => {
      tables.tags = { columns: { label: { type: 'text', required: true } } };
    });
    const tag = uuidv7();
    const { a, b } = await offlineAcross(next, (a) => {
      a.database.prepare("INSERT INTO tags (id, label) VALUES (?, 'organic')").run(tag);
    });
    expect(rows(b, 'tags')).toEqual([{ id: tag, label: 'organic' }]);
    expect(rows(b, 'items')).toEqual(rows(a, 'items'));
  });

  it('a new optional column', async () => {
    const next = changed(2, (tables) => {
      itemColumns(tables).barcode = { type: 'text' };
    });
    const kiwi = uuidv7();
    const { a, b } = await offlineAcross(next, (a) => {
      a.database
        .prepare("INSERT INTO items (id, name, note, barcode) VALUES (?, 'Kiwi', 'new', '400')")
        .run(kiwi);
    });
    expect(columnsOf(b, 'items')).toContain('barcode');
    expect(rows(b, 'items').find((row) => row.id === kiwi)).toMatchObject({ barcode: '400' });
    expect(rows(b, 'items')).toEqual(rows(a, 'items'));
  });

  it('a new column with a default', async () => {
    const next = changed(2, (tables) => {
      itemColumns(tables).shelf = { type: 'text', required: true, default: 'A' };
    });
    const kiwi = uuidv7();
    const { a, b, item, added } = await offlineAcross(next, (a) => {
      a.database
        .prepare("INSERT INTO items (id, name, note, shelf) VALUES (?, 'Kiwi', 'new', 'B')")
        .run(kiwi);
    });
    const shelves = new Map(rows(b, 'items').map((row) => [row.id, row.shelf]));
    expect(shelves).toEqual(
      new Map([
        [item, 'A'],
        [added, 'A'],
        [kiwi, 'B'],
      ]),
    );
    expect(rows(b, 'items')).toEqual(rows(a, 'items'));
  });

  it('a new counter column', async () => {
    const next = changed(2, (tables) => {
      itemColumns(tables).sold = { type: 'integer', merge: 'counter' };
    });
    const kiwi = uuidv7();
    const { a, b } = await offlineAcross(next, (a) => {
      a.database.prepare("INSERT INTO items (id, name, note, sold) VALUES (?, 'Kiwi', 'new', 0)").run(kiwi);
    });
    // Both tills sell kiwis now: the counter adds up.
    a.database.prepare('UPDATE items SET sold = sold + 2 WHERE id = ?').run(kiwi);
    b.database.prepare('UPDATE items SET sold = sold + 3 WHERE id = ?').run(kiwi);
    for (const device of [a, b, a, b]) await syncOk(device);
    expect(rows(b, 'items').find((row) => row.id === kiwi)).toMatchObject({ sold: 5 });
    expect(rows(b, 'items')).toEqual(rows(a, 'items'));
  });

  it('a required column made optional', async () => {
    const next = changed(2, (tables) => {
      itemColumns(tables).note = { type: 'text' };
    });
    const kiwi = uuidv7();
    const { a, b } = await offlineAcross(next, (a) => {
      // The device's table lost its NOT NULL with the new schema.
      a.database.prepare("INSERT INTO items (id, name, note) VALUES (?, 'Kiwi', NULL)").run(kiwi);
    });
    expect(rows(b, 'items').find((row) => row.id === kiwi)).toMatchObject({ note: null });
    b.database.prepare("INSERT INTO items (id, name) VALUES (?, 'Fig')").run(uuidv7());
    await syncOk(b);
    await syncOk(a);
    expect(rows(b, 'items')).toEqual(rows(a, 'items'));
  });

  // Fails until devices push only the columns a write changed (PROTOCOL.md §1, protocol 2): a device that
  // was offline across the change still pushes its pending row whole, the new column (NULL) included.
  it('keeps a new column another device set when the offline device writes that row', async () => {
    const next = changed(2, (tables) => {
      itemColumns(tables).barcode = { type: 'text' };
    });
    const { a, b, item } = await offlineAcross(next, (a, item) => {
      a.database.prepare("UPDATE items SET barcode = '400' WHERE id = ?").run(item);
    });
    expect(rows(a, 'items').find((row) => row.id === item)).toMatchObject({
      name: 'Apple (B)',
      barcode: '400',
    });
    expect(rows(b, 'items').find((row) => row.id === item)).toMatchObject({
      name: 'Apple (B)',
      barcode: '400',
    });
  });
});

describe('a breaking schema change', () => {
  it('is refused with its message; accepted with the flag, every device resyncs and keeps its unsent changes where they fit; a version going back is refused', async () => {
    const breaking = changed(2, (tables) => {
      const columns = itemColumns(tables);
      columns.qty = { type: 'text' };
      delete columns.note;
    });
    const { server, a, b, item } = await twoDevicesWithAnItem();
    const added = uuidv7();
    b.database.prepare("UPDATE items SET name = 'Apple (B)', qty = 7 WHERE id = ?").run(item);
    b.database.prepare("INSERT INTO items (id, name, note, qty) VALUES (?, 'Pear', 'from B', 2)").run(added);

    expect(await server.refusal(breaking)).toBe(
      'version 2 is not additive to version 1, which this database served last: items.note: the column was removed (or renamed); items.qty: its type changed from integer to text. Make the change additive, or start with --accept-breaking-schema: every device then takes a fresh snapshot, keeping its unsent changes where they still fit',
    );
    await server.restart(breaking, { acceptBreakingSchema: true });
    await syncOk(a);
    expect(rows(a, 'items')).toEqual([{ id: item, name: 'Apple', note: 'fresh', qty: '1' }]);

    const back = await b.sync();
    expect(back, JSON.stringify(back)).toMatchObject({ ok: true, rejected: 0, pushed: 2 });
    await syncOk(a);
    // The unsent rename and quantity arrive, the quantity as text now; the removed column stays in each
    // file, no longer synced.
    const synced = (client: SyncClient): unknown[] =>
      rows(client, 'items').map(({ id, name, qty }) => ({ id, name, qty }));
    expect(synced(a)).toEqual([
      { id: item, name: 'Apple (B)', qty: '7' },
      { id: added, name: 'Pear', qty: '2' },
    ]);
    expect(synced(b)).toEqual(synced(a));
    expect(rows(b, 'items').find((row) => row.id === added)).toMatchObject({ note: 'from B' });
    expect(b.syncLog().some((entry) => JSON.stringify(entry).includes('resync'))).toBe(true);

    expect(await server.refusal(V1)).toMatch(/^the schema's version 1 is lower than version 2/);
  });
});

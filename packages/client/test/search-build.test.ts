import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { beforeAll, describe, expect, it } from 'vitest';
import { SyncWorker, createSyncClient, type SyncClient, type SyncLogEntry } from '../src/index.js';
import { trigramQuery } from '../src/search-index.js';
import { onCleanup, seededRandom, tempFolder } from './helpers.js';
import { startTestServer, type TestServer } from './server-fixture.js';

/**
 * The search index of a table a first sync fills is built after its cycle, once its rows are in, in steps
 * (`search-build.ts`): the same index, found alike; a search meanwhile finds what it would with the whole
 * index; a stop or a kill in the middle goes on from where it was, and a till's write meanwhile is indexed
 * and sent; a worker builds it between cycles, and a cycle asked for meanwhile does not wait for the build.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(ROOT, 'packages/cli/bin/tillsync.js');
const SEED = Number(process.env.TILLSYNC_SEED ?? Date.now() % 100_000);

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'packages/cli/dist/main.js'))) {
    throw new Error('the CLI is not built: run `npx tsc -b` first');
  }
});

const SEARCHES = ['ustomer 12', 'Customer 2999', '555-01', 'mer 7', 'Walk-in', 'Renamed', 'nobody here'];

/** A source device holding `count` customers with random ids, pushed to the server. */
async function sourceShop(server: TestServer, count: number): Promise<SyncClient> {
  const source = await server.pairedClient('source', { pushBatchSize: 5000 });
  const insert = source.database.prepare('INSERT INTO customers (id, name, phone) VALUES (?, ?, ?)');
  source.database.transaction(() => {
    for (let index = 0; index < count; index++)
      insert.run(randomUUID(), `Customer ${index}`, `555-${String(index % 1000).padStart(4, '0')}`);
  })();
  expect(await source.sync()).toMatchObject({ ok: true, pushed: count });
  return source;
}

/**
 * The customers a search finds, as the till's list asks (`cli/src/device-rows.ts`): the index's candidates,
 * and while it is being built the rows above where it is built, each checked with LIKE on the row.
 */
function search(client: SyncClient, text: string): string[] {
  client.catchUpSearchIndex();
  const like = '(t.name LIKE ? OR t.phone LIKE ? OR t.email LIKE ?)';
  const pattern = Array<string>(3).fill(`%${text}%`);
  const upTo = client.searchIndexedUpTo('customers');
  const sql =
    upTo === null
      ? `SELECT t.id FROM _sync_search_customers AS s JOIN customers AS t ON t.rowid = s.rowid
         WHERE _sync_search_customers MATCH ? AND ${like} ORDER BY t.id`
      : `SELECT t.id FROM customers AS t WHERE (t.rowid IN (SELECT rowid FROM _sync_search_customers
         WHERE _sync_search_customers MATCH ?) OR t.rowid > ?) AND ${like} ORDER BY t.id`;
  const parameters =
    upTo === null ? [trigramQuery(text), ...pattern] : [trigramQuery(text), upTo, ...pattern];
  return (client.database.prepare(sql).all(...parameters) as { id: string }[]).map((row) => row.id);
}

/** What a search must find: every row whose text holds `text`, read without the index. */
function scan(database: Database.Database, text: string): string[] {
  return (
    database
      .prepare(
        'SELECT id FROM customers WHERE name LIKE @text OR phone LIKE @text OR email LIKE @text ORDER BY id',
      )
      .all({ text: `%${text}%` }) as { id: string }[]
  ).map((row) => row.id);
}

/** The index holds each row once, and FTS5 finds it sound; it merges by itself again, 8 segments at a time. */
function expectWholeIndex(database: Database.Database): void {
  const rows = database.prepare('SELECT count(*) AS n FROM customers').get();
  expect(database.prepare('SELECT count(*) AS n FROM _sync_search_customers_docsize').get()).toEqual(rows);
  database.exec("INSERT INTO _sync_search_customers (_sync_search_customers) VALUES ('integrity-check')");
  const settings = database
    .prepare(
      "SELECT k, v FROM _sync_search_customers_config WHERE k IN ('automerge', 'crisismerge', 'usermerge')",
    )
    .all() as { k: string; v: number }[];
  expect(Object.fromEntries(settings.map((row) => [row.k, row.v]))).toEqual({
    automerge: 8,
    crisismerge: 16,
    usermerge: 8,
  });
  expect(database.prepare("SELECT value FROM _sync_state WHERE key = 'search_unbuilt'").get()).toEqual({
    value: null,
  });
}

/** Runs `tillsync sync` on a device file in a child process, killed (SIGKILL) once `when()` holds. */
function syncKilledWhen(
  dbPath: string,
  when: () => boolean,
): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'sync', '--db', dbPath], { stdio: 'ignore' });
    let killed = false;
    let exited = false;
    const poll = setInterval(() => {
      if (!exited && when()) {
        clearInterval(poll);
        killed = child.kill('SIGKILL');
      }
    }, 2);
    child.on('error', reject);
    child.on('exit', (code) => {
      exited = true;
      clearInterval(poll);
      resolve({ killed, code });
    });
  });
}

/** Where the build of `customers` stands in a device file: its frontier, or null when none is under way. */
function frontierIn(dbPath: string): number | null {
  const db = new Database(dbPath, { readonly: true });
  try {
    db.pragma('busy_timeout = 10000');
    const row = db.prepare("SELECT value FROM _sync_state WHERE key = 'search_unbuilt'").get() as
      { value: string | null } | undefined;
    return row?.value ? ((JSON.parse(row.value) as Record<string, number>).customers ?? null) : null;
  } finally {
    db.close();
  }
}

describe('the search index of a first sync, built after the load', () => {
  it('is left by the first sync to build after it, found meanwhile, and built whole', async () => {
    const server = await startTestServer();
    const source = await sourceShop(server, 3000);
    const device = await server.pairedClient('device');
    expect(await device.sync()).toMatchObject({ ok: true, pulled: 3000 });
    // The cycle ended with the rows in and none of them indexed: a search reads them one by one.
    expect(device.searchIndexedUpTo('customers')).toBe(0);
    expect(device.searchIndexesUnbuilt()).toContain('customers');
    for (const text of SEARCHES) expect(search(device, text), text).toEqual(scan(source.database, text));
    expect(await device.buildSearchIndexes()).toBe(false);
    expect(device.searchIndexedUpTo('customers')).toBeNull();
    expect(device.searchIndexesUnbuilt()).toEqual([]);
    expectWholeIndex(device.database);
    for (const text of SEARCHES) expect(search(device, text), text).toEqual(scan(source.database, text));
    expect(search(device, 'Customer 2999')).toHaveLength(1);
    expect(search(device, 'ustomer 12').length).toBeGreaterThan(100);
  });

  it('answers searches while stopped in the middle, takes the till’s writes, and ends whole in the next build', async () => {
    const server = await startTestServer();
    const source = await sourceShop(server, 6000);
    const device = await server.pairedClient('device');
    expect(await device.sync()).toMatchObject({ ok: true, pulled: 6000 });
    const controller = new AbortController();
    let middle: number | null = null;
    const watch = (async () => {
      while (!controller.signal.aborted) {
        await new Promise((resolve) => setImmediate(resolve));
        const upTo = device.searchIndexedUpTo('customers');
        if (upTo !== null && upTo > 0) {
          middle = upTo;
          controller.abort();
        }
      }
    })();
    expect(await device.buildSearchIndexes(controller.signal), 'the build ended before it was stopped').toBe(
      true,
    );
    await watch;
    expect(middle, 'the build ended before it was under way').not.toBeNull();
    const dbPath = device.database.name;
    await device.close();

    // As a till program reopening the file: every row is in, the index only partly built.
    const reopened = createSyncClient({ dbPath });
    onCleanup(() => reopened.close());
    const upTo = reopened.searchIndexedUpTo('customers') ?? 0;
    const rows = (reopened.database.prepare('SELECT count(*) AS n FROM customers').get() as { n: number }).n;
    expect(rows).toBe(6000);
    expect(upTo).toBeGreaterThan(0);
    expect(upTo).toBeLessThan(rows);
    for (const text of SEARCHES) expect(search(reopened, text), text).toEqual(scan(source.database, text));

    // The till writes meanwhile, through a connection of its own: a row of the part built, one above it,
    // and a new one.
    const till = new Database(dbPath);
    onCleanup(() => till.close());
    till.pragma('busy_timeout = 10000');
    const idAt = (rowid: number): string =>
      (till.prepare('SELECT id FROM customers WHERE rowid = ?').get(rowid) as { id: string }).id;
    const [built, unbuilt, walkIn] = [idAt(1), idAt(rows - 1), uuidv7()];
    const rename = till.prepare('UPDATE customers SET name = ? WHERE id = ?');
    rename.run('Renamed Rita', built);
    rename.run('Renamed Rob', unbuilt);
    till.prepare("INSERT INTO customers (id, name) VALUES (?, 'Walk-in Wanda')").run(walkIn);
    expect(search(reopened, 'Renamed')).toEqual([built, unbuilt].sort());
    expect(search(reopened, 'Walk-in')).toEqual([walkIn]);

    expect(await reopened.sync()).toMatchObject({ ok: true, pushed: 3 });
    expect(await reopened.buildSearchIndexes()).toBe(false);
    expect(reopened.searchIndexedUpTo('customers')).toBeNull();
    expectWholeIndex(reopened.database);
    expect(await source.sync()).toMatchObject({ ok: true, pulled: 3 });
    for (const text of SEARCHES) expect(search(reopened, text), text).toEqual(scan(source.database, text));
    expect(search(reopened, 'Renamed')).toEqual([built, unbuilt].sort());
  });

  it('is built by a worker between its cycles, and a cycle asked for meanwhile stops the build, not waits for it', async () => {
    const server = await startTestServer();
    const source = await sourceShop(server, 20_000);
    const device = await server.pairedClient('device');
    const worker = new SyncWorker({
      client: device,
      live: false,
      statusPollMs: 3600_000,
      pushOnWrite: false,
    });
    onCleanup(() => worker.stop());
    const cycles: { entry: SyncLogEntry; indexedUpTo: number | null }[] = [];
    worker.on('cycle', (entry) => cycles.push({ entry, indexedUpTo: device.searchIndexedUpTo('customers') }));
    worker.start();
    // The first sync's cycle ends with the rows in, the index not built; the worker then builds it.
    while (cycles.length === 0 || (device.searchIndexedUpTo('customers') ?? 0) === 0) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(cycles[0]).toMatchObject({ entry: { ok: true, pulled: 20_000 }, indexedUpTo: 0 });
    const built = device.searchIndexedUpTo('customers');
    expect(built, 'the build ended before the click').not.toBeNull();
    // "Force sync now" in the middle of the build: the cycle runs with the index still in the making.
    const forced = await worker.syncNow();
    expect(forced).toMatchObject({ ok: true, trigger: 'force' });
    const during = cycles[1]?.indexedUpTo ?? null;
    expect(during, 'the forced cycle waited for the whole build').not.toBeNull();
    expect(during).toBeGreaterThanOrEqual(built ?? 0);
    expect(during).toBeLessThan(20_000);
    // The build goes on after the cycle, to the end.
    await worker.idle();
    expect(device.searchIndexesUnbuilt()).toEqual([]);
    expectWholeIndex(device.database);
    for (const text of SEARCHES) expect(search(device, text), text).toEqual(scan(source.database, text));
  });

  it('takes a program’s bulk write of random ids while the build waits, in a segment of the index, not one a row', async () => {
    const server = await startTestServer();
    const source = await sourceShop(server, 3000);
    const device = await server.pairedClient('device');
    expect(await device.sync()).toMatchObject({ ok: true, pulled: 3000 });
    expect(device.searchIndexedUpTo('customers')).toBe(0);
    // The build has not run (a worker stopped right after the first sync; FTS5 does not merge meanwhile).
    // Another program imports 12,000 customers with random ids in one transaction. Its catch-up indexes them
    // in rowid order: FTS5 writes out what it gathered at each rowid below the last, so in id order each row
    // made a segment, and past 2,000 segments the index took no more writes (SQLITE_FULL).
    const till = new Database(device.database.name);
    onCleanup(() => till.close());
    const add = till.prepare('INSERT INTO customers (id, name, phone) VALUES (?, ?, ?)');
    till.transaction(() => {
      for (let n = 0; n < 12_000; n++) add.run(randomUUID(), `Imported ${n}`, null);
    })();
    device.catchUpSearchIndex();
    const segments = device.database
      .prepare('SELECT count(DISTINCT segid) AS n FROM _sync_search_customers_idx')
      .get() as { n: number };
    expect(segments.n).toBeLessThanOrEqual(2);
    expect(search(device, 'Imported 11999')).toHaveLength(1);
    expect(await device.buildSearchIndexes()).toBe(false);
    expectWholeIndex(device.database);
    expect(search(device, 'Imported 11999')).toHaveLength(1);
    expect(search(device, 'ustomer 2999')).toEqual(scan(source.database, 'ustomer 2999'));
  });

  it(`goes on after a kill at a random point of the build (seed ${SEED}; replay with TILLSYNC_SEED=${SEED})`, async () => {
    const next = seededRandom(SEED);
    const server = await startTestServer();
    const source = await sourceShop(server, 20_000);
    const dbPath = path.join(tempFolder(), 'killed.db');
    const paired = createSyncClient({ dbPath, serverUrl: server.url });
    await paired.pair(await server.pairingCode(), { name: 'killed' });
    await paired.close();
    // Killed once the build has gone past a random share of the rows: in its steps, or between two.
    const share = 0.1 + next() * 0.7;
    const run = await syncKilledWhen(dbPath, () => (frontierIn(dbPath) ?? 0) > 20_000 * share);
    expect(run.killed, 'the sync ended before the kill').toBe(true);
    const left = frontierIn(dbPath);
    expect(left).not.toBeNull();

    const device = createSyncClient({ dbPath });
    onCleanup(() => device.close());
    for (const text of SEARCHES) expect(search(device, text), text).toEqual(scan(source.database, text));
    expect(await device.sync()).toMatchObject({ ok: true, pulled: 0 });
    expect(await device.buildSearchIndexes()).toBe(false);
    expectWholeIndex(device.database);
    for (const text of SEARCHES) expect(search(device, text), text).toEqual(scan(source.database, text));
  });
});

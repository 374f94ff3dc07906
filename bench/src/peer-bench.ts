import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import PouchDB from 'pouchdb';
import { createSyncClient, type FetchFunction, type SyncClient } from '@tillsync/client';
import type { PullResponse } from '@tillsync/protocol';
import { countFromEnv, median, ratePerSecond, tempDir, timeMs, type BenchResult } from './measure.js';
import {
  BENCH_EMAIL,
  BENCH_PASSWORD,
  makeCustomers,
  pairedDeviceToken,
  pairingCode,
  seedCustomers,
  startListeningProcess,
  startServeProcess,
  type BenchCustomer,
  type ServeProcess,
} from './serve-process.js';
import { matureShop, seedMatureShop, timedFirstSync, type MatureShop } from './first-sync-bench.js';

/**
 * Tillsync beside a peer, PouchDB, doing the same three things with the same rows on loopback, and beside
 * the limits of this machine measured in the same run:
 * - a first sync: the server's rows to an empty device;
 * - pushing rows changed on the device;
 * - a cycle with nothing to do.
 *
 * Tillsync: a `tillsync serve` process on a SQLite file, the client library on a SQLite file. PouchDB: an
 * express-pouchdb process storing with PouchDB's LevelDB adapter, a PouchDB on LevelDB on the device, with
 * PouchDB's default replication settings (batches of 100).
 *
 * `TILLSYNC_BENCH_PEER_ROWS` (default 100,000) and `TILLSYNC_BENCH_PEER_CHANGED_ROWS` (default 10,000) set
 * the sizes.
 */

const ROWS = countFromEnv('TILLSYNC_BENCH_PEER_ROWS', 100_000);
const CHANGED_ROWS = Math.min(ROWS, countFromEnv('TILLSYNC_BENCH_PEER_CHANGED_ROWS', 10_000));
/** Tillsync's pull page and push batch (the client's defaults). */
const PAGE_SIZE = 1000;
const IDLE_ROUNDS = 15;
const ROUND_TRIPS = 200;
const BENCH_FOLDER = import.meta.dirname;

/** The phone a changed row gets, the same on both sides. */
const changedPhone = (index: number): string => `+44 20 7946 ${String(index % 10000).padStart(4, '0')} ext 1`;

/** The three figures of one product, from one run. */
interface PeerFigures {
  readonly firstSyncMs: number;
  readonly pushMs: number;
  readonly idleMs: number;
}

/** What Tillsync sent and received, kept to time JSON.parse of the same bytes. */
interface Payloads {
  readonly pullPages: readonly string[];
  readonly pushBodies: readonly string[];
}

async function benchTillsync(
  dir: string,
  customers: readonly BenchCustomer[],
): Promise<PeerFigures & Payloads> {
  const server = await startServeProcess(['--db', path.join(dir, 'cloud.db')], {
    TILLSYNC_ADMIN_EMAIL: BENCH_EMAIL,
    TILLSYNC_ADMIN_PASSWORD: BENCH_PASSWORD,
  });
  let client: SyncClient | null = null;
  try {
    await seedCustomers(server, customers);
    const pullPages = await pullPagesAsSent(server);
    const pushBodies: string[] = [];
    // Holds on to the push bodies the device sends; costs a reference per push.
    const recordingFetch: FetchFunction = (input, init) => {
      if (input.includes('/api/sync/push') && typeof init?.body === 'string') pushBodies.push(init.body);
      return fetch(input, init);
    };
    client = createSyncClient({
      dbPath: path.join(dir, 'device.db'),
      serverUrl: server.url,
      fetch: recordingFetch,
    });
    await client.pair(await pairingCode(server), { name: 'peer bench' });
    const device = client;

    const firstSyncMs = await timeMs(async () => {
      const summary = await device.sync();
      if (!summary.ok || summary.pulled !== customers.length)
        throw new Error(`Tillsync's first sync pulled ${summary.pulled} rows: ${summary.error ?? ''}`);
    });

    const update = device.database.prepare('UPDATE customers SET phone = ? WHERE id = ?');
    device.database.transaction(() => {
      customers
        .slice(0, CHANGED_ROWS)
        .forEach((customer, index) => update.run(changedPhone(index), customer.id));
    })();
    const pushMs = await timeMs(async () => {
      const summary = await device.sync();
      if (!summary.ok || summary.pushed !== CHANGED_ROWS)
        throw new Error(`Tillsync pushed ${summary.pushed} of ${CHANGED_ROWS} rows: ${summary.error ?? ''}`);
    });

    await device.sync();
    const idle: number[] = [];
    for (let round = 0; round < IDLE_ROUNDS; round++) {
      idle.push(
        await timeMs(async () => {
          const summary = await device.sync();
          if (!summary.ok || summary.pushed + summary.pulled > 0) throw new Error('an idle cycle had work');
        }),
      );
    }
    return { firstSyncMs, pushMs, idleMs: median(idle), pullPages, pushBodies };
  } finally {
    await client?.close();
    await server.stop();
  }
}

/** The pull pages of the whole shop as the server sends them to a new device, as text. */
async function pullPagesAsSent(server: ServeProcess): Promise<string[]> {
  const token = await pairedDeviceToken(server, 'payload reader');
  const pages: string[] = [];
  for (let cursor = ''; ;) {
    const query = new URLSearchParams({ since: cursor, limit: String(PAGE_SIZE) });
    const response = await fetch(`${server.url}/api/sync/pull?${query.toString()}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!response.ok) throw new Error(`pull answered ${response.status}`);
    const text = await response.text();
    pages.push(text);
    const page = JSON.parse(text) as PullResponse;
    cursor = page.cursor;
    if (!page.hasMore) return pages;
  }
}

/** A customer as a PouchDB document. */
interface CustomerDoc {
  readonly name: string;
  readonly phone: string;
  readonly email: string;
}

/** An express-pouchdb server in a process of its own with the shop's database, and an empty device. */
interface PouchDbPair {
  readonly remote: PouchDB.Database<CustomerDoc>;
  readonly device: PouchDB.Database<CustomerDoc>;
  close(): Promise<void>;
}

async function startPouchDbPair(dir: string): Promise<PouchDbPair> {
  const serverFolder = path.join(dir, 'pouchdb-server');
  fs.mkdirSync(serverFolder);
  const server = await startListeningProcess([path.join(BENCH_FOLDER, 'pouchdb-server.js'), serverFolder]);
  const remote = new PouchDB<CustomerDoc>(`${server.url}/shop`);
  const device = new PouchDB<CustomerDoc>(path.join(dir, 'pouchdb-device'));
  return {
    remote,
    device,
    close: async () => {
      await device.close();
      await remote.close();
      await server.stop();
    },
  };
}

async function benchPouchDb(dir: string, customers: readonly BenchCustomer[]): Promise<PeerFigures> {
  const pair = await startPouchDbPair(dir);
  const { remote, device } = pair;
  try {
    for (let start = 0; start < customers.length; start += PAGE_SIZE) {
      const written = await remote.bulkDocs(
        customers.slice(start, start + PAGE_SIZE).map((customer) => ({
          _id: customer.id,
          name: customer.name,
          phone: customer.phone,
          email: customer.email,
        })),
      );
      if (written.some((result) => 'error' in result)) throw new Error('a PouchDB seeding write failed');
    }

    const firstSyncMs = await timeMs(async () => {
      const result = await device.replicate.from(remote);
      if (!result.ok || result.docs_written !== customers.length)
        throw new Error(`PouchDB's first sync wrote ${result.docs_written} documents`);
    });

    const changed = await device.allDocs({
      keys: customers.slice(0, CHANGED_ROWS).map((customer) => customer.id),
      include_docs: true,
    });
    await device.bulkDocs(
      changed.rows.map((row, index) => {
        if (!('doc' in row) || !row.doc) throw new Error(`PouchDB lost ${row.key}`);
        return { ...row.doc, phone: changedPhone(index) };
      }),
    );
    const pushMs = await timeMs(async () => {
      const result = await device.replicate.to(remote);
      if (!result.ok || result.docs_written !== CHANGED_ROWS)
        throw new Error(`PouchDB pushed ${result.docs_written} of ${CHANGED_ROWS} documents`);
    });

    await device.sync(remote);
    const idle: number[] = [];
    for (let round = 0; round < IDLE_ROUNDS; round++) {
      idle.push(
        await timeMs(async () => {
          const result = await device.sync(remote);
          if ((result.push?.docs_written ?? 0) + (result.pull?.docs_written ?? 0) > 0)
            throw new Error('an idle sync had work');
        }),
      );
    }
    return { firstSyncMs, pushMs, idleMs: median(idle) };
  } finally {
    await pair.close();
  }
}

/** The raw parts: better-sqlite3 inserting and reading the same rows, a bare HTTP round trip, JSON.parse. */
interface Limits {
  readonly insertMs: number;
  readonly readMs: number;
  readonly pullParseMs: number;
  readonly pushParseMs: number;
  readonly roundTripMs: number;
}

function rawInsertAndRead(
  dir: string,
  customers: readonly BenchCustomer[],
): { insertMs: number; readMs: number } {
  const db = new BetterSqlite3(path.join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.exec(
    'CREATE TABLE customers (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, phone TEXT, email TEXT)',
  );
  const insert = db.prepare('INSERT INTO customers (id, name, phone, email) VALUES (?, ?, ?, ?)');
  const insertPage = db.transaction((page: readonly BenchCustomer[]) => {
    for (const customer of page) insert.run(customer.id, customer.name, customer.phone, customer.email);
  });
  const insertMs = timeSync(() => {
    for (let start = 0; start < customers.length; start += PAGE_SIZE)
      insertPage(customers.slice(start, start + PAGE_SIZE));
  });
  const select = db.prepare(
    'SELECT rowid, id, name, phone, email FROM customers WHERE rowid > ? ORDER BY rowid LIMIT ?',
  );
  let read = 0;
  const readMs = timeSync(() => {
    for (let after = 0; ;) {
      const page = select.all(after, PAGE_SIZE) as { rowid: number }[];
      read += page.length;
      if (page.length < PAGE_SIZE) break;
      after = page[page.length - 1]?.rowid ?? after;
    }
  });
  db.close();
  if (read !== customers.length) throw new Error(`the raw read found ${read} rows`);
  return { insertMs, readMs };
}

function timeSync(work: () => void): number {
  const started = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function bareRoundTripMs(): Promise<number> {
  const server = await startListeningProcess([path.join(BENCH_FOLDER, 'bare-http-server.js')]);
  try {
    const roundTrip = async (): Promise<void> => {
      const response = await fetch(`${server.url}/`);
      await response.text();
    };
    for (let warm = 0; warm < 20; warm++) await roundTrip();
    const times: number[] = [];
    for (let round = 0; round < ROUND_TRIPS; round++) times.push(await timeMs(roundTrip));
    return median(times);
  } finally {
    await server.stop();
  }
}

async function measureLimits(
  dir: string,
  customers: readonly BenchCustomer[],
  payloads: Payloads,
): Promise<Limits> {
  const { insertMs, readMs } = rawInsertAndRead(dir, customers);
  const parseAll = (texts: readonly string[]): number =>
    timeSync(() => {
      for (const text of texts) JSON.parse(text);
    });
  return {
    insertMs,
    readMs,
    pullParseMs: parseAll(payloads.pullPages),
    pushParseMs: parseAll(payloads.pushBodies),
    roundTripMs: await bareRoundTripMs(),
  };
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;
const round2 = (ms: number): number => Math.round(ms * 100) / 100;

/** `npm run bench peer`: Tillsync and PouchDB side by side, each Tillsync figure against its limit. */
export async function benchPeer(): Promise<BenchResult[]> {
  const dir = tempDir('peer');
  try {
    const customers = makeCustomers(ROWS);
    const tillsync = await benchTillsync(dir, customers);
    const pouchDb = await benchPouchDb(dir, customers);
    const limits = await measureLimits(dir, customers, tillsync);

    // The serial floor of each: the server reads the rows, they cross the wire in pages (one bare round
    // trip each), the other side parses the bytes Tillsync sent and writes the rows.
    const firstSyncPages = Math.ceil(ROWS / PAGE_SIZE);
    const firstSyncLimitMs =
      limits.readMs + limits.pullParseMs + limits.insertMs + firstSyncPages * limits.roundTripMs;
    const share = CHANGED_ROWS / ROWS;
    const pushLimitMs =
      limits.readMs * share +
      limits.pushParseMs +
      limits.insertMs * share +
      Math.ceil(CHANGED_ROWS / PAGE_SIZE) * limits.roundTripMs;
    const rows = ROWS.toLocaleString('en');
    const changed = CHANGED_ROWS.toLocaleString('en');
    const pouchName = 'PouchDB, same rows';
    return [
      {
        name: `first sync of ${rows} rows, server → empty device`,
        value: ratePerSecond(ROWS, tillsync.firstSyncMs),
        unit: 'rows/s',
        peer: { name: pouchName, value: ratePerSecond(ROWS, pouchDb.firstSyncMs) },
        limit: {
          name: 'raw read + JSON.parse + raw insert of the same rows, one bare round trip a page',
          value: ratePerSecond(ROWS, firstSyncLimitMs),
        },
        aim: '≥ 25× PouchDB',
        higherIsBetter: true,
      },
      {
        name: `pushing ${changed} changed rows, device → server`,
        value: ratePerSecond(CHANGED_ROWS, tillsync.pushMs),
        unit: 'rows/s',
        peer: { name: pouchName, value: ratePerSecond(CHANGED_ROWS, pouchDb.pushMs) },
        limit: {
          name: 'raw read + JSON.parse + raw insert of as many rows, one bare round trip a push',
          value: ratePerSecond(CHANGED_ROWS, pushLimitMs),
        },
        higherIsBetter: true,
      },
      {
        name: `a cycle with nothing to do (median of ${IDLE_ROUNDS}; PouchDB: a two-way sync)`,
        value: round1(tillsync.idleMs),
        unit: 'ms',
        peer: { name: pouchName, value: round1(pouchDb.idleMs) },
        limit: { name: 'one bare HTTP round trip', value: round2(limits.roundTripMs) },
        higherIsBetter: false,
      },
      {
        name: `raw better-sqlite3 insert of the same ${rows} rows (transactions of ${PAGE_SIZE.toLocaleString('en')})`,
        value: ratePerSecond(ROWS, limits.insertMs),
        unit: 'rows/s',
        higherIsBetter: true,
      },
      {
        name: `raw better-sqlite3 read of the same rows (pages of ${PAGE_SIZE.toLocaleString('en')})`,
        value: ratePerSecond(ROWS, limits.readMs),
        unit: 'rows/s',
        higherIsBetter: true,
      },
      {
        name: `raw JSON.parse of the pull pages as the server sent them (${megabytes(tillsync.pullPages)} MB)`,
        value: ratePerSecond(ROWS, limits.pullParseMs),
        unit: 'rows/s',
        higherIsBetter: true,
      },
      {
        name: `raw JSON.parse of the push bodies as the device sent them (${megabytes(tillsync.pushBodies)} MB)`,
        value: ratePerSecond(CHANGED_ROWS, limits.pushParseMs),
        unit: 'rows/s',
        higherIsBetter: true,
      },
      {
        name: `bare HTTP round trip on loopback (node:http, tiny body, fetch, median of ${ROUND_TRIPS})`,
        value: round2(limits.roundTripMs),
        unit: 'ms',
        higherIsBetter: false,
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function megabytes(texts: readonly string[]): string {
  const bytes = texts.reduce((total, text) => total + Buffer.byteLength(text), 0);
  return (bytes / 1e6).toFixed(1);
}

/** Rows of the mature shop both products sync (issue 20, shape (b)); the size is 1,000,000. */
const SHAPE_ROWS = countFromEnv('TILLSYNC_BENCH_PEER_SHAPE_ROWS', 1_000_000);

/** Puts `shop` on a PouchDB server as one device made it: the documents, the edits, the deletes, in pages. */
async function seedPouchDb(remote: PouchDB.Database<CustomerDoc>, shop: MatureShop): Promise<void> {
  const revisions = new Map<string, string>();
  const write = async (docs: ReadonlyArray<PouchDB.Core.PutDocument<CustomerDoc>>): Promise<void> => {
    for (let start = 0; start < docs.length; start += PAGE_SIZE) {
      const written = await remote.bulkDocs(docs.slice(start, start + PAGE_SIZE));
      for (const result of written) {
        if ('error' in result || !result.id || !result.rev) throw new Error('a PouchDB seeding write failed');
        revisions.set(result.id, result.rev);
      }
    }
  };
  const document = (customer: BenchCustomer): PouchDB.Core.PutDocument<CustomerDoc> => ({
    _id: customer.id,
    name: customer.name,
    phone: customer.phone,
    email: customer.email,
  });
  const current = (customer: BenchCustomer): { _id: string; _rev: string } => {
    const rev = revisions.get(customer.id);
    if (rev === undefined) throw new Error(`PouchDB has no revision of ${customer.id}`);
    return { _id: customer.id, _rev: rev };
  };
  await write(shop.made.map(document));
  await write(shop.edited.map((customer) => ({ ...document(customer), ...current(customer) })));
  await write(
    shop.deleted.map((customer) => ({ ...document(customer), ...current(customer), _deleted: true })),
  );
}

/** PouchDB's first sync of `shop` from an express-pouchdb server to an empty device, in ms. */
async function pouchDbFirstSyncMs(dir: string, shop: MatureShop): Promise<number> {
  const pair = await startPouchDbPair(dir);
  const { remote, device } = pair;
  try {
    await seedPouchDb(remote, shop);
    const ms = await timeMs(async () => {
      const result = await device.replicate.from(remote);
      if (!result.ok) throw new Error("PouchDB's first sync failed");
    });
    const info = await device.info();
    if (info.doc_count !== shop.live.length)
      throw new Error(`PouchDB's first sync left ${info.doc_count} documents, not ${shop.live.length}`);
    return ms;
  } finally {
    await pair.close();
  }
}

/**
 * `npm run bench -- "mature shop"`: the first sync of a mature shop (issue 20, shape (b): made in id order,
 * then 50 % edited in random order and 10 % deleted) on Tillsync and on PouchDB, the same rows and the same
 * history on both, each on loopback with its server in a process of its own.
 */
export async function benchPeerMatureShop(): Promise<BenchResult[]> {
  const dir = tempDir('peer-shape');
  try {
    const shop = matureShop(SHAPE_ROWS);
    const server = await startServeProcess(['--db', path.join(dir, 'cloud.db')], {
      TILLSYNC_ADMIN_EMAIL: BENCH_EMAIL,
      TILLSYNC_ADMIN_PASSWORD: BENCH_PASSWORD,
    });
    let tillsyncMs: number;
    try {
      await seedMatureShop(server, shop);
      tillsyncMs = (await timedFirstSync(server, dir, shop.live.length)).ms;
    } finally {
      await server.stop();
    }
    const pouchDbMs = await pouchDbFirstSyncMs(dir, shop);
    const live = shop.live.length;
    return [
      {
        name: `first sync of a mature shop, server → empty device: ${SHAPE_ROWS.toLocaleString('en')} rows made in id order, 50 % edited in random order, 10 % deleted (${live.toLocaleString('en')} live)`,
        value: ratePerSecond(live, tillsyncMs),
        unit: 'rows/s',
        peer: { name: 'PouchDB, same rows and history', value: ratePerSecond(live, pouchDbMs) },
        aim: '≥ 25× PouchDB',
        higherIsBetter: true,
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

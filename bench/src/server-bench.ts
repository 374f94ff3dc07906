import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import type { PullResponse, PushResponse } from '@tillsync/protocol';
import { startServer } from '@tillsync/server';
import {
  countFromEnv,
  freshPostgresDatabase,
  ratePerSecond,
  tempDir,
  timeMs,
  type BenchResult,
} from './measure.js';
import {
  BENCH_EMAIL as EMAIL,
  BENCH_PASSWORD as PASSWORD,
  customerChanges,
  makeCustomers,
  type BenchCustomer,
} from './serve-process.js';

const ROWS = countFromEnv('TILLSYNC_BENCH_SERVER_ROWS', 100_000);
export const PUSH_SIZE = 1_000;
/** Reads are short: the best of a few rounds, for the baseline and the figure alike. */
const READ_ROUNDS = 3;

/** Raw better-sqlite3: the same rows into a plain table, in transactions of the push size. */
function rawInsertAndRead(dir: string, rows: readonly BenchCustomer[]): { insertMs: number; readMs: number } {
  const db = new BetterSqlite3(path.join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(
    'CREATE TABLE customers (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, phone TEXT, email TEXT)',
  );
  const insert = db.prepare(
    'INSERT INTO customers (id, name, phone, email) VALUES (@id, @name, @phone, @email)',
  );
  const insertBatch = db.transaction((batch: readonly BenchCustomer[]) => {
    for (const row of batch) insert.run(row);
  });
  let started = process.hrtime.bigint();
  for (let start = 0; start < rows.length; start += PUSH_SIZE)
    insertBatch(rows.slice(start, start + PUSH_SIZE));
  const insertMs = Number(process.hrtime.bigint() - started) / 1e6;
  const select = db.prepare(
    'SELECT id, name, phone, email FROM customers WHERE rowid > ? ORDER BY rowid LIMIT 5000',
  );
  const readAll = (): void => {
    let read = 0;
    for (let after = 0; ; after += 5000) {
      const page = select.all(after);
      read += page.length;
      if (page.length < 5000) break;
    }
    if (read !== ROWS) throw new Error(`raw read ${read} rows`);
  };
  let readMs = Infinity;
  for (let round = 0; round < READ_ROUNDS; round++) {
    started = process.hrtime.bigint();
    readAll();
    readMs = Math.min(readMs, Number(process.hrtime.bigint() - started) / 1e6);
  }
  db.close();
  return { insertMs, readMs };
}

/** The cloud server on its embedded SQLite file. */
export function benchServerSqlite(): Promise<BenchResult[]> {
  return benchServer('sqlite');
}

/** The cloud server on PostgreSQL (the machine's, on a database made for the run and dropped after). */
export function benchServerPostgres(): Promise<BenchResult[]> {
  return benchServer('postgres');
}

export type BenchServer = Awaited<ReturnType<typeof startServer>>;

export function serverOptions(
  dir: string,
  file: string,
  database: { readonly url: string } | null,
): Parameters<typeof startServer>[0] {
  return {
    ...(database ? { databaseUrl: database.url } : { dbPath: path.join(dir, file) }),
    port: 0,
    logger: false,
    adminEmail: EMAIL,
    adminPassword: PASSWORD,
  };
}

export async function post<T>(server: BenchServer, url: string, body: unknown, token?: string): Promise<T> {
  const response = await fetch(server.url + url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

/** The owner's token, and the token and id of a device paired for the bench. */
export async function pairBenchDevice(
  server: BenchServer,
): Promise<{ token: string; deviceToken: string; deviceId: string }> {
  const { token } = await post<{ token: string }>(server, '/api/auth/login', {
    email: EMAIL,
    password: PASSWORD,
  });
  const { code } = await post<{ code: string }>(server, '/api/pairing-codes', {}, token);
  const device = await post<{ accessToken: string; deviceId: string }>(server, '/api/devices/pair', {
    code,
    name: 'bench',
    platform: 'bench',
  });
  return { token, deviceToken: device.accessToken, deviceId: device.deviceId };
}

/**
 * Pushes every row, in pushes of {@link PUSH_SIZE}, one after another, calling `beforePush` before each;
 * answers the time it took in ms.
 */
export async function pushAll(
  server: BenchServer,
  deviceToken: string,
  rows: readonly BenchCustomer[],
  beforePush: () => void = () => {},
): Promise<number> {
  const now = Date.now();
  const pushes: string[] = [];
  for (let start = 0; start < rows.length; start += PUSH_SIZE) {
    const changes = customerChanges(rows.slice(start, start + PUSH_SIZE), start, now);
    pushes.push(JSON.stringify({ pushId: uuidv7(), changes }));
  }
  return timeMs(async () => {
    for (const body of pushes) {
      beforePush();
      const response = await fetch(`${server.url}/api/sync/push`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${deviceToken}` },
        body,
      });
      const answer = (await response.json()) as PushResponse;
      if (answer.results.some((result) => result.status !== 'applied'))
        throw new Error('a bench push was not applied');
    }
  });
}

/**
 * The same pushes into a server of its own whose SQLite file commits at `synchronous = NORMAL` (the
 * durability the job store's own transitions use), set before each push. Its job queue polls once an hour,
 * so no job store commit, which sets the connection back to FULL as it ends, runs meanwhile.
 */
async function pushUnsynced(dir: string, rows: readonly BenchCustomer[]): Promise<number> {
  const server = await startServer({
    ...serverOptions(dir, 'unsynced.db', null),
    jobs: { pollIntervalMs: 3_600_000 },
  });
  try {
    const { deviceToken } = await pairBenchDevice(server);
    const { setDurability } = server.storage.engine;
    if (!setDurability) throw new Error('the embedded server runs on SQLite');
    return await pushAll(server, deviceToken, rows, () => setDurability('lazy'));
  } finally {
    await server.close();
  }
}

async function benchServer(engine: 'sqlite' | 'postgres'): Promise<BenchResult[]> {
  const dir = tempDir('server');
  const database = engine === 'postgres' ? await freshPostgresDatabase() : null;
  const rows = makeCustomers(ROWS);
  const raw = rawInsertAndRead(dir, rows);
  const rawInsertRate = ratePerSecond(ROWS, raw.insertMs);
  const rawReadRate = ratePerSecond(ROWS, raw.readMs);

  const server = await startServer(serverOptions(dir, 'cloud.db', database));
  try {
    const { deviceToken } = await pairBenchDevice(server);
    const pushMs = await pushAll(server, deviceToken, rows);
    // What synced commits cost the embedded server (issue #25's promise that an acknowledged push is on
    // disk): the same pushes into a second server whose file commits at NORMAL, as it did before.
    const unsyncedPushMs = engine === 'sqlite' ? await pushUnsynced(dir, rows) : null;

    const store = server.storage.sync.forTenant(
      (await post<{ tenantId: string }>(server, '/api/auth/login', { email: EMAIL, password: PASSWORD }))
        .tenantId,
    );
    // The store's work for a pull of another device from its cursor, in sequence order by its scope's
    // index, as a device that synced before asks for the changes since (the pushing device would be handed
    // none of its own rows back).
    const reader = await pairBenchDevice(server);
    let storePullMs = Infinity;
    for (let round = 0; round < READ_ROUNDS; round++) {
      let storePulled = 0;
      const ms = await timeMs(async () => {
        for (let since = 0; ;) {
          const page = await store.pull(since, 5000, 0, reader.deviceId);
          if (page.resyncRequired) throw new Error('resync');
          storePulled += page.rows.length;
          since = page.cursorSeq;
          if (!page.hasMore) break;
        }
      });
      if (storePulled !== ROWS) throw new Error(`store pulled ${storePulled} rows`);
      storePullMs = Math.min(storePullMs, ms);
    }
    let httpPulled = 0;
    const httpPullMs = await timeMs(async () => {
      for (let cursor = ''; ;) {
        const response = await fetch(
          `${server.url}/api/sync/pull?limit=5000&since=${encodeURIComponent(cursor)}`,
          {
            headers: { authorization: `Bearer ${deviceToken}` },
          },
        );
        const page = (await response.json()) as PullResponse;
        httpPulled += page.changes.length;
        cursor = page.cursor;
        if (!page.hasMore) break;
      }
    });
    if (httpPulled !== ROWS) throw new Error(`pulled ${httpPulled} rows over HTTP`);

    return [
      {
        name: `push ingest over HTTP (${ROWS.toLocaleString('en')} rows in pushes of ${PUSH_SIZE})`,
        value: ratePerSecond(ROWS, pushMs),
        unit: 'rows/s',
        baseline: { name: 'raw better-sqlite3 insert of the same rows', value: rawInsertRate },
        aim: engine === 'postgres' ? '≥ 30,000 rows/s per process' : '≥ 50,000 rows/s',
        higherIsBetter: true,
      },
      ...(unsyncedPushMs === null
        ? []
        : [
            {
              name: `push ingest over HTTP at synchronous = NORMAL, commits not synced (not what ships: the cost of FULL is the ratio above ÷ this one)`,
              value: ratePerSecond(ROWS, unsyncedPushMs),
              unit: 'rows/s',
              baseline: { name: 'raw better-sqlite3 insert of the same rows', value: rawInsertRate },
              higherIsBetter: true,
            },
          ]),
      {
        name: `pull, server side (store pages of 5,000, ${ROWS.toLocaleString('en')} rows, best of ${READ_ROUNDS})`,
        value: ratePerSecond(ROWS, storePullMs),
        unit: 'rows/s',
        baseline: {
          name: `raw better-sqlite3 read of the same rows, best of ${READ_ROUNDS}`,
          value: rawReadRate,
        },
        ...(engine === 'sqlite' ? { aim: '≥ 0.5 of the raw read rate' } : {}),
        higherIsBetter: true,
      },
      {
        name: `pull over HTTP (pages of 5,000, ${ROWS.toLocaleString('en')} rows)`,
        value: ratePerSecond(ROWS, httpPullMs),
        unit: 'rows/s',
        baseline: { name: 'raw better-sqlite3 read of the same rows', value: rawReadRate },
        higherIsBetter: true,
      },
    ];
  } finally {
    await server.close();
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

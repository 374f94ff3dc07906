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
const PUSH_SIZE = 1_000;
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

async function benchServer(engine: 'sqlite' | 'postgres'): Promise<BenchResult[]> {
  const dir = tempDir('server');
  const database = engine === 'postgres' ? await freshPostgresDatabase() : null;
  const rows = makeCustomers(ROWS);
  const raw = rawInsertAndRead(dir, rows);
  const rawInsertRate = ratePerSecond(ROWS, raw.insertMs);
  const rawReadRate = ratePerSecond(ROWS, raw.readMs);

  const server = await startServer({
    ...(database ? { databaseUrl: database.url } : { dbPath: path.join(dir, 'cloud.db') }),
    port: 0,
    logger: false,
    adminEmail: EMAIL,
    adminPassword: PASSWORD,
  });
  try {
    const post = async <T>(url: string, body: unknown, token?: string): Promise<T> => {
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
    };
    const { token } = await post<{ token: string }>('/api/auth/login', { email: EMAIL, password: PASSWORD });
    const { code } = await post<{ code: string }>('/api/pairing-codes', {}, token);
    const device = await post<{ accessToken: string }>('/api/devices/pair', {
      code,
      name: 'bench',
      platform: 'bench',
    });

    const now = Date.now();
    const pushes: string[] = [];
    for (let start = 0; start < ROWS; start += PUSH_SIZE) {
      const changes = customerChanges(rows.slice(start, start + PUSH_SIZE), start, now);
      pushes.push(JSON.stringify({ pushId: uuidv7(), changes }));
    }
    const pushMs = await timeMs(async () => {
      for (const body of pushes) {
        const response = await fetch(`${server.url}/api/sync/push`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${device.accessToken}` },
          body,
        });
        const answer = (await response.json()) as PushResponse;
        if (answer.results.some((result) => result.status !== 'applied'))
          throw new Error('a bench push was not applied');
      }
    });

    const store = server.storage.sync.forTenant(
      (await post<{ tenantId: string }>('/api/auth/login', { email: EMAIL, password: PASSWORD })).tenantId,
    );
    let storePullMs = Infinity;
    for (let round = 0; round < READ_ROUNDS; round++) {
      let storePulled = 0;
      const ms = await timeMs(async () => {
        for (let since = 0; ;) {
          const page = await store.pull(since, 5000);
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
            headers: { authorization: `Bearer ${device.accessToken}` },
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

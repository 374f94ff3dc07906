import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { startServer, type RowWrite } from '@tillsync/server';
import { formatStamp } from '@tillsync/protocol';
import {
  countFromEnv,
  freshPostgresDatabase,
  adminQuery,
  postgresUrl,
  ratePerSecond,
  tempDir,
  timeMs,
  type BenchResult,
} from './measure.js';
import { BENCH_EMAIL, BENCH_PASSWORD, makeCustomers, type BenchCustomer } from './serve-process.js';
import { pairBenchDevice, post, PUSH_SIZE, pushAll, serverOptions } from './server-bench.js';

/**
 * Push ingest into a big tenant (issue 20, shape (c)): a tenant that already holds TENANT_ROWS customers with
 * random UUIDv4 ids takes INGEST_ROWS more, also with random ids, in pushes of 1,000 over HTTP, on SQLite and on
 * PostgreSQL. The baseline, in the same run: the raw insert of the same rows, as the server stores them, into a
 * copy of the same filled database (the same table, keys and indexes), in transactions of the push size, in
 * arrival order, committed as durably as a push (SQLite `synchronous = FULL`; PostgreSQL's default).
 *
 * The tenant is filled once per process, straight through the store's own row write (the rows exactly as the
 * server keeps them, with their sequence numbers and checksums), and each run starts from a copy of it: the
 * SQLite file copied, the PostgreSQL database made from it as a template.
 */

const TENANT_ROWS = countFromEnv('TILLSYNC_BENCH_TENANT_ROWS', 1_000_000);
const INGEST_ROWS = countFromEnv('TILLSYNC_BENCH_INGEST_ROWS', 100_000);
/** Rows per transaction while filling the tenant. */
const FILL_BATCH = 10_000;

/** A filled tenant to start each run from. */
interface FilledTenant {
  readonly tenantId: string;
  /** SQLite: the file; PostgreSQL: the template database's name. */
  readonly source: string;
}

const filled = new Map<'sqlite' | 'postgres', Promise<FilledTenant>>();
/** Removed when the process exits: the filled files and template databases. */
const cleanups: Array<() => Promise<void>> = [];

/** The rows a tenant holds before the ingest, as a push of each would have stored them. */
function fillWrites(
  customers: readonly BenchCustomer[],
  first: number,
  ms: number,
  deviceId: string,
): RowWrite[] {
  return customers.map((customer, offset) => ({
    table: 'customers',
    id: customer.id,
    values: { name: customer.name, phone: customer.phone, email: customer.email },
    updatedAt: formatStamp({
      ms,
      counter: (first + offset) % 0xffff,
      nodeId: `fill${Math.floor((first + offset) / 0xffff)}`,
    }),
    deviceId,
    stamps: null,
    previous: undefined,
    scope: '',
    uniqueValues: [],
  }));
}

async function fillTenant(engine: 'sqlite' | 'postgres'): Promise<FilledTenant> {
  const dir = tempDir('ingest-fill');
  const database = engine === 'postgres' ? await freshPostgresDatabase() : null;
  cleanups.push(async () => {
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const server = await startServer(serverOptions(dir, 'filled.db', database));
  try {
    const { tenantId } = await post<{ tenantId: string }>(server, '/api/auth/login', {
      email: BENCH_EMAIL,
      password: BENCH_PASSWORD,
    });
    const store = server.storage.sync.forTenant(tenantId);
    const deviceId = randomUUID();
    const made = Date.now() - 3_600_000;
    for (let start = 0; start < TENANT_ROWS; start += FILL_BATCH) {
      const customers = makeCustomers(Math.min(FILL_BATCH, TENANT_ROWS - start), randomUUID);
      await store.push((tx) => tx.writeRows(fillWrites(customers, start, made, deviceId)));
    }
    return {
      tenantId,
      source: database ? new URL(database.url).pathname.slice(1) : path.join(dir, 'filled.db'),
    };
  } finally {
    await server.close();
  }
}

/** The filled tenant of `engine`, made on first use. */
function filledTenant(engine: 'sqlite' | 'postgres'): Promise<FilledTenant> {
  let tenant = filled.get(engine);
  if (!tenant) {
    tenant = fillTenant(engine);
    filled.set(engine, tenant);
  }
  return tenant;
}

/** Drops what {@link filledTenant} made; the bench runner calls it when every suite has run. */
export async function dropFilledTenants(): Promise<void> {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  filled.clear();
}

/** A copy of the filled tenant to run on: a SQLite file, or a PostgreSQL database made from the template. */
interface Copy {
  readonly sqliteFile: string | null;
  readonly postgresUrl: string | null;
  drop(): Promise<void>;
}

async function copyOf(
  engine: 'sqlite' | 'postgres',
  tenant: FilledTenant,
  dir: string,
  name: string,
): Promise<Copy> {
  if (engine === 'sqlite') {
    const file = path.join(dir, `${name}.db`);
    fs.copyFileSync(tenant.source, file);
    // On disk before the clock starts: the copy's writes must not be flushed during the timed work.
    const fd = fs.openSync(file, 'r+');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    return { sqliteFile: file, postgresUrl: null, drop: () => Promise.resolve() };
  }
  const database = `${tenant.source}_${name}`;
  // Copied file by file and checkpointed (rather than written through the log), so the copy is on disk, and
  // no checkpoint of it falls into the timed work.
  await adminQuery(`create database ${database} template ${tenant.source} strategy = file_copy`);
  await adminQuery('checkpoint');
  return {
    sqliteFile: null,
    postgresUrl: postgresUrl(database),
    drop: () => adminQuery(`drop database if exists ${database} with (force)`),
  };
}

/** The columns of `sync_rows` the raw insert writes, in the order of {@link rawRow}. */
const RAW_COLUMNS =
  '(tenant_id, tbl, id, data, updated_at, deleted, seq, device_id, stamps, scope, stored_at)';

/** A row as the server stores it for a push of `customer`, the `position`-th after the tenant's last. */
function rawRow(
  tenantId: string,
  customer: BenchCustomer,
  seq: number,
  now: number,
  deviceId: string,
): unknown[] {
  return [
    tenantId,
    'customers',
    customer.id,
    JSON.stringify({ name: customer.name, phone: customer.phone, email: customer.email }),
    formatStamp({ ms: now, counter: seq % 0xffff, nodeId: 'raw' }),
    0,
    seq,
    deviceId,
    null,
    '',
    now,
  ];
}

/** The raw insert into a copy of the filled SQLite file, in ms. */
export function rawSqliteInsertMs(file: string, tenantId: string, rows: readonly BenchCustomer[]): number {
  const db = new BetterSqlite3(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const lastSeq = Number(
      (db.prepare('select last_seq from tenants where id = ?').get(tenantId) as { last_seq: number })
        .last_seq,
    );
    const insert = db.prepare(
      `insert into sync_rows ${RAW_COLUMNS} values (${new Array(11).fill('?').join(', ')})`,
    );
    const now = Date.now();
    const deviceId = randomUUID();
    const insertBatch = db.transaction((batch: readonly BenchCustomer[], first: number) => {
      batch.forEach((customer, offset) =>
        insert.run(rawRow(tenantId, customer, first + offset, now, deviceId)),
      );
    });
    const started = process.hrtime.bigint();
    for (let start = 0; start < rows.length; start += PUSH_SIZE)
      insertBatch(rows.slice(start, start + PUSH_SIZE), lastSeq + start + 1);
    return Number(process.hrtime.bigint() - started) / 1e6;
  } finally {
    db.close();
  }
}

/** The raw insert into a copy of the filled PostgreSQL database: one multi-row INSERT per transaction, in ms. */
async function rawPostgresInsertMs(
  url: string,
  tenantId: string,
  rows: readonly BenchCustomer[],
): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: found } = await client.query<{ last_seq: string }>(
      'select last_seq from tenants where id = $1',
      [tenantId],
    );
    const lastSeq = Number(found[0]?.last_seq ?? 0);
    const now = Date.now();
    const deviceId = randomUUID();
    const text = (count: number): string =>
      `insert into sync_rows ${RAW_COLUMNS} values ${Array.from(
        { length: count },
        (_, row) => `(${Array.from({ length: 11 }, (_, column) => `$${row * 11 + column + 1}`).join(', ')})`,
      ).join(', ')}`;
    return await timeMs(async () => {
      for (let start = 0; start < rows.length; start += PUSH_SIZE) {
        const batch = rows.slice(start, start + PUSH_SIZE);
        await client.query('begin');
        await client.query(
          text(batch.length),
          batch.flatMap((customer, offset) =>
            rawRow(tenantId, customer, lastSeq + start + offset + 1, now, deviceId),
          ),
        );
        await client.query('commit');
      }
    });
  } finally {
    await client.end();
  }
}

/** One run on `engine`: the pushes into one copy of the filled tenant, the raw insert into another. */
async function benchIngest(engine: 'sqlite' | 'postgres'): Promise<BenchResult> {
  const tenant = await filledTenant(engine);
  const dir = tempDir('ingest');
  const rows = makeCustomers(INGEST_ROWS, randomUUID);
  const copies: Copy[] = [];
  try {
    const raw = await copyOf(engine, tenant, dir, 'raw');
    copies.push(raw);
    const rawMs = raw.sqliteFile
      ? rawSqliteInsertMs(raw.sqliteFile, tenant.tenantId, rows)
      : await rawPostgresInsertMs(raw.postgresUrl ?? '', tenant.tenantId, rows);

    const pushed = await copyOf(engine, tenant, dir, 'pushed');
    copies.push(pushed);
    const server = await startServer({
      ...serverOptions(
        path.dirname(pushed.sqliteFile ?? dir),
        path.basename(pushed.sqliteFile ?? 'unused.db'),
        pushed.postgresUrl ? { url: pushed.postgresUrl } : null,
      ),
    });
    let pushMs: number;
    try {
      const { deviceToken } = await pairBenchDevice(server);
      pushMs = await pushAll(server, deviceToken, rows);
    } finally {
      await server.close();
    }
    const tenantRows = TENANT_ROWS.toLocaleString('en');
    return {
      name: `${engine === 'sqlite' ? 'SQLite' : 'PostgreSQL'}: push ingest over HTTP, random UUIDv4 ids, into a tenant of ${tenantRows} rows with random ids (${INGEST_ROWS.toLocaleString('en')} rows in pushes of ${PUSH_SIZE})`,
      value: ratePerSecond(INGEST_ROWS, pushMs),
      unit: 'rows/s',
      baseline: {
        name: `raw ${engine === 'sqlite' ? 'better-sqlite3 (synchronous = FULL)' : 'pg, one multi-row INSERT a transaction,'} insert of the same rows into a copy of the same filled sync_rows, transactions of ${PUSH_SIZE}, arrival order`,
        value: ratePerSecond(INGEST_ROWS, rawMs),
      },
      aim: engine === 'postgres' ? '≥ 30,000 rows/s per process' : '≥ 50,000 rows/s',
      higherIsBetter: true,
    };
  } finally {
    for (const copy of copies) await copy.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `npm run bench -- "Push ingest into a big tenant"`: SQLite, then PostgreSQL. */
export async function benchIngestIntoBigTenant(): Promise<BenchResult[]> {
  return [await benchIngest('sqlite'), await benchIngest('postgres')];
}

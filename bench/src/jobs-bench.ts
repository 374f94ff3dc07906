import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { CompiledSchema, SHOP_SCHEMA } from '@tillsync/protocol';
import {
  BullMqJobQueue,
  EmbeddedJobQueue,
  JobExecutor,
  JobTypeRegistry,
  SyncJobs,
  defineSyncJobType,
  type JobQueue,
} from '@tillsync/jobs';
import { openStorage, type Storage, type StorageLocation } from '@tillsync/server';
import {
  REDIS_URL,
  countFromEnv,
  freshPostgresDatabase,
  ratePerSecond,
  tempDir,
  type BenchResult,
} from './measure.js';

/** Enough jobs that a run lasts seconds: at 5,000 a run was over in under a second, mostly its start. */
const JOBS = countFromEnv('TILLSYNC_BENCH_JOBS', 20_000);
/** Raw BullMQ runs more jobs than ours: it is quick, and a short run would measure its start. */
const RAW_JOBS = 4 * JOBS;
/**
 * Jobs run at once by each worker, ours and raw BullMQ's alike: the concurrency at which the aim's reference
 * rate (about 7,000 raw BullMQ jobs/s for one worker) was given.
 */
const CONCURRENCY = 50;
const CLI = fileURLToPath(new URL('../../packages/cli/bin/tillsync.js', import.meta.url));

/** A job that does nothing and ends `No Target`: what is measured is the framework, not the work. */
const NOOP = { name: 'noop', sourceTable: 'customers', mode: 'bypass' as const, execute: () => null };

interface Shop {
  readonly dir: string;
  readonly location: StorageLocation;
  readonly storage: Storage;
  readonly jobs: ReturnType<SyncJobs['forTenant']>;
  readonly registry: JobTypeRegistry;
  readonly schema: CompiledSchema;
  /** The queue the jobs run on, woken by each enqueue as the server wakes it: set once it is made. */
  transport: JobQueue | null;
  /** Whether any job is still to end (queued or running): a read that stops at the first such job. */
  anyUnended(): Promise<boolean>;
  /** How many jobs ended `No Target`, as every bench job must: a read of every job, made once at the end. */
  ended(): Promise<number>;
  close(): Promise<void>;
}

async function openShop(name: string, postgres = false): Promise<Shop> {
  const dir = tempDir(`jobs-${name}`);
  const database = postgres ? await freshPostgresDatabase() : null;
  const location: StorageLocation = database
    ? { databaseUrl: database.url }
    : { dbPath: path.join(dir, 'cloud.db') };
  const storage = await openStorage(location);
  const { tenantId } = await storage.accounts.createTenant({
    name: 'Bench',
    email: `${randomUUID()}@b.test`,
    passwordHash: 'x',
  });
  const schema = new CompiledSchema(SHOP_SCHEMA);
  const registry = new JobTypeRegistry([defineSyncJobType(NOOP)]);
  const jobs = new SyncJobs({
    store: storage.createJobStore({ schema, types: registry }),
    types: registry,
    onQueued: (queue) => shop.transport?.wake(queue),
  }).forTenant(tenantId);
  // Read through a connection of its own, off the store's connections. The poll made while jobs run stops at
  // the first job still to end, found through the index of its status: counting them would read thousands of
  // rows every few milliseconds (on PostgreSQL, several milliseconds of a core each time) and take that from
  // the system measured.
  const unendedQuery =
    "select case when exists (select 1 from sync_jobs where status = 'Queued') or exists (select 1 from sync_jobs where status = 'Started') then 1 else 0 end as n";
  const endedQuery = "select count(*) as n from sync_jobs where status = 'No Target'";
  let count: (query: string) => Promise<number>;
  let closeCounter: () => Promise<void>;
  if (database) {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    count = async (query) => Number((await client.query<{ n: string }>(query)).rows[0]?.n ?? 0);
    closeCounter = () => client.end();
  } else {
    const counter = new BetterSqlite3(path.join(dir, 'cloud.db'), { readonly: true });
    count = (query) => Promise.resolve((counter.prepare(query).get() as { n: number }).n);
    closeCounter = () => Promise.resolve(void counter.close());
  }
  const shop: Shop = {
    dir,
    location,
    storage,
    jobs,
    registry,
    schema,
    transport: null,
    anyUnended: async () => (await count(unendedQuery)) > 0,
    ended: () => count(endedQuery),
    async close() {
      await closeCounter();
      await storage.close();
      await database?.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return shop;
}

/**
 * Enqueues `count` no-op jobs through the public API, a batch at a time, each waking the shop's queue as the
 * server's enqueues do, and waits until all have ended.
 */
async function runAll(shop: Shop, count: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (let done = 0; done < count; done += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, count - done) }, (_, index) =>
        shop.jobs.enqueue({ type: 'noop', context: { n: done + index } }),
      ),
    );
  }
  const deadline = Date.now() + 120_000;
  while (await shop.anyUnended()) {
    if (Date.now() > deadline) throw new Error(`only ${await shop.ended()} of ${count} bench jobs ended`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const ended = await shop.ended();
  if (ended !== count) throw new Error(`${ended} of ${count} bench jobs ended No Target`);
  return ms;
}

async function benchEmbedded(): Promise<number> {
  const shop = await openShop('embedded');
  const store = shop.storage.createJobStore({ schema: shop.schema, types: shop.registry });
  const queue: JobQueue = new EmbeddedJobQueue({
    store,
    executor: new JobExecutor({ store, types: shop.registry }),
    concurrency: CONCURRENCY,
    pollIntervalMs: 50,
  });
  shop.transport = queue;
  await queue.start();
  try {
    return ratePerSecond(JOBS, await runAll(shop, JOBS));
  } finally {
    await queue.stop();
    await shop.close();
  }
}

/** Raw BullMQ: no-op jobs added in bulk and processed by `workers` workers, on a fresh prefix. */
async function benchRawBullMq(workers: number): Promise<number> {
  const prefix = `tillsync-bench-${randomUUID().slice(0, 8)}`;
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('raw', { connection, prefix });
  let processed = 0;
  // BullMQ leaves the connections it is given open; they are closed here, or the process would not end.
  const workerConnections = Array.from(
    { length: workers },
    () => new Redis(REDIS_URL, { maxRetriesPerRequest: null }),
  );
  const running = workerConnections.map((workerConnection) => {
    const worker = new Worker(
      'raw',
      () => {
        processed += 1;
        return Promise.resolve();
      },
      { connection: workerConnection, prefix, concurrency: CONCURRENCY },
    );
    return worker;
  });
  await Promise.all(running.map((worker) => worker.waitUntilReady()));
  const started = process.hrtime.bigint();
  for (let done = 0; done < RAW_JOBS; done += 1000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1000, RAW_JOBS - done) }, (_, index) => ({
        name: 'noop',
        data: { n: done + index },
        opts: { jobId: `${done + index}`.padStart(8, 'j'), removeOnComplete: true, removeOnFail: true },
      })),
    );
  }
  while (processed < RAW_JOBS) await new Promise((resolve) => setTimeout(resolve, 5));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await Promise.all(running.map((worker) => worker.close()));
  await queue.obliterate({ force: true });
  await queue.close();
  await Promise.all([connection, ...workerConnections].map((open) => open.quit()));
  return ratePerSecond(RAW_JOBS, ms);
}

/** Ours on BullMQ: the dispatcher here, `workers` `tillsync worker --redis-url` processes running the jobs. */
async function benchOursOnBullMq(workers: number, postgres = false): Promise<number> {
  const shop = await openShop(`bullmq-${workers}${postgres ? '-pg' : ''}`, postgres);
  const database =
    'databaseUrl' in shop.location
      ? ['--database-url', shop.location.databaseUrl]
      : ['--db', shop.location.dbPath];
  const prefix = `tillsync-bench-${randomUUID().slice(0, 8)}`;
  const moduleFile = path.join(shop.dir, 'noop-jobs.mjs');
  fs.writeFileSync(
    moduleFile,
    `export default [{ name: 'noop', sourceTable: 'customers', mode: 'bypass', execute: () => null }];\n`,
  );
  const store = shop.storage.createJobStore({ schema: shop.schema, types: shop.registry });
  const dispatcher = new BullMqJobQueue({ store, redisUrl: REDIS_URL, prefix, pollIntervalMs: 20 });
  const children: ChildProcess[] = [];
  try {
    for (let index = 0; index < workers; index++) {
      const child = spawn(
        process.execPath,
        [
          CLI,
          'worker',
          ...database,
          '--jobs',
          moduleFile,
          '--redis-url',
          REDIS_URL,
          '--bullmq-prefix',
          prefix,
          '--concurrency',
          String(CONCURRENCY),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('tillsync worker: running')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`a bench worker exited with ${code}`)));
      });
    }
    shop.transport = dispatcher;
    await dispatcher.start();
    return ratePerSecond(JOBS, await runAll(shop, JOBS));
  } finally {
    await dispatcher.stop();
    for (const child of children) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await shop.close();
  }
}

/** `npm run bench jobs`: no-op sync jobs end to end, embedded and on BullMQ, beside raw BullMQ. */
export async function benchJobs(): Promise<BenchResult[]> {
  const embedded = await benchEmbedded();
  const raw1 = await benchRawBullMq(1);
  const raw2 = await benchRawBullMq(2);
  const one = await benchOursOnBullMq(1);
  const two = await benchOursOnBullMq(2);
  const onePg = await benchOursOnBullMq(1, true);
  const twoPg = await benchOursOnBullMq(2, true);
  return [
    {
      name: `no-op jobs end to end, embedded queue (${JOBS.toLocaleString('en')} jobs, enqueue to end)`,
      value: embedded,
      unit: 'jobs/s',
      aim: '≥ 2,000 jobs/s',
      higherIsBetter: true,
    },
    {
      name: `no-op jobs end to end on BullMQ, one \`tillsync worker\` process`,
      value: one,
      unit: 'jobs/s',
      baseline: { name: 'raw BullMQ no-op jobs, one worker, same run', value: raw1 },
      higherIsBetter: true,
    },
    {
      name: `no-op jobs end to end on BullMQ, two \`tillsync worker\` processes`,
      value: two,
      unit: 'jobs/s',
      baseline: { name: 'raw BullMQ no-op jobs, two workers, same run', value: raw2 },
      aim: '≥ 0.4 of raw BullMQ, and above one worker process',
      higherIsBetter: true,
    },
    {
      name: 'no-op jobs end to end on BullMQ and PostgreSQL, one `tillsync worker` process',
      value: onePg,
      unit: 'jobs/s',
      baseline: { name: 'raw BullMQ no-op jobs, one worker, same run', value: raw1 },
      higherIsBetter: true,
    },
    {
      name: 'no-op jobs end to end on BullMQ and PostgreSQL, two `tillsync worker` processes',
      value: twoPg,
      unit: 'jobs/s',
      baseline: { name: 'raw BullMQ no-op jobs, two workers, same run', value: raw2 },
      aim: '≥ 0.4 of raw BullMQ, and above one worker process',
      higherIsBetter: true,
    },
  ];
}

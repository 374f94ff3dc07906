import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CompiledSchema,
  SHOP_SCHEMA,
  formatStamp,
  type Change,
  type PushResponse,
  type SyncJob,
  type SyncJobStatus,
} from '@tillsync/protocol';
import { applyPush, openStorage, syncJobTriggers, type SqlJobStore, type Storage } from '@tillsync/server';
import {
  JobExecutor,
  JobTypeRegistry,
  SyncJobs,
  type JobQueue,
  type SyncJobType,
  type TenantSyncJobs,
} from '@tillsync/jobs';
import { freshPostgresDatabase } from '../postgres-fixture.js';

/** A real store on a fresh SQLite file in a temp folder, with one tenant, for one test. */
export interface JobsTestEnv {
  readonly dir: string;
  readonly dbPath: string;
  readonly storage: Storage;
  readonly store: SqlJobStore;
  readonly schema: CompiledSchema;
  readonly types: JobTypeRegistry;
  readonly tenantId: string;
  readonly jobs: TenantSyncJobs;
  /** Pushes changes as a device would (triggers included). */
  push(changes: readonly Change[]): Promise<PushResponse>;
  /** A device's stamp, now. */
  stamp(): string;
  executor(options?: { leaseMs?: number; workerId?: string }): JobExecutor;
  /** Waits until the job has one of these statuses; fails with the job's state after `timeoutMs`. */
  waitFor(id: string, statuses: readonly SyncJobStatus[], timeoutMs?: number): Promise<SyncJob>;
  /** Tells the queues under test that jobs are ready. */
  wakeAll(): void;
  queues: JobQueue[];
  close(): Promise<void>;
}

/** Opens the env on a fresh SQLite file, or with `postgres: true` on a fresh PostgreSQL database. */
export async function openJobsTestEnv(
  types: readonly SyncJobType[],
  options: { readonly postgres?: boolean } = {},
): Promise<JobsTestEnv> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-jobs-'));
  const dbPath = path.join(dir, 'cloud.db');
  const database = options.postgres ? await freshPostgresDatabase() : null;
  const storage = await openStorage(database ? { databaseUrl: database.url } : { dbPath });
  const schema = new CompiledSchema(SHOP_SCHEMA);
  const registry = new JobTypeRegistry(types);
  const store = storage.createJobStore({ schema, types: registry });
  const { tenantId } = await storage.accounts.createTenant({
    name: 'Test shop',
    email: `${randomUUID()}@shop.test`,
    passwordHash: 'not-a-hash',
  });
  const queues: JobQueue[] = [];
  const wakeAll = (): void => queues.forEach((queue) => queue.wake());
  const jobs = new SyncJobs({ store, types: registry, onQueued: wakeAll }).forTenant(tenantId);
  let counter = 0;
  const node = `dev${randomUUID().slice(0, 6)}`;
  const env: JobsTestEnv = {
    dir,
    dbPath,
    storage,
    store,
    schema,
    types: registry,
    tenantId,
    jobs,
    queues,
    wakeAll,
    stamp: () => formatStamp({ ms: Date.now(), counter: counter++ % 0xffff, nodeId: node }),
    async push(changes) {
      const response = await applyPush(
        storage.sync.forTenant(tenantId),
        { pushId: randomUUID(), changes: [...changes] },
        {
          schema,
          deviceId: 'test-device',
          now: Date.now,
          afterWrite: syncJobTriggers(() => registry, Date.now),
        },
      );
      wakeAll();
      return response;
    },
    executor(options = {}) {
      return new JobExecutor({
        store,
        types: registry,
        leaseMs: options.leaseMs ?? 5_000,
        lockRetryMs: 10,
        ...(options.workerId ? { workerId: options.workerId } : {}),
      });
    },
    async waitFor(id, statuses, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const job = await jobs.get(id);
        if (statuses.includes(job.status)) return job;
        if (Date.now() > deadline) {
          throw new Error(`job ${id} is ${job.status}, not ${statuses.join('/')}: ${JSON.stringify(job)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async close() {
      await Promise.all(queues.map((queue) => queue.stop()));
      await storage.close();
      if (database) {
        // The pool lets its last connections go just after it says it closed; dropping a database kills
        // whatever is still connected, which the pool would report as an error.
        await sleep(200);
        await database.drop();
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}

/** Waits until `check` holds, polling. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
  what = 'a condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CompiledSchema, SHOP_SCHEMA, SYNC_JOB_QUEUES } from '@tillsync/protocol';
import {
  JobExecutor,
  JobTypeRegistry,
  SyncJobs,
  defineSyncJobType,
  type SyncJobType,
  type TenantSyncJobs,
} from '@tillsync/jobs';
import { openStorage, type SqlJobStore, type Storage } from '@tillsync/server';
import { Disk } from './src/disk.js';

/**
 * The embedded server's job store across power cuts, on the simulated disk: the queue's own transitions
 * (claim, start, end of a job that writes no row) commit unsynced, so a cut may drop them; the job is then
 * run again, by a later claim or once its lease has lapsed, and its effect happens once. A job's write of
 * rows commits synced, with its end, and takes the unsynced transitions before it to the disk.
 */

const disk = new Disk();
const schema = new CompiledSchema(SHOP_SCHEMA);
const LEASE_MS = 200;
let folder = '';

afterEach(() => {
  fs.rmSync(folder, { recursive: true, force: true });
});

/** Runs of each job, and a gate that holds the first run of a job whose context says `hold`. */
class Runs {
  readonly count = new Map<string, number>();
  entered: () => void = () => {};
  gate: Promise<void> = new Promise(() => {});

  enter(jobId: string): void {
    this.count.set(jobId, (this.count.get(jobId) ?? 0) + 1);
    this.entered();
  }
}

function jobTypes(runs: Runs): SyncJobType[] {
  return [
    // Writes nothing: ends `No Target`, by the end that commits unsynced.
    defineSyncJobType({
      name: 'tally',
      sourceTable: 'customers',
      mode: 'bypass',
      execute(job) {
        runs.enter(job.id);
        return null;
      },
    }),
    // Inserts the category its context names (an insert fails if the row is there already).
    defineSyncJobType({
      name: 'make-category',
      sourceTable: 'customers',
      targetTable: 'categories',
      mode: 'single',
      getTargetDocument: (job) => ({ operation: 'insert', id: String(job.context.categoryId) }),
      async updateTargetDoc(job, _source, target) {
        runs.enter(job.id);
        if (job.context.hold && runs.count.get(job.id) === 1) await runs.gate;
        target.values.name = 'made by a job';
      },
    }),
  ];
}

/** The server's storage and job store on the watched file, as one process has them. */
interface Process {
  readonly tenantId: string;
  readonly storage: Storage;
  readonly store: SqlJobStore;
  readonly jobs: TenantSyncJobs;
  readonly executor: JobExecutor;
}

async function startProcess(dbPath: string, runs: Runs, tenantId?: string): Promise<Process> {
  const storage = await openStorage({ dbPath });
  const types = new JobTypeRegistry(jobTypes(runs));
  const store = storage.createJobStore({ schema, types });
  const tenant =
    tenantId ??
    (
      await storage.accounts.createTenant({
        name: 'Shop',
        email: `${randomUUID()}@shop.test`,
        passwordHash: 'x',
      })
    ).tenantId;
  return {
    tenantId: tenant,
    storage,
    store,
    jobs: new SyncJobs({ store, types }).forTenant(tenant),
    executor: new JobExecutor({ store, types, leaseMs: LEASE_MS }),
  };
}

/** Claims the ready jobs (and those whose lease lapsed) and runs each to its end, as the embedded queue does. */
async function runReady(process: Process): Promise<number> {
  const claimed = await process.store.claim({
    workerId: process.executor.config.workerId,
    queues: SYNC_JOB_QUEUES,
    now: Date.now(),
    leaseMs: LEASE_MS,
    limit: 10,
  });
  for (const job of claimed) await process.executor.run(job);
  return claimed.length;
}

/** The power goes off: answers how many commits were lost. The process is gone. */
async function cutPower(dbPath: string, process: Process): Promise<number> {
  process.executor.stop();
  const before = disk.mark(dbPath);
  const lost = before - disk.powerCut(dbPath);
  await process.storage.close().catch(() => undefined);
  return lost;
}

async function open(): Promise<{ dbPath: string; runs: Runs; first: Process }> {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-job-power-'));
  const dbPath = path.join(folder, 'cloud.db');
  disk.watch(dbPath);
  const runs = new Runs();
  return { dbPath, runs, first: await startProcess(dbPath, runs) };
}

async function categoryRows(process: Process): Promise<unknown[]> {
  return process.storage.engine.db
    .selectFrom('sync_rows')
    .select(['id', 'data'])
    .where('tbl', '=', 'categories')
    .execute();
}

describe('the job store across a power cut', () => {
  it('keeps the jobs whose enqueue was answered, synced by one sync of the log apart from their commit', async () => {
    const { dbPath, runs, first } = await open();
    const before = disk.mark(dbPath);
    // Enqueues of the same moment share one commit, unsynced, then one sync of the log before the answers.
    const jobs = await Promise.all(
      Array.from({ length: 20 }, (_, index) => first.jobs.enqueue({ type: 'tally', context: { index } })),
    );
    expect(disk.mark(dbPath) - before).toBeGreaterThan(0);
    expect(await cutPower(dbPath, first)).toBe(0);
    const second = await startProcess(dbPath, runs, first.tenantId);
    try {
      for (const job of jobs) expect((await second.jobs.get(job.id)).status).toBe('Queued');
    } finally {
      await second.storage.close();
      disk.unwatch(dbPath);
    }
  });

  it('runs a job again when the cut drops its end, and ends it once', async () => {
    const { dbPath, runs, first } = await open();
    const job = await first.jobs.enqueue({ type: 'tally' });
    expect(await runReady(first)).toBe(1);
    expect((await first.jobs.get(job.id)).status).toBe('No Target');

    // The claim, the start and the end were not synced: the enqueue (answered to its caller) was.
    expect(await cutPower(dbPath, first)).toBeGreaterThan(0);
    const second = await startProcess(dbPath, runs, first.tenantId);
    try {
      const back = await second.jobs.get(job.id);
      expect(['Queued', 'Started']).toContain(back.status);
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS + 50));
      expect(await runReady(second)).toBe(1);
      expect((await second.jobs.get(job.id)).status).toBe('No Target');
      expect(runs.count.get(job.id)).toBe(2);
      // Nothing is left to run.
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS + 50));
      expect(await runReady(second)).toBe(0);
    } finally {
      await second.storage.close();
      disk.unwatch(dbPath);
    }
  });

  it('runs a job again whose claim and start the cut dropped while it ran, and writes its row once', async () => {
    const { dbPath, runs, first } = await open();
    const job = await first.jobs.enqueue({
      type: 'make-category',
      context: { categoryId: 'c1', hold: true },
    });
    const entered = new Promise<void>((resolve) => (runs.entered = resolve));
    // The first run stops in its controller, its claim and start committed (unsynced), its write not made.
    void runReady(first).catch(() => undefined);
    await entered;
    expect(await cutPower(dbPath, first)).toBeGreaterThan(0);

    const second = await startProcess(dbPath, runs, first.tenantId);
    try {
      expect((await second.jobs.get(job.id)).status).toBe('Queued');
      expect(await runReady(second)).toBe(1);
      expect((await second.jobs.get(job.id)).status).toBe('Finished');
      expect(runs.count.get(job.id)).toBe(2);
      expect(await categoryRows(second)).toEqual([
        { id: 'c1', data: expect.stringContaining('made by a job') as unknown },
      ]);
    } finally {
      await second.storage.close();
      disk.unwatch(dbPath);
    }
  });

  it('keeps a job that wrote a row, with its end and the transitions before it, on disk', async () => {
    const { dbPath, runs, first } = await open();
    const job = await first.jobs.enqueue({ type: 'make-category', context: { categoryId: 'c2' } });
    expect(await runReady(first)).toBe(1);
    expect((await first.jobs.get(job.id)).status).toBe('Finished');

    expect(await cutPower(dbPath, first)).toBe(0);
    const second = await startProcess(dbPath, runs, first.tenantId);
    try {
      expect((await second.jobs.get(job.id)).status).toBe('Finished');
      expect(await categoryRows(second)).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS + 50));
      expect(await runReady(second)).toBe(0);
      expect(runs.count.get(job.id)).toBe(1);
    } finally {
      await second.storage.close();
      disk.unwatch(dbPath);
    }
  });
});

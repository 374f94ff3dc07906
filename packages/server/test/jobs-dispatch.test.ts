import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledSchema, SHOP_SCHEMA } from '@tillsync/protocol';
import { JobTypeRegistry, SyncJobs, defineSyncJobType } from '@tillsync/jobs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { storageWithShop, tempDir } from './helpers.js';

const NOOP = { name: 'noop', sourceTable: 'customers', mode: 'bypass' as const, execute: () => null };
const QUEUES = ['default', 'short', 'long'] as const;
const REDISPATCH_AFTER_MS = 60_000;

async function setup() {
  const dbPath = path.join(tempDir(), 'cloud.db');
  const { storage, tenantId } = await storageWithShop(dbPath);
  const schema = new CompiledSchema(SHOP_SCHEMA);
  const types = new JobTypeRegistry([defineSyncJobType(NOOP)]);
  const store = storage.createJobStore({ schema, types });
  const jobs = new SyncJobs({ store, types }).forTenant(tenantId);
  const take = (now: number, recover = true) =>
    store
      .takeForDispatch({ queues: QUEUES, now, limit: 100, redispatchAfterMs: REDISPATCH_AFTER_MS, recover })
      .then((items) => items.map((item) => item.jobId).sort());
  return { dbPath, store, jobs, take };
}

describe('handing jobs over to BullMQ (SQL store)', () => {
  it('hands a ready job over once, and again only once its handover is stale', async () => {
    const { jobs, take } = await setup();
    const ids = (await Promise.all([1, 2, 3].map((n) => jobs.enqueue({ type: 'noop', context: { n } }))))
      .map((job) => job.id)
      .sort();
    const now = Date.now() + 1_000;
    expect(await take(now)).toEqual(ids);
    expect(await take(now + 1)).toEqual([]);
    // A round that does not look for lost deliveries (one a wake starts) leaves the stale ones.
    expect(await take(now + REDISPATCH_AFTER_MS + 1, false)).toEqual([]);
    expect(await take(now + REDISPATCH_AFTER_MS + 1)).toEqual(ids);
    expect(await take(now + REDISPATCH_AFTER_MS + 2)).toEqual([]);
  });

  it('hands a started job over again once the lease of its dead worker has run out', async () => {
    const { store, jobs, take } = await setup();
    const job = await jobs.enqueue({ type: 'noop', context: {} });
    const now = Date.now() + 1_000;
    expect(await take(now)).toEqual([job.id]);
    const claimed = await store.claimById(job.id, { workerId: 'w1', now, leaseMs: 1_000 });
    if (claimed.kind !== 'claimed') throw new Error(`not claimed: ${claimed.kind}`);
    expect(await store.start(claimed.job.claim, ['customers:x'], now, now + 50)).toBe('started');
    expect(await take(now + 500)).toEqual([]);
    expect(await take(now + 1_001)).toEqual([job.id]);
    expect(await take(now + 1_002)).toEqual([]);
  });
});

describe('claiming jobs (SQL store)', () => {
  it('starts a bypass job without a source at its claim, writing no lock that no other job could ask for', async () => {
    const { dbPath, store, jobs } = await setup();
    const [first, second] = await Promise.all(
      [1, 2].map((n) => jobs.enqueue({ type: 'noop', context: { n } })),
    );
    const now = Date.now() + 1_000;
    const claims = await Promise.all(
      [first, second].map((job) => store.claimById(job?.id ?? '', { workerId: 'w1', now, leaseMs: 30_000 })),
    );
    for (const claimed of claims) {
      if (claimed.kind !== 'claimed') throw new Error(`not claimed: ${claimed.kind}`);
      expect(claimed.job.started).toBe(true);
      expect(claimed.job.record.status).toBe('Started');
    }
    const file = new BetterSqlite3(dbPath, { readonly: true });
    onTestFinished(() => void file.close());
    expect(file.prepare('select count(*) from sync_job_locks').pluck().get()).toBe(0);
    expect((await jobs.get(first?.id ?? '')).status).toBe('Started');
  });
});

import { randomUUID } from 'node:crypto';
import type { SyncJob } from '@tillsync/protocol';
import type { JobExecutor, JobQueue } from '@tillsync/jobs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, openJobsTestEnv, sleep, type JobsTestEnv } from './helpers.js';
import { RunLog, testJobTypes } from './test-job-types.js';

/** Makes the transport under test for one test, on its env; a second call makes another worker. */
export type MakeQueue = (env: JobsTestEnv, executor: JobExecutor) => JobQueue;

const END = ['Finished', 'Failed', 'Skipped', 'Relayed', 'No Target', 'Canceled'] as const;

/**
 * The suite every queue transport passes: every status path and flag for each controller mode, retries,
 * timeouts, cancel, dead workers, per-target exclusion, and many jobs on several workers.
 */
export function describeJobQueueConformance(
  name: string,
  makeQueue: MakeQueue,
  options: { readonly postgres?: boolean } = {},
): void {
  describe(`job queue conformance: ${name}`, () => {
    let env: JobsTestEnv;
    let log: RunLog;

    beforeEach(async () => {
      log = new RunLog();
      env = await openJobsTestEnv(testJobTypes(log), options);
    });
    afterEach(async () => {
      await env.close();
    });

    const startWorker = async (options: { leaseMs?: number } = {}): Promise<JobQueue> => {
      const queue = makeQueue(env, env.executor(options));
      env.queues.push(queue);
      await queue.start();
      return queue;
    };
    const customer = async (name: string): Promise<string> => {
      const id = randomUUID();
      await env.push([{ table: 'customers', id, op: 'upsert', updatedAt: env.stamp(), values: { name } }]);
      return id;
    };
    const category = async (id: string, name: string): Promise<void> => {
      await env.push([{ table: 'categories', id, op: 'upsert', updatedAt: env.stamp(), values: { name } }]);
    };
    const row = async (table: string, id: string) =>
      (await env.store.forTenant(env.tenantId).rows.get(table, id))?.values ?? null;
    const run = async (options: Parameters<JobsTestEnv['jobs']['enqueue']>[0]): Promise<SyncJob> => {
      const job = await env.jobs.enqueue(options);
      return env.waitFor(job.id, END);
    };

    describe('single target', () => {
      it('inserts a target: Finished, with the diff and a stamped, sequenced row', async () => {
        await startWorker();
        const source = await customer('Ann');
        const job = await run({ type: 'test-single', source, context: { op: 'insert' } });
        expect(job).toMatchObject({
          status: 'Finished',
          operation: 'insert',
          target: { table: 'categories', id: source },
        });
        expect(job.diffSummary).toEqual({ name: { old: null, new: 'Ann' } });
        expect(job.currentData).toBeNull();
        expect(job.startedAt).not.toBeNull();
        expect(job.durationMs).toBeGreaterThanOrEqual(0);
        expect(await row('categories', source)).toEqual({ name: 'Ann' });
        const page = await env.storage.sync.forTenant(env.tenantId).pull(0, 100);
        const written =
          !page.resyncRequired &&
          page.rows.find((pulled) => pulled.id === source && pulled.table === 'categories');
        expect(written && written.updatedAt).toMatch(/-server-/);
      });

      it('updates a target, keeps before/after with verbose logging, and reads the target under its lock', async () => {
        await startWorker();
        const source = await customer('Bob');
        await category(source, 'old');
        const job = await run({ type: 'test-single', source, settings: { verboseLogging: true } });
        expect(job).toMatchObject({ status: 'Finished', operation: 'update', verboseLogging: true });
        expect(job.diffSummary).toEqual({ name: { old: 'old', new: 'Bob' } });
        expect(job.currentData).toEqual({ name: 'old' });
        expect(job.updatedData).toEqual({ name: 'Bob' });
      });

      it('deletes a target; a delete of a missing target is No Target', async () => {
        await startWorker();
        const source = await customer('Cy');
        await category(source, 'gone soon');
        const job = await run({ type: 'test-single', source, context: { op: 'delete' } });
        expect(job).toMatchObject({ status: 'Finished', operation: 'delete' });
        expect(job.diffSummary).toEqual({ name: { old: 'gone soon', new: null } });
        expect(await row('categories', source)).toBeNull();
        expect((await run({ type: 'test-single', source, context: { op: 'delete' } })).status).toBe(
          'No Target',
        );
      });

      it('No Target when the controller finds none', async () => {
        await startWorker();
        const job = await run({ type: 'test-single', source: await customer('Di'), context: { none: true } });
        expect(job).toMatchObject({ status: 'No Target', target: null, errorMessage: null });
      });

      it('Skipped for each disabled operation flag, writing nothing', async () => {
        await startWorker();
        const source = await customer('Ed');
        await category(source, 'kept');
        const insert = await run({
          type: 'test-single',
          source,
          context: { op: 'insert', targetId: randomUUID() },
          flags: { insertEnabled: false },
        });
        const update = await run({ type: 'test-single', source, flags: { updateEnabled: false } });
        const del = await run({
          type: 'test-single',
          source,
          context: { op: 'delete' },
          flags: { deleteEnabled: false },
        });
        expect([insert.status, update.status, del.status]).toEqual(['Skipped', 'Skipped', 'Skipped']);
        expect([insert.insertEnabled, update.updateEnabled, del.deleteEnabled]).toEqual([
          false,
          false,
          false,
        ]);
        expect(await row('categories', source)).toEqual({ name: 'kept' });
        expect(await row('categories', insert.target?.id ?? '')).toBeNull();
      });

      it('Skipped for an update without changes, unless updateWithoutChangesEnabled', async () => {
        await startWorker();
        const source = await customer('Flo');
        await category(source, 'Flo');
        const before = await env.store.forTenant(env.tenantId).rows.get('categories', source);
        const same = await run({ type: 'test-single', source });
        expect(same).toMatchObject({ status: 'Skipped', diffSummary: {} });
        const forced = await run({
          type: 'test-single',
          source,
          flags: { updateWithoutChangesEnabled: true },
        });
        expect(forced).toMatchObject({ status: 'Finished', updateWithoutChangesEnabled: true });
        const after = await env.store.forTenant(env.tenantId).rows.get('categories', source);
        expect(after?.updatedAt).not.toBe(before?.updatedAt);
      });

      it('a dry run computes the diff of an insert, an update and a delete, and writes nothing', async () => {
        await startWorker();
        const source = await customer('Gus');
        const fresh = randomUUID();
        const insert = await run({
          type: 'test-single',
          source,
          dryRun: true,
          context: { op: 'insert', targetId: fresh },
        });
        expect(insert).toMatchObject({
          status: 'Skipped',
          dryRun: true,
          operation: 'insert',
          diffSummary: { name: { old: null, new: 'Gus' } },
        });
        expect(await row('categories', fresh)).toBeNull();
        await category(source, 'was');
        const update = await run({ type: 'test-single', source, dryRun: true });
        expect(update).toMatchObject({
          status: 'Skipped',
          diffSummary: { name: { old: 'was', new: 'Gus' } },
        });
        const del = await run({ type: 'test-single', source, dryRun: true, context: { op: 'delete' } });
        expect(del).toMatchObject({
          status: 'Skipped',
          operation: 'delete',
          diffSummary: { name: { old: 'was', new: null } },
        });
        expect(await row('categories', source)).toEqual({ name: 'was' });
      });

      it('a failing job leaves its target untouched and keeps the snapshots', async () => {
        await startWorker();
        const source = await customer('Hal');
        await category(source, 'untouched');
        const before = await env.store.forTenant(env.tenantId).rows.get('categories', source);
        const job = await run({
          type: 'test-single',
          source,
          context: { failInBeforeSync: true },
          settings: { maxRetries: 0 },
        });
        expect(job).toMatchObject({ status: 'Failed', errorMessage: 'beforeSync said no', retryAfter: null });
        expect(job.errorStack).toContain('beforeSync said no');
        expect(job.currentData).toEqual({ name: 'untouched' });
        expect(job.updatedData).toEqual({ name: 'Hal' });
        // A value the schema refuses fails inside the final transaction: nothing of it stays.
        const bad = await run({
          type: 'test-single',
          source,
          context: { badValue: true },
          settings: { maxRetries: 0 },
        });
        expect(bad.status).toBe('Failed');
        expect(bad.errorMessage).toMatch(/categories\.name/);
        expect(await env.store.forTenant(env.tenantId).rows.get('categories', source)).toEqual(before);
      });

      it('retries a failed job after its delay, and leaves it Failed when retries run out', async () => {
        await startWorker();
        const source = await customer('Ida');
        const recovered = await env.jobs.enqueue({
          type: 'test-single',
          source,
          context: { op: 'insert', fail: 'flaky', failTimes: 1 },
          settings: { retryDelaySec: 0.05, maxRetries: 2 },
        });
        const done = await env.waitFor(recovered.id, ['Finished']);
        expect(done).toMatchObject({ retryCount: 1, errorMessage: null, retryAfter: null });
        const hopeless = await env.jobs.enqueue({
          type: 'test-single',
          source,
          context: { fail: 'always' },
          settings: { retryDelaySec: 0, maxRetries: 2 },
        });
        await eventually(
          async () => (await env.jobs.get(hopeless.id)).retryCount === 2,
          10_000,
          'two retries',
        );
        const failed = await env.waitFor(hopeless.id, ['Failed']);
        await sleep(100);
        expect(await env.jobs.get(hopeless.id)).toMatchObject({
          status: 'Failed',
          retryCount: 2,
          retryAfter: null,
          errorMessage: 'always',
        });
        expect(failed.maxRetries).toBe(2);
        const unrecoverable = await run({
          type: 'test-single',
          source,
          context: { fail: 'no point', unrecoverable: true },
          settings: { maxRetries: 5 },
        });
        expect(unrecoverable).toMatchObject({ status: 'Failed', retryCount: 0, retryAfter: null });
      });

      it('0 is a value: maxRetries 0 never retries, retryDelaySec 0 retries at once', async () => {
        await startWorker();
        const source = await customer('Jo');
        const none = await run({
          type: 'test-single',
          source,
          context: { fail: 'x' },
          settings: { maxRetries: 0, retryDelaySec: 0 },
        });
        expect(none).toMatchObject({
          status: 'Failed',
          maxRetries: 0,
          retryDelaySec: 0,
          retryCount: 0,
          retryAfter: null,
        });
      });

      it('the owner retries a Failed job by hand', async () => {
        await startWorker();
        const source = await customer('Kim');
        const job = await run({
          type: 'test-single',
          source,
          context: { op: 'insert', fail: 'once', failTimes: 1 },
          settings: { maxRetries: 0 },
        });
        expect(job.status).toBe('Failed');
        const retried = await env.jobs.retry(job.id);
        expect(retried.status).toMatch(/Queued|Started|Finished/);
        expect(await env.waitFor(job.id, ['Finished'])).toMatchObject({ retryCount: 1 });
        await expect(env.jobs.retry(job.id)).rejects.toMatchObject({ code: 'INVALID_STATUS' });
      });

      it('times out: Failed "timed out after N s", target untouched', async () => {
        await startWorker();
        const source = await customer('Lu');
        const job = await run({
          type: 'test-single',
          source,
          context: { op: 'insert', sleepMs: 5_000 },
          settings: { timeoutSec: 0.2, maxRetries: 0 },
        });
        expect(job).toMatchObject({ status: 'Failed', errorMessage: 'timed out after 0.2 s' });
        await sleep(50);
        expect(await row('categories', source)).toBeNull();
      });

      it('Pending until started; canceled jobs never run', async () => {
        await startWorker();
        const source = await customer('Mo');
        const pending = await env.jobs.enqueue({
          type: 'test-single',
          source,
          context: { op: 'insert' },
          queueOnInsert: false,
        });
        expect(pending.status).toBe('Pending');
        await sleep(100);
        expect((await env.jobs.get(pending.id)).status).toBe('Pending');
        await env.jobs.start(pending.id);
        expect((await env.waitFor(pending.id, END)).status).toBe('Finished');
        await expect(env.jobs.start(pending.id)).rejects.toMatchObject({ code: 'INVALID_STATUS' });
        await expect(env.jobs.cancel(pending.id)).rejects.toMatchObject({ code: 'INVALID_STATUS' });

        const canceled = await env.jobs.enqueue({ type: 'test-single', source, queueOnInsert: false });
        expect(await env.jobs.cancel(canceled.id, 'not wanted')).toMatchObject({
          status: 'Canceled',
          cancelReason: 'not wanted',
        });
        await expect(env.jobs.start(canceled.id)).rejects.toMatchObject({ code: 'INVALID_STATUS' });
        const failed = await run({
          type: 'test-single',
          source,
          context: { fail: 'x' },
          settings: { maxRetries: 3, retryDelaySec: 0.3 },
        });
        expect(failed.retryAfter).not.toBeNull();
        expect(await env.jobs.cancel(failed.id)).toMatchObject({ status: 'Canceled', retryAfter: null });
        await sleep(500);
        expect(await env.jobs.get(failed.id)).toMatchObject({ status: 'Canceled', retryCount: 0 });
        expect(log.runs.get(canceled.id)).toBeUndefined();
      });

      it('a job canceled while Queued never runs', async () => {
        const ids: string[] = [];
        const source = await customer('Ned');
        for (let index = 0; index < 5; index++)
          ids.push((await env.jobs.enqueue({ type: 'test-single', source, context: { op: 'insert' } })).id);
        for (const id of ids) await env.jobs.cancel(id);
        await startWorker();
        await sleep(200);
        for (const id of ids) expect((await env.jobs.get(id)).status).toBe('Canceled');
        expect(ids.some((id) => log.runs.has(id))).toBe(false);
      });

      it('reads a deleted source in its last state', async () => {
        await startWorker();
        const source = await customer('Ola');
        await env.push([{ table: 'customers', id: source, op: 'delete', updatedAt: env.stamp() }]);
        const job = await run({ type: 'test-single', source, context: { op: 'insert' } });
        expect(job.status).toBe('Finished');
        expect(await row('categories', source)).toEqual({ name: 'Ola' });
        expect(log.sources.at(-1)).toMatchObject({ id: source, deleted: true, values: { name: 'Ola' } });
      });
    });

    describe('multiple targets', () => {
      it('several targets: one child each, the parent Relayed; children inherit settings, flags, trigger, dry run', async () => {
        await startWorker();
        const source = await customer('Pia');
        const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
        await category(b, 'b');
        const parent = await run({
          type: 'test-multiple',
          source,
          context: {
            targets: [
              { op: 'insert', id: a, suffix: '-a' },
              { op: 'update', id: b },
              { op: 'insert', id: c },
            ],
          },
          settings: { queue: 'short', maxRetries: 0, verboseLogging: true },
          flags: { updateEnabled: false },
          trigger: { type: 'scheduler' },
        });
        expect(parent).toMatchObject({ status: 'Relayed', target: null, diffSummary: null });
        expect(parent.children).toHaveLength(3);
        const children = await Promise.all(parent.children.map((child) => env.waitFor(child.id, END)));
        expect(children.map((child) => child.status).sort()).toEqual(['Finished', 'Finished', 'Skipped']);
        for (const child of children) {
          expect(child).toMatchObject({
            parentJobId: parent.id,
            queue: 'short',
            maxRetries: 0,
            verboseLogging: true,
            updateEnabled: false,
            trigger: { type: 'scheduler' },
          });
        }
        expect(await row('categories', a)).toEqual({ name: 'Pia-a' });
        expect(await row('categories', c)).toEqual({ name: 'Pia' });
        expect(await row('categories', b)).toEqual({ name: 'b' });
        const dry = await run({
          type: 'test-multiple',
          source,
          dryRun: true,
          context: { targets: [{ op: 'insert' }, { op: 'insert' }] },
        });
        const dryChildren = await Promise.all(dry.children.map((child) => env.waitFor(child.id, END)));
        expect(dryChildren.map((child) => [child.status, child.dryRun])).toEqual([
          ['Skipped', true],
          ['Skipped', true],
        ]);
      });

      it('exactly one target is handled inline; none is No Target', async () => {
        await startWorker();
        const source = await customer('Quin');
        const only = randomUUID();
        const one = await run({
          type: 'test-multiple',
          source,
          context: { targets: [{ op: 'insert', id: only }] },
        });
        expect(one).toMatchObject({
          status: 'Finished',
          children: [],
          target: { table: 'categories', id: only },
        });
        const none = await run({ type: 'test-multiple', source, context: { targets: [] } });
        expect(none.status).toBe('No Target');
      });
    });

    describe('bypass', () => {
      it('Finished with the target it names, its writes committed with the status', async () => {
        await startWorker();
        const source = await customer('Ray');
        const written = randomUUID();
        const job = await run({ type: 'test-bypass', source, context: { targetId: written } });
        expect(job).toMatchObject({
          status: 'Finished',
          target: { table: 'crm', id: source },
          operation: 'update',
        });
        expect(await row('categories', written)).toEqual({ name: 'crm Ray' });
      });

      it('returning no target ends No Target; a dry run ends Skipped and writes nothing', async () => {
        await startWorker();
        const source = await customer('Sal');
        expect((await run({ type: 'test-bypass', source, context: { none: true } })).status).toBe(
          'No Target',
        );
        const written = randomUUID();
        const dry = await run({ type: 'test-bypass', source, dryRun: true, context: { targetId: written } });
        expect(dry).toMatchObject({
          status: 'Skipped',
          diffSummary: { name: { old: null, new: 'crm Sal' } },
        });
        expect(await row('categories', written)).toBeNull();
      });

      it('fails, retries, and times out like the other modes', async () => {
        await startWorker();
        const source = await customer('Tam');
        const flaky = await env.jobs.enqueue({
          type: 'test-bypass',
          source,
          context: { fail: 'down', failTimes: 1 },
          settings: { retryDelaySec: 0, maxRetries: 1 },
        });
        expect(await env.waitFor(flaky.id, ['Finished'])).toMatchObject({ retryCount: 1 });
        const slow = await run({
          type: 'test-bypass',
          source,
          context: { sleepMs: 5_000 },
          settings: { timeoutSec: 0.15, maxRetries: 0 },
        });
        expect(slow).toMatchObject({ status: 'Failed', errorMessage: 'timed out after 0.15 s' });
      });
    });

    describe('running many', () => {
      it('never runs two jobs on one target at once', async () => {
        await startWorker();
        await startWorker();
        const source = await customer('Uma');
        const target = randomUUID();
        const ids = [];
        for (let index = 0; index < 6; index++) {
          ids.push(
            (
              await env.jobs.enqueue({
                type: 'test-single',
                source,
                // Each looks before it holds the lock, so most see no row: asked again under the lock,
                // the controller updates the row the first one inserted.
                context: { upsert: true, targetId: target, sleepMs: 30, suffix: `-${index}` },
              })
            ).id,
          );
        }
        const bypass = [];
        for (let index = 0; index < 6; index++)
          bypass.push((await env.jobs.enqueue({ type: 'test-bypass', source, context: { sleepMs: 20 } })).id);
        for (const id of [...ids, ...bypass]) {
          const ended = await env.waitFor(id, END, 20_000);
          expect(ended.status, ended.errorMessage ?? '').toBe('Finished');
        }
        expect(log.maxTogether).toBe(1);
      });

      it('runs many jobs on several workers: each exactly once, none lost', async () => {
        await startWorker();
        await startWorker();
        await startWorker();
        const sources = await Promise.all(Array.from({ length: 5 }, (_, index) => customer(`c${index}`)));
        const ids: string[] = [];
        for (let index = 0; index < 150; index++) {
          ids.push(
            (await env.jobs.enqueue({ type: 'test-noop', source: sources[index % sources.length] ?? '' })).id,
          );
        }
        await eventually(
          async () => (await env.jobs.list({ status: 'No Target', limit: 1000 })).length === ids.length,
          30_000,
          'every job to end',
        );
        for (const id of ids) expect(log.runs.get(id)).toBe(1);
      });

      it('takes over a job whose worker died, once its lease ran out', async () => {
        const source = await customer('Vic');
        const job = await env.jobs.enqueue({ type: 'test-bypass', source });
        // A worker claims it and dies before running it: it never renews its lease.
        const [claimed] = await env.store.claim({
          workerId: 'dead-worker',
          queues: ['default'],
          now: Date.now(),
          leaseMs: 300,
          limit: 1,
        });
        expect(claimed?.record.id).toBe(job.id);
        expect((await env.jobs.get(job.id)).status).toBe('Started');
        await startWorker({ leaseMs: 2_000 });
        const done = await env.waitFor(job.id, END, 15_000);
        expect(done.status).toBe('Finished');
        expect(log.runs.get(job.id)).toBe(1);
      });
    });

    describe('for years of use', () => {
      it('records the trigger row with its updatedAt; the controller reads it; an unknown row is refused', async () => {
        await startWorker();
        const source = await customer('Tia');
        const cause = await customer('Cause');
        const stored = await env.store.forTenant(env.tenantId).rows.get('customers', cause);
        const job = await run({
          type: 'test-single',
          source,
          context: { op: 'insert' },
          trigger: { type: 'api', table: 'customers', id: cause },
        });
        expect(job.status).toBe('Finished');
        expect(job.trigger).toMatchObject({ type: 'api', table: 'customers', id: cause });
        expect(job.trigger.at).toBe(stored?.updatedAt.slice(0, 24));
        expect(log.triggerRows.get(job.id)).toMatchObject({ id: cause, values: { name: 'Cause' } });
        await expect(
          env.jobs.enqueue({ type: 'test-single', source, trigger: { type: 'api', id: 'nobody' } }),
        ).rejects.toMatchObject({
          code: 'INVALID_OPTIONS',
          message: expect.stringContaining('customers nobody'),
        });
      });

      it('a target without an operation is refused; an insert never overwrites a row', async () => {
        await startWorker();
        const source = await customer('Ola');
        const existing = randomUUID();
        await category(existing, 'Kept');
        await expect(
          env.jobs.enqueue({ type: 'test-single', source, target: existing }),
        ).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('operation') });
        const given = await run({ type: 'test-single', source, operation: 'insert', target: existing });
        expect(given).toMatchObject({ status: 'Failed', retryAfter: null });
        expect(given.errorMessage).toContain('TARGET_EXISTS');
        // Inserts off, updates on: still never a write (it was a Skipped turned into an update).
        const flagged = await run({
          type: 'test-single',
          source,
          operation: 'insert',
          target: existing,
          flags: { insertEnabled: false, updateEnabled: true },
        });
        expect(flagged.status).toBe('Failed');
        // The controller says insert again when asked under the lock: it fails the same way.
        const found = await run({
          type: 'test-single',
          source,
          context: { op: 'insert', targetId: existing },
        });
        expect(found.errorMessage).toContain('TARGET_EXISTS');
        expect(await row('categories', existing)).toMatchObject({ name: 'Kept' });
      });

      it('a controller that timed out is aborted, and its retry never runs beside it', async () => {
        await startWorker();
        await startWorker();
        const source = await customer('Rex');
        const enqueued = await env.jobs.enqueue({
          type: 'test-single',
          source,
          context: { op: 'insert', stubbornMs: 700 },
          settings: { timeoutSec: 0.2, retryDelaySec: 0, maxRetries: 1 },
        });
        await eventually(
          async () => {
            const now = await env.jobs.get(enqueued.id);
            return now.status === 'Failed' && now.retryCount === 1;
          },
          15_000,
          'the retry to fail too',
        );
        const job = await env.jobs.get(enqueued.id);
        expect(job).toMatchObject({ status: 'Failed', retryCount: 1, errorMessage: 'timed out after 0.2 s' });
        expect(log.runs.get(job.id)).toBe(2);
        expect(log.aborted.has(job.id)).toBe(true);
        expect(log.maxTogether).toBe(1);
        expect(await row('categories', source)).toBeNull();
      });

      it('each queue has its own share: a short job runs while long jobs fill theirs', async () => {
        await startWorker();
        const long = [];
        for (let index = 0; index < 8; index++) {
          const job = await env.jobs.enqueue({
            type: 'test-bypass',
            context: { sleepMs: 6_000 },
            settings: { queue: 'long' },
          });
          long.push(job.id);
        }
        await eventually(
          async () => (await env.jobs.list({ status: 'Started' })).length === 8,
          10_000,
          'eight long jobs started',
        );
        const short = await env.jobs.enqueue({ type: 'test-noop', settings: { queue: 'short' } });
        expect((await env.waitFor(short.id, END, 5_000)).status).toBe('No Target');
        // Ended while every long job still runs.
        for (const id of long) expect((await env.jobs.get(id)).status).toBe('Started');
      });
    });

    it('a disabled type enqueues nothing', async () => {
      await startWorker();
      await env.jobs.updateType('test-single', { disabled: true });
      await expect(
        env.jobs.enqueue({ type: 'test-single', source: await customer('Wes') }),
      ).rejects.toMatchObject({ code: 'JOB_TYPE_DISABLED' });
      expect(await env.jobs.list()).toHaveLength(0);
      await env.jobs.updateType('test-single', { disabled: null });
      const job = await env.jobs.enqueue({
        type: 'test-single',
        source: await customer('Wes'),
        context: { op: 'insert' },
      });
      expect((await env.waitFor(job.id, END)).status).toBe('Finished');
    });
  });
}

import { CompiledSchema, SHOP_SCHEMA, type SyncJobStatus } from '@tillsync/protocol';
import { ServerJobs, resolveJobsConfig, type SqlJobStore } from '@tillsync/server';
import type { JobPatch } from '@tillsync/jobs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openJobsTestEnv, type JobsTestEnv } from './helpers.js';
import { RunLog, testJobTypes } from './test-job-types.js';

const DAY_MS = 86_400_000;

/**
 * Retention and schedules on a real store (SQLite, or PostgreSQL with `postgres: true`): what the sweep
 * deletes and never deletes, and a schedule's tick enqueuing once however many processes see it.
 */
export function describeRetentionAndSchedules(options: { readonly postgres?: boolean } = {}): void {
  describe(`sync jobs for years of use${options.postgres ? ' on PostgreSQL' : ''}`, () => {
    let env: JobsTestEnv;
    beforeEach(async () => {
      env = await openJobsTestEnv(testJobTypes(new RunLog()), options);
    });
    afterEach(async () => {
      await env.close();
    });

    /** A server's (or worker's) jobs on the env's database, with its own store and clock, running nothing. */
    const process = (now: () => number, store: SqlJobStore = env.store): ServerJobs =>
      new ServerJobs({
        config: resolveJobsConfig({ run: false, retentionDays: 30, types: env.types.list() }),
        schema: new CompiledSchema(SHOP_SCHEMA),
        now,
        openStore: () => store,
      });

    it('deletes jobs that ended for good past the retention, in batches; never one still to run', async () => {
      const endedAt = Date.now();
      const made = new Map<string, string>();
      const make = async (label: string, status: SyncJobStatus, patch: JobPatch = {}): Promise<void> => {
        const job = await env.jobs.enqueue({ type: 'test-noop', queueOnInsert: false });
        const moved = await env.store
          .forTenant(env.tenantId)
          .transition(job.id, ['Pending'], { status, endedAt, readyAt: null, ...patch });
        expect(moved).toBe(true);
        made.set(label, job.id);
      };
      for (const status of ['Finished', 'Skipped', 'Relayed', 'No Target', 'Canceled'] as const)
        await make(status, status);
      await make('Failed, no retry left', 'Failed', { retryAfter: null });
      await make('Failed, to be retried', 'Failed', { retryAfter: endedAt + 1_000 });
      await make('Pending', 'Pending', { endedAt: null });
      await make('Queued', 'Queued', { readyAt: endedAt + 10 * DAY_MS });
      await make('Started', 'Started');
      await make('Finished lately', 'Finished', { endedAt: endedAt + 20 * DAY_MS });

      // Thirty-one days on: batches of two, so the sweep goes round several times.
      const cutoff = endedAt + 31 * DAY_MS - 30 * DAY_MS;
      expect(await env.store.deleteEndedJobs(cutoff, 2)).toBe(6);
      const left = new Set((await env.jobs.list({ limit: 100 })).map((job) => job.id));
      const kept = [...made].filter(([, id]) => left.has(id)).map(([label]) => label);
      expect(kept.sort()).toEqual(
        ['Failed, to be retried', 'Finished lately', 'Pending', 'Queued', 'Started'].sort(),
      );
      // The process's sweep uses its retention; 0 keeps everything.
      await make('Finished again', 'Finished');
      expect(await process(() => endedAt + 31 * DAY_MS).sweep()).toBe(1);
      const keepAll = new ServerJobs({
        config: resolveJobsConfig({ run: false, retentionDays: 0 }),
        schema: new CompiledSchema(SHOP_SCHEMA),
        now: () => endedAt + 1_000 * DAY_MS,
        openStore: () => env.store,
      });
      expect(await keepAll.sweep()).toBe(0);
      expect(await env.store.countJobs()).toEqual(
        expect.arrayContaining([{ status: 'Finished', queue: 'default', count: 1 }]),
      );
    });

    it("a schedule's tick enqueues one job, with trigger scheduler, however many processes see it", async () => {
      await env.jobs.updateType('test-noop', { schedule: '*/10 * * * *' });
      const tick = Date.parse('2026-05-01T12:10:00.000Z');
      const now = (): number => tick + 5_000;
      // Two processes, each with its own store on the database, see the same tick at the same moment.
      const other = env.storage.createJobStore({ schema: env.schema, types: env.types });
      const fired = await Promise.all([process(now).fireSchedules(), process(now, other).fireSchedules()]);
      expect(fired[0] + fired[1]).toBe(1);
      expect(await process(() => tick + 30_000).fireSchedules()).toBe(0);
      const [job] = await env.jobs.list({ type: 'test-noop' });
      expect(job?.trigger).toMatchObject({ type: 'scheduler', at: new Date(tick).toISOString() });
      // A tick missed by more than a minute (every process was down) is let go, not caught up.
      expect(await process(() => tick + 10 * 60_000 + 90_000).fireSchedules()).toBe(0);
      // The owner turns the schedule off.
      await env.jobs.updateType('test-noop', { schedule: '' });
      expect(await process(() => tick + 20 * 60_000).fireSchedules()).toBe(0);
      await expect(env.jobs.updateType('test-noop', { schedule: 'now and then' })).rejects.toMatchObject({
        code: 'INVALID_OPTIONS',
      });
    });
  });
}

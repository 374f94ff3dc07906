import { randomUUID } from 'node:crypto';
import { BullMqJobQueue, type JobExecutor } from '@tillsync/jobs';
import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_URL, deleteRedisKeys } from '../redis-fixture.js';
import { eventually, openJobsTestEnv, type JobsTestEnv } from './helpers.js';
import { describeJobQueueConformance } from './job-queue-conformance.js';
import { RunLog, testJobTypes } from './test-job-types.js';

/** Every test gets its own key prefix, and the keys are removed at the end. */
const prefixes = new Set<string>();

afterAll(() => deleteRedisKeys([...prefixes]));

const prefixByEnv = new WeakMap<object, string>();

/** A BullMQ queue of a test env: every env gets a key prefix of its own. */
const makeBullMqQueue = (env: JobsTestEnv, executor: JobExecutor): BullMqJobQueue => {
  let prefix = prefixByEnv.get(env);
  if (!prefix) {
    prefix = `tillsync-test-${randomUUID().slice(0, 8)}`;
    prefixByEnv.set(env, prefix);
    prefixes.add(prefix);
  }
  return new BullMqJobQueue({
    store: env.store,
    executor,
    redisUrl: REDIS_URL,
    prefix,
    pollIntervalMs: 20,
    concurrency: 8,
    lockDurationMs: 2_000,
    stalledIntervalMs: 1_000,
  });
};

describeJobQueueConformance('BullMQ', makeBullMqQueue);
// Workers claim delivered jobs by id, in statements of their own: the same suite on PostgreSQL.
describeJobQueueConformance('BullMQ on PostgreSQL', makeBullMqQueue, { postgres: true });

describe('BullMQ deliveries of many jobs', () => {
  /** A test env with its own key prefix, and how to start BullMQ roles on it, each stopped at its end. */
  const openBullMqEnv = async () => {
    const log = new RunLog();
    const env = await openJobsTestEnv(testJobTypes(log));
    const prefix = `tillsync-test-${randomUUID().slice(0, 8)}`;
    prefixes.add(prefix);
    const start = async (role: { executor?: JobExecutor; concurrency?: number }): Promise<BullMqJobQueue> => {
      const queue = new BullMqJobQueue({
        store: env.store,
        redisUrl: REDIS_URL,
        prefix,
        pollIntervalMs: 20,
        // A queue given an executor only runs jobs; the one without only hands them over.
        dispatch: role.executor === undefined,
        ...role,
      });
      env.queues.push(queue);
      await queue.start();
      return queue;
    };
    return { log, env, prefix, start };
  };

  it('hands a burst over in groups, and runs each job once: a held target waits, a canceled job never runs', async () => {
    const { log, env, prefix, start } = await openBullMqEnv();
    const counter = new Queue('default', { connection: { url: REDIS_URL }, prefix });
    try {
      const sources: string[] = [];
      for (let index = 0; index < 5; index++) {
        const id = randomUUID();
        await env.push([
          { table: 'customers', id, op: 'upsert', updatedAt: env.stamp(), values: { name: `c${index}` } },
        ]);
        sources.push(id);
      }
      const target = randomUUID();
      const ids: string[] = [];
      for (let index = 0; index < 150; index++)
        ids.push((await env.jobs.enqueue({ type: 'test-noop', source: sources[index % 5] ?? '' })).id);
      const sameTarget: string[] = [];
      for (let index = 0; index < 6; index++) {
        const context = { upsert: true, targetId: target, sleepMs: 30, suffix: `-${index}` };
        sameTarget.push(
          (await env.jobs.enqueue({ type: 'test-single', source: sources[0] ?? '', context })).id,
        );
      }
      const canceled = await env.jobs.enqueue({ type: 'test-noop', source: sources[0] ?? '' });
      await env.jobs.cancel(canceled.id);

      // The dispatcher alone: its first round takes all 156 ready jobs, in ceil(156 / 16) = 10 deliveries.
      await start({});
      await eventually(
        async () => (await counter.getWaitingCount()) > 0,
        10_000,
        'the burst to be handed over',
      );
      expect(await counter.getWaitingCount()).toBe(10);

      await start({ executor: env.executor(), concurrency: 8 });
      for (const id of sameTarget)
        expect((await env.waitFor(id, ['Finished', 'Failed'], 20_000)).status).toBe('Finished');
      await eventually(
        async () => (await env.jobs.list({ status: 'No Target', limit: 1000 })).length === ids.length,
        20_000,
        'every no-op job to end',
      );
      for (const id of [...ids, ...sameTarget]) expect(log.runs.get(id)).toBe(1);
      expect(log.maxTogether).toBe(1);
      expect(log.runs.has(canceled.id)).toBe(false);
      expect((await env.jobs.get(canceled.id)).status).toBe('Canceled');
    } finally {
      await counter.close();
      await env.close();
    }
  });

  it('hands back the jobs of a delivery it has not begun when it stops, and another worker runs them', async () => {
    const { log, env, start } = await openBullMqEnv();
    try {
      const ids: string[] = [];
      for (let index = 0; index < 32; index++)
        ids.push((await env.jobs.enqueue({ type: 'test-bypass', context: { sleepMs: 100 } })).id);
      // 32 ready jobs make 8 deliveries of 4.
      await start({});
      const first = await start({ executor: env.executor(), concurrency: 1 });
      await eventually(() => Promise.resolve(log.runs.size > 0), 10_000, 'a job to begin');
      await first.stop();
      const ranBeforeStop = log.runs.size;
      // The job running when it was asked to stop ends; the rest of its delivery is not begun.
      expect(ranBeforeStop).toBeLessThan(4);
      await start({ executor: env.executor(), concurrency: 8 });
      for (const id of ids)
        expect((await env.waitFor(id, ['Finished', 'Failed'], 20_000)).status).toBe('Finished');
      for (const id of ids) expect(log.runs.get(id)).toBe(1);
    } finally {
      await env.close();
    }
  });
});

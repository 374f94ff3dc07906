import { defineSyncJobType, EmbeddedJobQueue, type SyncJobType } from '@tillsync/jobs';
import { afterEach, describe, expect, it } from 'vitest';
import { newId, startTestServer } from '../helpers.js';
import { eventually, openJobsTestEnv, sleep, type JobsTestEnv } from './helpers.js';
import { RunLog, testJobTypes } from './test-job-types.js';

/** How often the embedded queue looks for work, and what wakes it in between. */
describe('the embedded queue wakes for its work and claims nothing while idle', () => {
  let env: JobsTestEnv | undefined;
  afterEach(async () => {
    await env?.close();
    env = undefined;
  });

  it('an idle queue reads whether a job is ready at each poll and claims only when one is', async () => {
    env = await openJobsTestEnv(testJobTypes(new RunLog()));
    const store = env.store;
    const claim = store.claim.bind(store);
    let claims = 0;
    store.claim = (request) => {
      claims += 1;
      return claim(request);
    };
    // Not in env.queues: nothing but its own polls tells it of jobs, as with jobs another process enqueued.
    const queue = new EmbeddedJobQueue({ store, executor: env.executor(), pollIntervalMs: 20 });
    await queue.start();
    try {
      await sleep(600);
      // One claim per queue when it started; some thirty polls of each since then claimed nothing.
      expect(claims).toBe(3);

      const customerId = newId();
      await env.push([
        {
          op: 'upsert',
          table: 'customers',
          id: customerId,
          values: { name: 'Ada', phone: null, email: null },
          updatedAt: env.stamp(),
        },
      ]);
      const job = await env.jobs.enqueue({
        type: 'test-single',
        source: customerId,
        context: { op: 'insert' },
      });
      await env.waitFor(job.id, ['Finished'], 5_000);
      expect(claims).toBeLessThan(10);
    } finally {
      await queue.stop();
    }
  });
});

describe('jobs that a job triggers', () => {
  it('start at once in their own queue, with no poll to wait for', async () => {
    const ran: string[] = [];
    const types: SyncJobType[] = [
      // A customer makes a category (queue short)…
      defineSyncJobType({
        name: 'customer-category',
        sourceTable: 'customers',
        targetTable: 'categories',
        mode: 'single',
        triggers: ['insert'],
        defaults: { queue: 'short' },
        getTargetDocument: (_job, source) => (source ? { operation: 'insert', id: source.id } : null),
        updateTargetDoc(_job, source, target) {
          target.values.name = `Group of ${String(source?.values.name)}`;
        },
      }),
      // …and a new category is sent on (queue long), triggered by that job's write.
      defineSyncJobType({
        name: 'category-announce',
        sourceTable: 'categories',
        mode: 'bypass',
        triggers: ['insert'],
        defaults: { queue: 'long' },
        execute(job, source) {
          ran.push(String(source?.values.name));
          return { target: { table: 'announcements', id: job.id }, operation: 'insert' };
        },
      }),
    ];
    // An hour between polls: only a wake starts a job within the test.
    const server = await startTestServer({ jobs: { pollIntervalMs: 3_600_000, types } });
    const till = await server.pair('till1');
    await till.push([till.upsert('customers', newId(), { name: 'Ada', phone: null, email: null })]);
    await eventually(() => ran.length > 0, 10_000, 'the job its job triggered to run');
    expect(ran).toEqual(['Group of Ada']);
  });
});

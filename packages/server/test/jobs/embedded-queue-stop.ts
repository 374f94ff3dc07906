import { EmbeddedJobQueue } from '@tillsync/jobs';
import { afterEach, describe, expect, it } from 'vitest';
import { openJobsTestEnv, type JobsTestEnv } from './helpers.js';
import { RunLog, testJobTypes } from './test-job-types.js';

/** Stop must reach the queue's loop wherever it is: asleep, or awaiting its store between two sleeps. */
export function describeEmbeddedQueueStop(options: { readonly postgres?: boolean } = {}): void {
  describe('stopping the embedded queue', () => {
    let env: JobsTestEnv | undefined;
    afterEach(async () => {
      await env?.close();
    });

    it('ends at once, wherever its loop is when asked', async () => {
      env = await openJobsTestEnv(testJobTypes(new RunLog()), options);
      // An hour between polls: a stop that missed the loop's wake-up would wait that long.
      const queue = new EmbeddedJobQueue({
        store: env.store,
        executor: env.executor(),
        pollIntervalMs: 3_600_000,
      });
      for (let round = 0; round < 30; round++) {
        await queue.start();
        // Stop after a different moment each round, so some stops land while the loop awaits its store.
        await new Promise((resolve) => setTimeout(resolve, round % 6));
        const outcome = await Promise.race([
          queue.stop().then(() => 'stopped'),
          new Promise((resolve) => setTimeout(resolve, 5_000, 'still waiting')),
        ]);
        expect(outcome, `round ${round}`).toBe('stopped');
      }
    });
  });
}

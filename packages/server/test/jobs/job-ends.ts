import { randomUUID } from 'node:crypto';
import { RUNNABLE_STATUSES, type ClaimedJob, type JobPatch } from '@tillsync/jobs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openJobsTestEnv, sleep, type JobsTestEnv } from './helpers.js';
import { RunLog, testJobTypes } from './test-job-types.js';

/** A job's end as its executor writes it: Finished now. */
const finished = (startedAt: number): JobPatch => ({
  status: 'Finished',
  startedAt,
  endedAt: Date.now(),
  durationMs: 0,
  readyAt: null,
  releaseLease: true,
});

/**
 * The end of a job that writes rows, against its claim: it counts only while the claim is current. On
 * PostgreSQL the end shares the tenant's transaction with the pushes queued beside it, where the jobs' ends
 * are written together before the commit; a claim taken over meanwhile must still write nothing.
 */
export function describeJobEnds(options: { readonly postgres?: boolean } = {}): void {
  describe(`a job's end that writes rows${options.postgres ? ' (PostgreSQL)' : ''}`, () => {
    let env: JobsTestEnv;

    beforeEach(async () => {
      env = await openJobsTestEnv(testJobTypes(new RunLog()), options);
    });
    afterEach(async () => {
      await env.close();
    });

    /** A job claimed by `workerId` for `leaseMs`. */
    const claimed = async (workerId: string, leaseMs: number): Promise<ClaimedJob> => {
      const [job] = await env.store.claim({
        workerId,
        queues: ['default'],
        now: Date.now(),
        leaseMs,
        limit: 1,
      });
      if (!job) throw new Error(`${workerId} claimed nothing`);
      return job;
    };

    /** Ends the claimed job writing the category `id`, as the executor's commit does. */
    const endWriting = (job: ClaimedJob, id: string, name: string): Promise<void> =>
      env.store.forTenant(env.tenantId).transaction(async (tx) => {
        await tx.writeTarget({
          table: 'categories',
          id,
          seen: null,
          values: { name },
          jobId: job.claim.jobId,
          jobType: job.record.type,
          jobSource: job.record.source,
        });
        if (!(await tx.updateClaimed(job.claim, RUNNABLE_STATUSES, finished(Date.now()))))
          throw new Error('the claim is no longer current');
        await tx.releaseLocks(job.claim.jobId);
      });

    it('writes nothing for a claim another worker took over, while the pushes beside it are stored', async () => {
      const source = randomUUID();
      await env.push([
        { table: 'customers', id: source, op: 'upsert', updatedAt: env.stamp(), values: { name: 'Ida' } },
      ]);
      const job = await env.jobs.enqueue({ type: 'test-bypass', source });
      const lapsed = await claimed('worker-that-stalled', 1);
      await sleep(20);
      // Its lease ran out: another worker takes the job over.
      const current = await claimed('worker-that-took-over', 10_000);
      expect(current.claim.jobId).toBe(job.id);

      const stale = randomUUID();
      const pushed = randomUUID();
      // The stale end and a push ask for the tenant's turn at the same moment.
      const [staleEnd, push] = await Promise.allSettled([
        endWriting(lapsed, stale, 'from the stale claim'),
        env.push([
          { table: 'customers', id: pushed, op: 'upsert', updatedAt: env.stamp(), values: { name: 'Jo' } },
        ]),
      ]);
      expect(staleEnd.status).toBe('rejected');
      expect(push.status === 'fulfilled' && push.value.results[0]?.status).toBe('applied');
      const rows = env.store.forTenant(env.tenantId).rows;
      expect(await rows.get('categories', stale)).toBeNull();
      expect((await rows.get('customers', pushed))?.values).toMatchObject({ name: 'Jo' });
      expect((await env.jobs.get(job.id)).status).toBe('Started');

      // The current claim's end counts.
      const written = randomUUID();
      await endWriting(current, written, 'from the current claim');
      expect((await rows.get('categories', written))?.values).toMatchObject({
        name: 'from the current claim',
      });
      expect((await env.jobs.get(job.id)).status).toBe('Finished');
    });

    it('ends several jobs that share the turn, each with its own row', async () => {
      const sources = [randomUUID(), randomUUID(), randomUUID()];
      await env.push(
        sources.map((id) => ({
          table: 'customers',
          id,
          op: 'upsert' as const,
          updatedAt: env.stamp(),
          values: { name: id },
        })),
      );
      for (const source of sources) await env.jobs.enqueue({ type: 'test-bypass', source });
      const jobs: ClaimedJob[] = [];
      for (const index of sources.keys()) jobs.push(await claimed(`worker-${index}`, 10_000));
      const targets = jobs.map(() => randomUUID());
      await Promise.all(jobs.map((job, index) => endWriting(job, targets[index]!, `row ${index}`)));
      const rows = env.store.forTenant(env.tenantId).rows;
      for (const [index, job] of jobs.entries()) {
        expect((await rows.get('categories', targets[index]!))?.values).toMatchObject({
          name: `row ${index}`,
        });
        expect((await env.jobs.get(job.claim.jobId)).status).toBe('Finished');
      }
    });
  });
}

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CompiledSchema, SHOP_SCHEMA, formatStamp, type SyncJobStatus } from '@tillsync/protocol';
import { applyPush, openStorage } from '@tillsync/server';
import { describe, expect, it } from 'vitest';
import { startCli, tempDir, tillsync, type CliRun } from './cli-process.js';

/**
 * `tillsync jobs list|show|enqueue|cancel|retry` and `tillsync worker` (PROTOCOL.md §6) on a server's
 * embedded database, with a shop's own job types loaded from `--jobs FILE`.
 */

const SHOP_JOBS = `export default [
  {
    name: 'always-fails',
    sourceTable: 'customers',
    mode: 'bypass',
    defaults: { maxRetries: 0 },
    execute() { throw new Error('the shop system said no'); },
  },
  {
    name: 'names-category',
    sourceTable: 'customers',
    targetTable: 'categories',
    mode: 'single',
    getTargetDocument: (job, source) => ({ operation: 'insert', id: source.id }),
    updateTargetDoc(job, source, target) { target.values.name = 'for ' + source.values.name; },
  },
];
`;

interface JobLine {
  readonly id: string;
  readonly type: string;
  readonly status: SyncJobStatus;
  readonly dryRun: boolean;
  readonly context: Record<string, unknown>;
  readonly errorMessage: string | null;
  readonly cancelReason: string | null;
  readonly source: { table: string; id: string };
  readonly target: { table: string; id: string } | null;
  readonly trigger: { type: string; table: string | null; id: string | null; at: string };
  readonly operation: string | null;
  readonly queue: string;
  readonly timeoutSec: number;
  readonly retryDelaySec: number;
  readonly maxRetries: number;
  readonly insertEnabled: boolean;
  readonly updateEnabled: boolean;
  readonly deleteEnabled: boolean;
  readonly updateWithoutChangesEnabled: boolean;
}

/** A shop database with two customers, and the module of its own job types. */
async function shop(): Promise<{
  dir: string;
  db: string;
  customers: string[];
  jobsFile: string;
  /** `tillsync jobs ARGS` on the shop's database (enqueue with the shop's job types). */
  jobs: (...args: string[]) => Promise<CliRun>;
}> {
  const dir = tempDir('tillsync-jobs-');
  const db = path.join(dir, 'cloud.db');
  const jobsFile = path.join(dir, 'shop-jobs.mjs');
  fs.writeFileSync(jobsFile, SHOP_JOBS);
  const created = await tillsync(
    [
      'admin',
      'create-tenant',
      '--db',
      db,
      '--name',
      'Shop',
      '--email',
      'o@shop.test',
      '--password',
      'a long password',
    ],
    { cwd: dir },
  );
  expect(created.code, created.stderr).toBe(0);
  const { tenantId } = JSON.parse(created.stdout) as { tenantId: string };
  const customers = [randomUUID(), randomUUID()];
  const storage = await openStorage({ dbPath: db });
  try {
    await applyPush(
      storage.sync.forTenant(tenantId),
      {
        pushId: randomUUID(),
        changes: customers.map((id, index) => ({
          table: 'customers',
          id,
          op: 'upsert' as const,
          updatedAt: formatStamp({ ms: Date.now(), counter: index, nodeId: 'till' }),
          values: { name: `Customer ${index}` },
        })),
      },
      { schema: new CompiledSchema(SHOP_SCHEMA), deviceId: 'till', now: Date.now },
    );
  } finally {
    await storage.close();
  }
  const jobs = (...args: string[]): Promise<CliRun> =>
    tillsync(['jobs', ...args, '--db', db, ...(args[0] === 'enqueue' ? ['--jobs', jobsFile] : [])], {
      cwd: dir,
    });
  return { dir, db, customers, jobsFile, jobs };
}

function jobOf(run: CliRun): JobLine {
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as JobLine;
}

function jobsOf(run: CliRun): JobLine[] {
  expect(run.code, run.stderr).toBe(0);
  return run.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as JobLine);
}

/** One line on stderr and exit code 2: a command called wrongly. */
function expectUsageError(run: CliRun, message: RegExp): void {
  expect(run.code, run.stdout).toBe(2);
  const lines = run.stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
}

describe('tillsync jobs and tillsync worker', () => {
  it('enqueue, run on a worker, show, list by status and type, cancel and retry', async () => {
    const { dir, db, customers, jobsFile, jobs } = await shop();

    const failing = jobOf(await jobs('enqueue', 'always-fails', '--source', `customers:${customers[0]}`));
    expect(failing).toMatchObject({ type: 'always-fails', status: 'Queued', trigger: { type: 'manual' } });
    const naming = jobOf(
      await jobs(
        'enqueue',
        'names-category',
        '--source',
        `customers:${customers[1]}`,
        '--context',
        '{"note":"hi"}',
      ),
    );
    expect(naming).toMatchObject({ status: 'Queued', context: { note: 'hi' }, dryRun: false });
    const dryRun = jobOf(
      await jobs('enqueue', 'names-category', '--source', `customers:${customers[0]}`, '--dry-run'),
    );
    expect(dryRun.dryRun).toBe(true);
    const canceled = jobOf(await jobs('cancel', dryRun.id, '--reason', 'not needed'));
    expect(canceled).toMatchObject({ status: 'Canceled', cancelReason: 'not needed' });

    const worker = await startCli(
      ['worker', '--db', db, '--jobs', jobsFile],
      /^tillsync worker: running default, short, long jobs from the database$/m,
      { cwd: dir },
    );
    const ended = new Set<SyncJobStatus>(['Finished', 'Failed']);
    const deadline = Date.now() + 30_000;
    let shown = [failing, naming];
    while (!shown.every((job) => ended.has(job.status))) {
      if (Date.now() > deadline) throw new Error(`jobs did not end: ${JSON.stringify(shown)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      shown = await Promise.all(shown.map(async (job) => jobOf(await jobs('show', job.id))));
    }
    expect(await worker.stop()).toBe(0);

    const [failed, finished] = shown;
    expect(failed).toMatchObject({
      status: 'Failed',
      errorMessage: expect.stringMatching(/the shop system said no/),
    });
    expect(finished).toMatchObject({ status: 'Finished', target: { table: 'categories', id: customers[1] } });
    // The canceled dry run never ran.
    expect(jobOf(await jobs('show', dryRun.id)).status).toBe('Canceled');

    // Newest first; filtered by status and by type.
    expect(jobsOf(await jobs('list')).map((job) => job.id)).toEqual([dryRun.id, naming.id, failing.id]);
    expect(jobsOf(await jobs('list', '--status', 'Finished')).map((job) => job.id)).toEqual([naming.id]);
    expect(jobsOf(await jobs('list', '--type', 'always-fails')).map((job) => job.id)).toEqual([failing.id]);
    expect(jobsOf(await jobs('list', '--limit', '1'))).toHaveLength(1);

    // The owner retries the failed job by hand; it is queued again, and can be canceled before it runs.
    expect(jobOf(await jobs('retry', failing.id)).status).toBe('Queued');
    expect(jobOf(await jobs('cancel', failing.id)).status).toBe('Canceled');
    expectUsageError(await jobs('cancel', failing.id), /is Canceled: only a job that is .* can be canceled/);
    expectUsageError(
      await jobs('retry', finished?.id ?? ''),
      /is Finished: only a job that is Failed can be retried/,
    );
  });

  it('enqueues with every option of PROTOCOL §6, and starts a Pending job', async () => {
    const { customers, jobs } = await shop();
    const source = `customers:${customers[0]}`;
    const job = jobOf(
      await jobs(
        'enqueue',
        'names-category',
        '--source',
        source,
        '--operation',
        'update',
        '--target',
        `categories:${customers[1]}`,
        '--trigger',
        `customers:${customers[1]}`,
        '--pending',
        '--queue',
        'long',
        '--timeout',
        '12.5',
        '--retry-delay',
        '0',
        '--max-retries',
        '0',
        '--no-insert',
        '--no-delete',
        '--update-without-changes',
      ),
    );
    expect(job).toMatchObject({
      status: 'Pending',
      operation: 'update',
      target: { table: 'categories', id: customers[1] },
      trigger: { type: 'manual', table: 'customers', id: customers[1] },
      queue: 'long',
      timeoutSec: 12.5,
      retryDelaySec: 0,
      maxRetries: 0,
      insertEnabled: false,
      updateEnabled: true,
      deleteEnabled: false,
      updateWithoutChangesEnabled: true,
    });
    expect(jobOf(await jobs('start', job.id)).status).toBe('Queued');
    expectUsageError(await jobs('start', job.id), /is Queued: only a job that is Pending can be started/);
    // The defaults when no option is given.
    expect(jobOf(await jobs('enqueue', 'names-category', '--source', source))).toMatchObject({
      status: 'Queued',
      operation: null,
      trigger: { type: 'manual', table: null, id: null },
      insertEnabled: true,
      updateEnabled: true,
      deleteEnabled: true,
      updateWithoutChangesEnabled: false,
    });
  });

  it('every command answers --help; wrong options are one line and exit code 2', async () => {
    const { dir, db, customers, jobs } = await shop();
    for (const command of [
      ['jobs'],
      ['jobs', 'list'],
      ['jobs', 'show'],
      ['jobs', 'enqueue'],
      ['jobs', 'start'],
      ['jobs', 'cancel'],
      ['jobs', 'retry'],
      ['worker'],
    ]) {
      const help = await tillsync([...command, '--help'], { cwd: dir });
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toMatch(/^Usage: tillsync /m);
    }
    const enqueueHelp = (await tillsync(['jobs', 'enqueue', '--help'], { cwd: dir })).stdout;
    for (const flag of ['--operation', '--target', '--trigger', '--pending', '--queue', '--timeout'])
      expect(enqueueHelp).toContain(flag);
    expect((await tillsync(['worker', '--help'], { cwd: dir })).stdout).toContain('--job-retention-days');
    expect((await tillsync(['serve', '--help'], { cwd: dir })).stdout).toContain('--push-job-wait-ms');
    const source = `customers:${customers[0]}`;
    expectUsageError(
      await jobs('enqueue', 'names-category', '--source', source, '--wrong'),
      /unknown option '--wrong'/,
    );
    expectUsageError(
      await jobs('enqueue', 'names-category', '--source', source, '--target', `categories:${customers[1]}`),
      /--target needs --operation/,
    );
    expectUsageError(
      await jobs('enqueue', 'names-category', '--source', source, '--operation', 'upsert'),
      /Allowed choices are insert, update, delete/,
    );
    expectUsageError(
      await jobs('enqueue', 'names-category', '--source', source, '--trigger', 'customers:nobody'),
      /trigger row customers nobody does not exist/,
    );
    expectUsageError(
      await jobs('enqueue', 'names-category', '--source', source, '--timeout', '0'),
      /--timeout must be/,
    );
    expectUsageError(
      await jobs('enqueue', 'names-category', '--source', source, '--max-retries', '-1'),
      /--max-retries must be/,
    );
    expectUsageError(await jobs('start', randomUUID()), /there is no sync job/);
    expectUsageError(
      await tillsync(['worker', '--db', db, '--concurrency', 'long=0'], { cwd: dir }),
      /--concurrency must be a number from 1 to 1000, or QUEUE=N pairs/,
    );
    expectUsageError(
      await tillsync(['worker', '--db', db, '--job-retention-days', '-3'], { cwd: dir }),
      /--job-retention-days must be a whole number from 0/,
    );
    expectUsageError(
      await tillsync(['serve', '--db', db, '--push-job-wait-ms', 'soon'], { cwd: dir }),
      /--push-job-wait-ms must be a whole number from 0/,
    );
    // Only a server answers pushes.
    expectUsageError(
      await tillsync(['worker', '--db', db, '--push-job-wait-ms', '0'], { cwd: dir }),
      /unknown option '--push-job-wait-ms'/,
    );
    expect(jobsOf(await jobs('list'))).toEqual([]);
  });

  it('a worker takes per-queue concurrency and a retention', async () => {
    const { dir, db, jobsFile } = await shop();
    const worker = await startCli(
      [
        'worker',
        '--db',
        db,
        '--jobs',
        jobsFile,
        '--concurrency',
        'short=4,default=2,long=2',
        '--job-retention-days',
        '0',
      ],
      /^tillsync worker: running default, short, long jobs from the database$/m,
      { cwd: dir },
    );
    expect(await worker.stop()).toBe(0);
  });

  it('refuses wrong calls with one line and exit code 2, changing nothing', async () => {
    const { dir, db, customers, jobs } = await shop();
    const source = `customers:${customers[0]}`;
    expectUsageError(await jobs('enqueue', 'no-such-type', '--source', source), /no job type "no-such-type"/);
    expectUsageError(
      await jobs('enqueue', 'names-category', '--source', 'customers'),
      /--source must be TABLE:ID/,
    );
    expectUsageError(
      await jobs('enqueue', 'names-category', '--source', source, '--context', '{not json'),
      /--context is not JSON/,
    );
    expectUsageError(await jobs('show', randomUUID()), /there is no sync job/);
    expectUsageError(await jobs('list', '--status', 'Done'), /Allowed choices are Pending/);
    expectUsageError(
      await tillsync(['jobs', 'list', '--db', path.join(dir, 'missing.db')], { cwd: dir }),
      /missing\.db: there is no such file/,
    );
    expectUsageError(
      await tillsync(
        [
          'jobs',
          'enqueue',
          'names-category',
          '--source',
          source,
          '--db',
          db,
          '--jobs',
          path.join(dir, 'missing.mjs'),
        ],
        { cwd: dir },
      ),
      /missing\.mjs: the module could not be loaded/,
    );
    expect(jobsOf(await jobs('list'))).toEqual([]);
  });
});

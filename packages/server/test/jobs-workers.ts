import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CompiledSchema, SHOP_SCHEMA, formatStamp } from '@tillsync/protocol';
import { JobTypeRegistry, SyncJobs, checkJobType } from '@tillsync/jobs';
import { applyPush, type Storage } from '@tillsync/server';
import { describe, expect, it, onTestFinished } from 'vitest';
import { storageWithShop, tempDir } from './helpers.js';

const CLI = fileURLToPath(new URL('../../cli/bin/tillsync.js', import.meta.url));

/**
 * A job module as a shop writes one (plain objects, as `--jobs FILE` accepts): `slow-category` inserts a
 * category named after its customer after sleeping; every run appends "<job id> <pid>" to RUN_LOG.
 */
function writeJobModule(dir: string): { file: string; runLog: string } {
  const runLog = path.join(dir, 'runs.log');
  const file = path.join(dir, 'shop-jobs.mjs');
  fs.writeFileSync(
    file,
    `import fs from 'node:fs';
const log = (job) => fs.appendFileSync(${JSON.stringify(runLog)}, job.id + ' ' + process.pid + '\\n');
export default [
  {
    name: 'slow-category',
    sourceTable: 'customers',
    targetTable: 'categories',
    mode: 'single',
    getTargetDocument: (job, source) => ({ operation: 'insert', id: source.id }),
    async updateTargetDoc(job, source, target) {
      log(job);
      await new Promise((resolve) => setTimeout(resolve, Number(job.context.ms ?? 0)));
      target.values.name = 'made by ' + source.values.name;
    },
  },
  {
    name: 'ticker',
    sourceTable: 'customers',
    mode: 'bypass',
    execute(job) {
      log(job);
      return { target: { table: 'ticks', id: job.trigger.at ? String(job.trigger.at) : job.id } };
    },
  },
];
`,
  );
  return { file, runLog };
}

interface Setup {
  readonly dbPath: string;
  readonly storage: Storage;
  readonly tenantId: string;
  readonly jobs: ReturnType<SyncJobs['forTenant']>;
  readonly runLog: string;
  readonly jobsFile: string;
  customers(count: number): Promise<string[]>;
  worker(extraArgs: readonly string[]): Promise<ChildProcess>;
}

async function setup(): Promise<Setup> {
  const dir = tempDir();
  const dbPath = path.join(dir, 'cloud.db');
  const { storage, tenantId } = await storageWithShop(dbPath);
  const { file, runLog } = writeJobModule(dir);
  const module = (await import(pathToFileURL(file).href)) as { default: unknown[] };
  const schema = new CompiledSchema(SHOP_SCHEMA);
  const types = new JobTypeRegistry(module.default.map(checkJobType));
  const jobs = new SyncJobs({ store: storage.createJobStore({ schema, types }), types }).forTenant(tenantId);
  return {
    dbPath,
    storage,
    tenantId,
    jobs,
    runLog,
    jobsFile: file,
    async customers(count) {
      const ids = Array.from({ length: count }, () => randomUUID());
      await applyPush(
        storage.sync.forTenant(tenantId),
        {
          pushId: randomUUID(),
          changes: ids.map((id, index) => ({
            table: 'customers',
            id,
            op: 'upsert' as const,
            updatedAt: formatStamp({ ms: Date.now(), counter: index, nodeId: 'till' }),
            values: { name: `c${index}` },
          })),
        },
        { schema, deviceId: 'till', now: Date.now },
      );
      return ids;
    },
    async worker(extraArgs) {
      const child = spawn(
        process.execPath,
        [CLI, 'worker', '--db', dbPath, '--jobs', file, '--lease-seconds', '1', ...extraArgs],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      onTestFinished(async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await new Promise((resolve) => child.once('exit', resolve));
        }
      });
      // Ready when it says so on stdout.
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('tillsync worker: running')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`the worker exited with ${code}: ${output}`)));
      });
      return child;
    },
  };
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const runsOf = (runLog: string): string[][] =>
  fs.existsSync(runLog)
    ? fs
        .readFileSync(runLog, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(' '))
    : [];

/** The tests with real `tillsync worker` processes, for one transport (`extraArgs` select it). */
export function describeWorkerProcesses(name: string, extraArgs: () => readonly string[]): void {
  describe(`tillsync worker processes: ${name}`, () => {
    it('a job whose worker is killed mid-job finishes on another, its target written once', async () => {
      const args = extraArgs();
      const shop = await setup();
      const [customer] = await shop.customers(1);
      const job = await shop.jobs.enqueue({
        type: 'slow-category',
        source: customer ?? '',
        context: { ms: 2_500 },
      });
      const first = await shop.worker(args);
      await until(
        () => Promise.resolve(runsOf(shop.runLog).length === 1),
        15_000,
        'the first worker to start the job',
      );
      expect((await shop.jobs.get(job.id)).status).toBe('Started');
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));
      const second = await shop.worker(args);
      await until(
        async () => (await shop.jobs.get(job.id)).status === 'Finished',
        20_000,
        'the job to finish on the second worker',
      );
      const runs = runsOf(shop.runLog);
      expect(runs.map(([id]) => id)).toEqual([job.id, job.id]);
      expect(runs[0]?.[1]).toBe(String(first.pid));
      expect(runs[1]?.[1]).toBe(String(second.pid));
      const record = await shop.storage
        .createJobStore({ schema: new CompiledSchema(SHOP_SCHEMA) })
        .forTenant(shop.tenantId)
        .getJob(job.id);
      expect(record?.recoveries).toBe(1);
      const category = await shop.storage
        .createJobStore({ schema: new CompiledSchema(SHOP_SCHEMA) })
        .forTenant(shop.tenantId)
        .rows.get('categories', customer ?? '');
      expect(category?.values).toEqual({ name: 'made by c0' });
      const page = await shop.storage.sync.forTenant(shop.tenantId).pull(0, 100);
      expect(!page.resyncRequired && page.rows.filter((row) => row.table === 'categories')).toHaveLength(1);
      second.kill('SIGTERM');
      expect(await new Promise((resolve) => second.once('exit', resolve))).toBe(0);
    });

    it("a schedule's tick enqueues one job across two worker processes", async () => {
      const args = extraArgs();
      const shop = await setup();
      await shop.jobs.updateType('ticker', { schedule: '* * * * * *' });
      await Promise.all([shop.worker(args), shop.worker(args)]);
      await until(
        async () => (await shop.jobs.list({ type: 'ticker', status: 'Finished' })).length >= 3,
        20_000,
        'three ticks to run',
      );
      await shop.jobs.updateType('ticker', { schedule: null });
      const ticks = await shop.jobs.list({ type: 'ticker', limit: 1000 });
      expect(ticks.every((job) => job.trigger.type === 'scheduler')).toBe(true);
      const at = ticks.map((job) => job.trigger.at);
      expect(new Set(at).size).toBe(at.length);
      // Each on a whole second, as the schedule says.
      expect(at.every((iso) => iso.endsWith('.000Z'))).toBe(true);
    });

    it('many jobs on two workers: each runs once, none is lost', async () => {
      const args = extraArgs();
      const shop = await setup();
      const customers = await shop.customers(60);
      const ids: string[] = [];
      for (const customer of customers)
        ids.push(
          (await shop.jobs.enqueue({ type: 'slow-category', source: customer, context: { ms: 5 } })).id,
        );
      await Promise.all([shop.worker(args), shop.worker(args)]);
      await until(
        async () => (await shop.jobs.list({ status: 'Finished', limit: 1000 })).length === ids.length,
        30_000,
        'every job to finish',
      );
      const runs = runsOf(shop.runLog);
      // Each job ran exactly once, whichever process claimed it. (Which processes took part depends on how the
      // machine schedules them, so it is not asserted: on a loaded machine one may claim every job.)
      expect(runs.map(([id]) => id).sort()).toEqual([...ids].sort());
    });
  });
}

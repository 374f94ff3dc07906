import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  SYNC_JOB_OPERATIONS,
  SYNC_JOB_QUEUES,
  SYNC_JOB_STATUSES,
  type SyncJobOperation,
  type SyncJobQueue,
  type SyncJobStatus,
} from '@tillsync/protocol/sync-job-names';
import type { EnqueueSyncJobOptions, QueueConcurrency, SyncJobType } from '@tillsync/jobs';
import type { OfflineSyncJobs, ServerJobsOptions, Storage } from '@tillsync/server';
import { Option, type Command } from 'commander';
import { addDatabaseOptions, databaseFrom, withServerDatabase } from './server-database.js';
import { integer, optionFor, readSetting, text, type Setting } from './settings.js';
import { untilStopSignal } from './stop-signal.js';
import { UsageError } from './usage-error.js';

/** The sync-job settings of `serve` and `worker` (PROTOCOL.md §6). */
export const JOB_SETTINGS = {
  jobs: {
    flag: '--jobs <file>',
    env: 'TILLSYNC_JOBS',
    description: "an ES module whose default export is an array of the shop's own job types",
    parse: text,
  },
  redisUrl: {
    flag: '--redis-url <url>',
    env: 'TILLSYNC_REDIS_URL',
    description:
      'run jobs on BullMQ at this Redis (tillsync worker processes run them); serve also sends live notices through it',
    parse: (value: string, name: string): string => {
      if (!/^rediss?:\/\//.test(value))
        throw new UsageError(`${name} must be a redis:// URL, not "${value}"`);
      return value;
    },
  },
  bullmqPrefix: {
    flag: '--bullmq-prefix <prefix>',
    env: 'TILLSYNC_BULLMQ_PREFIX',
    description: "the prefix of BullMQ's Redis keys (default tillsync)",
    parse: text,
  },
  catalogWebhook: {
    flag: '--catalog-webhook <url>',
    env: 'TILLSYNC_CATALOG_WEBHOOK',
    description: 'where product-web-catalog sends changed products (unset: that job type is disabled)',
    parse: (value: string, name: string): string => {
      if (!/^https?:\/\//.test(value))
        throw new UsageError(`${name} must be an http(s):// URL, not "${value}"`);
      return value;
    },
  },
  concurrency: {
    flag: '--concurrency <n | queue=n,…>',
    env: 'TILLSYNC_JOB_CONCURRENCY',
    description:
      'jobs run at once per queue: one number for each queue, or per queue as short=4,default=2,long=2 (default 8 each)',
    parse: parseConcurrency,
  },
  jobRetentionDays: {
    flag: '--job-retention-days <days>',
    env: 'TILLSYNC_JOB_RETENTION_DAYS',
    description: 'delete jobs that ended for good this many days after their end; 0 keeps them (default 30)',
    parse: integer(0, 36_500),
  },
} satisfies Record<string, Setting<unknown>>;

/** The sync-job settings of `serve` alone. */
export const SERVE_JOB_SETTINGS = {
  ...JOB_SETTINGS,
  pushJobWaitMs: {
    flag: '--push-job-wait-ms <ms>',
    env: 'TILLSYNC_PUSH_JOB_WAIT_MS',
    description:
      "how long a push waits for the jobs it triggered, so the device's pull in the same cycle carries their rows; 0 answers at once and their rows come by live notice or the next cycle (default 2000)",
    parse: integer(0, 60_000),
  },
} satisfies Record<string, Setting<unknown>>;

/** `--concurrency`: `8` (each queue), or `short=4,default=2,long=2` (a queue left out gets 8). */
export function parseConcurrency(value: string, name: string): QueueConcurrency {
  if (/^\s*\d+\s*$/.test(value)) return integer(1, 1000)(value.trim(), name);
  const perQueue: Partial<Record<SyncJobQueue, number>> = {};
  for (const part of value.split(',')) {
    const match = /^\s*([a-z]+)\s*=\s*(\d+)\s*$/.exec(part);
    const queue = match?.[1] as SyncJobQueue | undefined;
    const count = Number(match?.[2]);
    if (!queue || !(SYNC_JOB_QUEUES as readonly string[]).includes(queue) || count < 1 || count > 1000) {
      throw new UsageError(
        `${name} must be a number from 1 to 1000, or QUEUE=N pairs such as short=4,default=2,long=2 (queues ${SYNC_JOB_QUEUES.join(', ')}), not "${value}"`,
      );
    }
    perQueue[queue] = count;
  }
  return perQueue;
}

const WORKER_SETTINGS = {
  ...JOB_SETTINGS,
  queues: {
    flag: '--queues <names>',
    env: 'TILLSYNC_QUEUES',
    description: `the queues to serve, comma-separated (default ${SYNC_JOB_QUEUES.join(',')})`,
    parse: (value: string, name: string): SyncJobQueue[] => {
      const queues = value
        .split(',')
        .map((queue) => queue.trim())
        .filter(Boolean);
      const unknown = queues.filter((queue) => !(SYNC_JOB_QUEUES as readonly string[]).includes(queue));
      if (queues.length === 0 || unknown.length > 0) {
        throw new UsageError(`${name} must list queues among ${SYNC_JOB_QUEUES.join(', ')}, not "${value}"`);
      }
      return queues as SyncJobQueue[];
    },
  },
  leaseSeconds: {
    flag: '--lease-seconds <n>',
    env: 'TILLSYNC_JOB_LEASE_SECONDS',
    description: "how soon another worker takes over a dead worker's jobs (default 30)",
    parse: integer(1, 3600),
  },
} satisfies Record<string, Setting<unknown>>;

/**
 * Loads `--jobs FILE`: an ES module whose default export is an array of job types. A module that fails to
 * load, or a type whose controller is incomplete, is a usage error naming the file (and the type).
 */
export async function loadJobTypes(file: string): Promise<SyncJobType[]> {
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(path.resolve(file)).href)) as { default?: unknown };
  } catch (error) {
    throw new UsageError(
      `--jobs ${file}: the module could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (!Array.isArray(loaded.default)) {
    throw new UsageError(
      `--jobs ${file}: its default export must be an array of job types made with defineSyncJobType`,
    );
  }
  const { JobTypeError, checkJobType } = await import('@tillsync/jobs');
  return loaded.default.map((type: unknown) => {
    try {
      return checkJobType(type);
    } catch (error) {
      if (error instanceof JobTypeError) throw new UsageError(`--jobs ${file}: ${error.message}`);
      throw error;
    }
  });
}

/** The sync-job options of `serve` from its flags: with `--redis-url` the server hands jobs over and runs none. */
export async function serveJobOptions(flags: Record<string, unknown>): Promise<ServerJobsOptions> {
  const file = readSetting(JOB_SETTINGS.jobs, flags);
  const redisUrl = readSetting(JOB_SETTINGS.redisUrl, flags);
  const bullmqPrefix = readSetting(JOB_SETTINGS.bullmqPrefix, flags);
  const concurrency = readSetting(JOB_SETTINGS.concurrency, flags);
  const retentionDays = readSetting(JOB_SETTINGS.jobRetentionDays, flags);
  const pushWaitMs = readSetting(SERVE_JOB_SETTINGS.pushJobWaitMs, flags);
  return {
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(retentionDays !== undefined ? { retentionDays } : {}),
    ...(pushWaitMs !== undefined ? { pushWaitMs } : {}),
    types: file === undefined ? [] : await loadJobTypes(file),
    redisUrl: redisUrl ?? null,
    ...(bullmqPrefix !== undefined ? { bullmqPrefix } : {}),
    catalogWebhookUrl: readSetting(JOB_SETTINGS.catalogWebhook, flags) ?? null,
    run: redisUrl === undefined,
  };
}

/** `tillsync jobs …` and `tillsync worker` (PROTOCOL.md §6). */
export function registerJobCommands(program: Command): void {
  const jobs = program.command('jobs').description("look at and act on sync jobs in the server's database");

  addDatabaseOptions(
    jobs
      .command('list')
      .description('print the newest jobs as JSON lines')
      .addOption(
        new Option('--status <status>', 'only jobs with this status').choices([...SYNC_JOB_STATUSES]),
      )
      .option('--type <type>', 'only jobs of this type')
      .option('--limit <n>', 'at most this many (default 100)')
      .option('--tenant <id>', 'the tenant (needed when the database has several)'),
  ).action(async (flags: Record<string, unknown>) => {
    const limit = typeof flags.limit === 'string' ? integer(1, 1000)(flags.limit, '--limit') : undefined;
    await withJobs(flags, async (cli) => {
      const tenant = await cli.tenant(flags.tenant as string | undefined);
      const list = await tenant.list({
        ...(flags.status ? { status: flags.status as SyncJobStatus } : {}),
        ...(typeof flags.type === 'string' ? { type: flags.type } : {}),
        ...(limit !== undefined ? { limit } : {}),
      });
      for (const job of list) printJson(job);
    });
  });

  addDatabaseOptions(
    jobs.command('show').description('print one job as JSON').argument('<id>', 'the job id'),
  ).action(async (id: string, flags: Record<string, unknown>) => {
    await withJobs(flags, async (cli) => printJson(await (await cli.tenantOfJob(id)).get(id)));
  });

  addDatabaseOptions(
    jobs
      .command('enqueue')
      .description('enqueue a job of a type for a source row; prints the job as JSON')
      .argument('<type>', 'the job type')
      .requiredOption('--source <table:id>', 'the source row')
      .option('--dry-run', 'compute the diff and write nothing')
      .option('--context <json>', 'a JSON object the controller reads')
      .addOption(
        new Option('--operation <op>', 'what to do to the target (needed with --target)').choices([
          ...SYNC_JOB_OPERATIONS,
        ]),
      )
      .option('--target <table:id>', "the target row, when it is known (skips the controller's lookup)")
      .option('--trigger <table:id>', 'the row that caused the job; recorded with its updatedAt')
      .option('--pending', 'leave the job Pending until `tillsync jobs start ID`')
      .addOption(new Option('--queue <queue>', "this job's queue").choices([...SYNC_JOB_QUEUES]))
      .option('--timeout <seconds>', "this job's timeout in seconds")
      .option('--retry-delay <seconds>', 'seconds a failed run waits before its retry')
      .option('--max-retries <n>', 'how often a failed run is retried by itself')
      .option('--no-insert', 'never insert a target (the job ends Skipped instead)')
      .option('--no-update', 'never update a target')
      .option('--no-delete', 'never delete a target')
      .option('--update-without-changes', 'write an update even when it changes nothing')
      .option('--jobs <file>', "the module of the shop's own job types, when TYPE is one of them")
      .option('--tenant <id>', 'the tenant (needed when the database has several)'),
  ).action(async (type: string, flags: Record<string, unknown>) => {
    const options = enqueueOptions(type, flags);
    await withJobs(flags, async (cli) => {
      const tenant = await cli.tenant(flags.tenant as string | undefined);
      printJson(await tenant.enqueue(options));
    });
  });

  addDatabaseOptions(
    jobs
      .command('start')
      .description('queue a Pending job; prints it as JSON')
      .argument('<id>', 'the job id'),
  ).action(async (id: string, flags: Record<string, unknown>) => {
    await withJobs(flags, async (cli) => printJson(await (await cli.tenantOfJob(id)).start(id)));
  });

  addDatabaseOptions(
    jobs
      .command('cancel')
      .description('cancel a Pending, Queued or Failed job; prints it as JSON')
      .argument('<id>', 'the job id')
      .option('--reason <text>', 'why'),
  ).action(async (id: string, flags: Record<string, unknown>) => {
    await withJobs(flags, async (cli) =>
      printJson(
        await (
          await cli.tenantOfJob(id)
        ).cancel(id, typeof flags.reason === 'string' ? flags.reason : undefined),
      ),
    );
  });

  addDatabaseOptions(
    jobs
      .command('retry')
      .description('queue a Failed job again; prints it as JSON')
      .argument('<id>', 'the job id'),
  ).action(async (id: string, flags: Record<string, unknown>) => {
    await withJobs(flags, async (cli) => printJson(await (await cli.tenantOfJob(id)).retry(id)));
  });

  const worker = addDatabaseOptions(
    program
      .command('worker')
      .description(
        'run sync jobs: on BullMQ with --redis-url (as many workers as needed), else from the database',
      ),
  );
  for (const setting of Object.values(WORKER_SETTINGS)) worker.addOption(optionFor(setting));
  worker.action(async (flags: Record<string, unknown>) => {
    const location = databaseFrom(flags, { mustExist: true, fallback: './data/cloud.db' });
    const file = readSetting(WORKER_SETTINGS.jobs, flags);
    const redisUrl = readSetting(WORKER_SETTINGS.redisUrl, flags);
    const queues = readSetting(WORKER_SETTINGS.queues, flags) ?? [...SYNC_JOB_QUEUES];
    const concurrency = readSetting(WORKER_SETTINGS.concurrency, flags);
    const leaseSeconds = readSetting(WORKER_SETTINGS.leaseSeconds, flags);
    const retentionDays = readSetting(WORKER_SETTINGS.jobRetentionDays, flags);
    const bullmqPrefix = readSetting(WORKER_SETTINGS.bullmqPrefix, flags);
    const { startJobWorker } = await import('@tillsync/server');
    const { JobTypeError } = await import('@tillsync/jobs');
    const running = await startJobWorker({
      location,
      types: file === undefined ? [] : await loadJobTypes(file),
      redisUrl: redisUrl ?? null,
      catalogWebhookUrl: readSetting(WORKER_SETTINGS.catalogWebhook, flags) ?? null,
      queues,
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(leaseSeconds !== undefined ? { leaseMs: leaseSeconds * 1000 } : {}),
      ...(retentionDays !== undefined ? { retentionDays } : {}),
      ...(bullmqPrefix !== undefined ? { bullmqPrefix } : {}),
    }).catch((error: unknown) => {
      if (error instanceof JobTypeError) throw new UsageError(error.message);
      throw error;
    });
    // Listening for the stop before saying it runs: whoever waits for the line may stop it at once (a signal
    // that came first would end the process without its stop).
    const stopAsked = untilStopSignal();
    process.stdout.write(
      `tillsync worker: running ${queues.join(', ')} jobs ${redisUrl ? `from BullMQ at ${redisUrl}` : 'from the database'}\n`,
    );
    // The queues' timers do not hold the process open; this does, until a signal stops the worker.
    const keepAlive = setInterval(() => {}, 1 << 30);
    await stopAsked;
    clearInterval(keepAlive);
    await running.stop();
  });
}

async function withJobs(
  flags: Record<string, unknown>,
  work: (cli: OfflineSyncJobs) => Promise<void>,
): Promise<void> {
  const location = databaseFrom(flags, { mustExist: true, fallback: './data/cloud.db' });
  const types = typeof flags.jobs === 'string' ? await loadJobTypes(flags.jobs) : [];
  const { OfflineSyncJobs } = await import('@tillsync/server');
  const { SyncJobError } = await import('@tillsync/jobs');
  await withServerDatabase(location, async (storage: Storage) => {
    try {
      await work(new OfflineSyncJobs(storage, { types }));
    } catch (error) {
      if (error instanceof SyncJobError) throw new UsageError(error.message);
      throw error;
    }
  });
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** `TABLE:ID` of a flag as a row. */
function rowFlag(value: unknown, name: string): { table: string; id: string } {
  const text = String(value);
  const at = text.indexOf(':');
  if (at <= 0 || at === text.length - 1) throw new UsageError(`${name} must be TABLE:ID, not "${text}"`);
  return { table: text.slice(0, at), id: text.slice(at + 1) };
}

/** A number of seconds of a flag: more than 0 for a timeout, 0 or more otherwise. */
function secondsFlag(value: string, name: string, positive: boolean): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0 || (positive && seconds === 0)) {
    throw new UsageError(
      `${name} must be a number of seconds${positive ? ' above 0' : ', 0 or more'}, not "${value}"`,
    );
  }
  return seconds;
}

/** The options of `jobs enqueue` from its flags (PROTOCOL.md §6); a wrong one is a usage error. */
function enqueueOptions(type: string, flags: Record<string, unknown>): EnqueueSyncJobOptions {
  let context: Record<string, unknown> | undefined;
  if (typeof flags.context === 'string') {
    try {
      context = JSON.parse(flags.context) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`--context is not JSON: ${(error as Error).message}`);
    }
    if (typeof context !== 'object' || context === null || Array.isArray(context)) {
      throw new UsageError('--context must be a JSON object');
    }
  }
  const target = flags.target === undefined ? undefined : rowFlag(flags.target, '--target');
  const operation = flags.operation as SyncJobOperation | undefined;
  if (target && !operation) throw new UsageError('--target needs --operation insert, update or delete');
  const settings: EnqueueSyncJobOptions['settings'] = {
    ...(typeof flags.queue === 'string' ? { queue: flags.queue as SyncJobQueue } : {}),
    ...(typeof flags.timeout === 'string'
      ? { timeoutSec: secondsFlag(flags.timeout, '--timeout', true) }
      : {}),
    ...(typeof flags.retryDelay === 'string'
      ? { retryDelaySec: secondsFlag(flags.retryDelay, '--retry-delay', false) }
      : {}),
    ...(typeof flags.maxRetries === 'string'
      ? { maxRetries: integer(0, 1000)(flags.maxRetries, '--max-retries') }
      : {}),
  };
  const trigger = flags.trigger === undefined ? undefined : rowFlag(flags.trigger, '--trigger');
  return {
    type,
    source: rowFlag(flags.source, '--source'),
    ...(context ? { context } : {}),
    ...(operation ? { operation } : {}),
    ...(target ? { target } : {}),
    dryRun: flags.dryRun === true,
    queueOnInsert: flags.pending !== true,
    settings,
    flags: {
      insertEnabled: flags.insert !== false,
      updateEnabled: flags.update !== false,
      deleteEnabled: flags.delete !== false,
      updateWithoutChangesEnabled: flags.updateWithoutChanges === true,
    },
    trigger: { type: 'manual', ...(trigger ?? {}) },
  };
}

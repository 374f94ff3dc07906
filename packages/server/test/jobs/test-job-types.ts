import {
  defineSyncJobType,
  UnrecoverableJobError,
  type JsonObject,
  type SyncJobType,
  type TargetInfo,
} from '@tillsync/jobs';

/**
 * Job types for the tests, on the built-in schema: customers are the source, categories the target (a
 * category's name is its customer's name plus the context's suffix). The context steers each run.
 */

/** What the test types saw, per job id: how often each ran, and the most that ran at once per target. */
export class RunLog {
  readonly runs = new Map<string, number>();
  readonly running = new Map<string, number>();
  maxTogether = 0;
  readonly sources: unknown[] = [];
  /** What `job.triggerRow()` read, per job id. */
  readonly triggerRows = new Map<string, unknown>();
  /** Jobs whose signal was aborted while their controller ran. */
  readonly aborted = new Set<string>();

  enter(jobId: string, key: string): void {
    this.runs.set(jobId, (this.runs.get(jobId) ?? 0) + 1);
    const now = (this.running.get(key) ?? 0) + 1;
    this.running.set(key, now);
    this.maxTogether = Math.max(this.maxTogether, now);
  }

  leave(key: string): void {
    this.running.set(key, (this.running.get(key) ?? 1) - 1);
  }
}

const wait = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    });
  });

interface Steer {
  op?: 'insert' | 'update' | 'delete';
  targetId?: string;
  none?: boolean;
  fail?: string;
  failTimes?: number;
  unrecoverable?: boolean;
  sleepMs?: number;
  suffix?: string;
  targets?: Array<{ op: 'insert' | 'update' | 'delete'; id?: string; suffix?: string }>;
  failInBeforeSync?: boolean;
  badValue?: boolean;
  /** Insert the target when it does not exist, else update it (the controller looks). */
  upsert?: boolean;
  /** Sleep this long whatever the signal says (a controller that does not stop at once). */
  stubbornMs?: number;
}

const steer = (context: JsonObject): Steer => context;

export function testJobTypes(log: RunLog): SyncJobType[] {
  const failures = new Map<string, number>();
  const maybeFail = (jobId: string, s: Steer): void => {
    if (s.fail === undefined) return;
    const failed = failures.get(jobId) ?? 0;
    if (s.failTimes !== undefined && failed >= s.failTimes) return;
    failures.set(jobId, failed + 1);
    throw s.unrecoverable ? new UnrecoverableJobError(s.fail) : new Error(s.fail);
  };
  const shape = async (
    job: Parameters<Extract<SyncJobType, { mode: 'single' }>['updateTargetDoc']>[0],
    source: Parameters<Extract<SyncJobType, { mode: 'single' }>['updateTargetDoc']>[1],
    target: Parameters<Extract<SyncJobType, { mode: 'single' }>['updateTargetDoc']>[2],
  ): Promise<void> => {
    const s = steer(job.context);
    log.enter(job.id, `${target.table}:${target.id}`);
    try {
      log.triggerRows.set(job.id, await job.triggerRow());
      if (s.sleepMs) await wait(s.sleepMs, job.signal);
      if (s.stubbornMs) {
        await new Promise((resolve) => setTimeout(resolve, s.stubbornMs));
        if (job.signal.aborted) log.aborted.add(job.id);
      }
      maybeFail(job.id, s);
      target.values.name = s.badValue ? 42 : `${String(source?.values.name ?? 'nobody')}${s.suffix ?? ''}`;
    } finally {
      log.leave(`${target.table}:${target.id}`);
    }
  };
  return [
    defineSyncJobType({
      name: 'test-single',
      sourceTable: 'customers',
      targetTable: 'categories',
      mode: 'single',
      async getTargetDocument(job, source): Promise<TargetInfo | null> {
        const s = steer(job.context);
        log.sources.push(source);
        if (s.none) return null;
        if (s.upsert && s.targetId) {
          const exists = await job.rows.get('categories', s.targetId);
          return { operation: exists ? 'update' : 'insert', id: s.targetId };
        }
        return {
          operation: s.op ?? 'update',
          ...(s.targetId ? { id: s.targetId } : source ? { id: source.id } : {}),
        };
      },
      updateTargetDoc: shape,
      beforeSync(job) {
        if (steer(job.context).failInBeforeSync) throw new Error('beforeSync said no');
      },
    }),
    defineSyncJobType({
      name: 'test-multiple',
      sourceTable: 'customers',
      targetTable: 'categories',
      mode: 'multiple',
      getMultipleTargetDocuments(job) {
        return (steer(job.context).targets ?? []).map((target) => ({
          operation: target.op,
          ...(target.id ? { id: target.id } : {}),
          ...(target.suffix ? { context: { suffix: target.suffix } } : {}),
        }));
      },
      updateTargetDoc: shape,
    }),
    defineSyncJobType({
      name: 'test-bypass',
      sourceTable: 'customers',
      mode: 'bypass',
      async execute(job, source) {
        const s = steer(job.context);
        const key = `bypass:${source?.id ?? job.id}`;
        log.enter(job.id, key);
        log.sources.push(source);
        try {
          if (s.sleepMs) await wait(s.sleepMs, job.signal);
          maybeFail(job.id, s);
          if (s.none) return null;
          return {
            target: { table: 'crm', id: source?.id ?? job.id },
            operation: 'update',
            ...(s.targetId
              ? {
                  writes: [
                    {
                      table: 'categories',
                      id: s.targetId,
                      values: { name: `crm ${String(source?.values.name)}` },
                    },
                  ],
                }
              : {}),
          };
        } finally {
          log.leave(key);
        }
      },
    }),
    defineSyncJobType({
      name: 'test-noop',
      sourceTable: 'customers',
      mode: 'bypass',
      execute(job) {
        log.enter(job.id, job.id);
        log.leave(job.id);
        return null;
      },
    }),
  ];
}

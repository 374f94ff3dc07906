import type { RowValues, SyncJobOperation, SyncJobStatus } from '@tillsync/protocol';
import { v7 as uuidv7 } from 'uuid';
import type { RunningSyncJob, SyncJobType, TargetInfo } from './define-sync-job-type.js';
import { UnrecoverableJobError } from './errors.js';
import type { DiffSummary, JobRecord, JobRef, JsonObject, NewJobRecord } from './job.js';
import type { JobClaim, SourceRow, TableRow, TenantJobStore } from './job-store.js';

/*
 * What the executor (executor.ts) carries through one run of a job, and the pieces it builds a run from.
 */

/** A target after its table and id are settled. */
export interface ResolvedTarget {
  readonly table: string;
  readonly id: string;
  readonly operation: SyncJobOperation;
  readonly context: JsonObject | null;
}

/**
 * One run of a claimed job, carried through the executor from its claim to its end: the claim, the
 * tenant's store and the run's abort signal, and what the run learned so far (kept for the failure record
 * if it fails later).
 */
export interface JobRun {
  readonly claim: JobClaim;
  readonly record: JobRecord;
  readonly tenant: TenantJobStore;
  /** Aborted when the job times out: nothing is committed after. */
  readonly signal: AbortSignal;
  startedAt: number | null;
  currentData: RowValues | null;
  updatedData: RowValues | null;
  operation: SyncJobOperation | null;
  target: JobRef | null;
}

/** A run once its type's controller is known: the type, the job as the controller sees it, its source. */
export interface ControlledRun<T extends SyncJobType = SyncJobType> extends JobRun {
  readonly type: T;
  /** Made again with a target's own context when the controller gave one. */
  job: RunningSyncJob;
  readonly source: SourceRow | null;
}

/** The end of a run, written in one transaction with whatever the job writes. */
export interface Ending {
  readonly status: SyncJobStatus;
  readonly operation?: SyncJobOperation | null;
  readonly target?: JobRef | null;
  readonly diffSummary?: DiffSummary | null;
  readonly currentData?: RowValues | null;
  readonly updatedData?: RowValues | null;
  readonly children?: readonly NewJobRecord[];
  readonly writes?: ReadonlyArray<{
    readonly seen: TableRow | null;
    readonly table: string;
    readonly id: string;
    readonly values: RowValues | null;
  }>;
}

/** A target as a controller gave it, with its table and id settled; refuses one that cannot be written. */
export function resolveTarget(type: SyncJobType, info: TargetInfo): ResolvedTarget {
  if (typeof info !== 'object' || info === null || !['insert', 'update', 'delete'].includes(info.operation)) {
    throw new UnrecoverableJobError(
      `job type "${type.name}" gave a target without a valid operation (insert, update or delete): ${JSON.stringify(info)}`,
    );
  }
  const table = info.table ?? type.targetTable;
  if (!table) {
    throw new UnrecoverableJobError(
      `job type "${type.name}" gave a target without a table, and the type names no targetTable`,
    );
  }
  if (info.operation !== 'insert' && !info.id) {
    throw new UnrecoverableJobError(
      `job type "${type.name}" gave a target to ${info.operation} without its id`,
    );
  }
  return { table, id: info.id ?? uuidv7(), operation: info.operation, context: info.context ?? null };
}

/** The job as its controller sees it: the record, the tenant's rows, the run's abort signal, a context. */
export function runningJob(
  record: JobRecord,
  tenant: TenantJobStore,
  signal: AbortSignal,
  context: JsonObject,
): RunningSyncJob {
  const flags = record.flags;
  const read = (
    ref: { table: string | null; id: string | null } | null,
  ): (() => Promise<SourceRow | null>) => {
    let row: Promise<SourceRow | null> | null = null;
    return () =>
      (row ??= ref?.table && ref.id ? tenant.readSource(ref.table, ref.id) : Promise.resolve(null));
  };
  return Object.freeze({
    sourceRow: read(record.source),
    triggerRow: read(record.trigger),
    id: record.id,
    tenantId: record.tenantId,
    type: record.type,
    title: record.title,
    parentJobId: record.parentJobId,
    context,
    trigger: record.trigger,
    flags,
    dryRun: record.dryRun,
    operation: record.operation,
    target: record.target,
    settings: record.settings,
    retryCount: record.retryCount,
    rows: tenant.rows,
    signal,
    isEnabled(operation: SyncJobOperation): boolean {
      return operation === 'insert'
        ? flags.insertEnabled
        : operation === 'update'
          ? flags.updateEnabled
          : flags.deleteEnabled;
    },
  });
}

import {
  SYNC_JOB_MODES,
  SYNC_JOB_OPERATIONS,
  type RowValues,
  type SyncJob,
  type SyncJobMode,
  type SyncJobOperation,
  type SyncJobStatus,
} from '@tillsync/protocol';
import { JobTypeError, SyncJobError } from './errors.js';
import type { DiffSummary, JobFlags, JobRef, JobTrigger, JsonObject } from './job.js';
import type { RowReader, SourceRow } from './job-store.js';
import { checkSettings, type JobSettings, type SettingsOverrides } from './settings.js';

/** A job as its controller sees it while it runs. */
export interface RunningSyncJob {
  readonly id: string;
  readonly tenantId: string;
  readonly type: string;
  readonly title: string;
  readonly parentJobId: string | null;
  /** The JSON given when it was enqueued (or by the parent's target, for a child of a relay). */
  readonly context: JsonObject;
  readonly trigger: JobTrigger;
  readonly flags: JobFlags;
  readonly dryRun: boolean;
  /** The operation and target given when it was enqueued (a child of a relay has both), if any. */
  readonly operation: SyncJobOperation | null;
  readonly target: JobRef | null;
  readonly settings: JobSettings;
  readonly retryCount: number;
  /** The tenant's live rows. */
  readonly rows: RowReader;
  /** Aborted when the job times out: pass it to `fetch` and other waits. */
  readonly signal: AbortSignal;
  /** Whether the flags allow this operation (`insertEnabled`, …). */
  isEnabled(operation: SyncJobOperation): boolean;
  /** The source row: live, or its last state if it was deleted; null for a job without a source. */
  sourceRow(): Promise<SourceRow | null>;
  /**
   * The row that caused the job (`trigger.table`, `trigger.id`): live, or its last state if it was deleted
   * since; null when no row caused it (a schedule, a webhook without one) or the server no longer holds it.
   */
  triggerRow(): Promise<SourceRow | null>;
}

/** Where a single- or multiple-target controller wants to write. */
export interface TargetInfo {
  readonly operation: SyncJobOperation;
  /** @defaultValue the type's `targetTable` */
  readonly table?: string;
  /** Required to update or delete; an insert without one gets a new UUIDv7. */
  readonly id?: string;
  /** Replaces the job's context for this target (a child of a relay gets it as its own). */
  readonly context?: JsonObject;
}

/**
 * The target row while `updateTargetDoc` shapes it: `values` starts as the row's current values (empty for
 * an insert); change it in place, or return the fields to change.
 */
export interface TargetDocument {
  readonly table: string;
  readonly id: string;
  readonly operation: SyncJobOperation;
  readonly values: Record<string, string | number | null>;
  /** The row as it was read, after the job took its lock; null for an insert. */
  readonly current: RowValues | null;
}

/** What a bypass controller did. Returning nothing (or no target) ends the job `No Target`. */
export interface BypassResult {
  /** What it worked on (a row, or a record in an outside system); none means `No Target`. */
  readonly target?: JobRef | null;
  readonly operation?: SyncJobOperation | null;
  /** What it changed, for the record. */
  readonly diff?: DiffSummary | null;
  /** Rows to write in the job's final commit, atomically with its status (not written in a dry run). */
  readonly writes?: ReadonlyArray<{
    readonly table: string;
    readonly id: string;
    readonly values: RowValues | null;
  }>;
  /** `Skipped` when it deliberately did nothing (a flag, a dry run). @defaultValue `Finished` */
  readonly status?: 'Finished' | 'Skipped';
}

/** A change to a source row that may enqueue jobs by itself (an automatic trigger). */
export interface SourceChange {
  readonly table: string;
  readonly id: string;
  readonly event: SyncJobOperation;
  /** The row before the change (null for an insert) and after it (null for a delete). */
  readonly before: RowValues | null;
  readonly after: RowValues | null;
  /** The device whose push made it; null when the server (a job) wrote it. */
  readonly deviceId: string | null;
}

/** One job an automatic trigger enqueues. */
export interface TriggerPlan {
  readonly context?: JsonObject;
  readonly title?: string;
}

/** How a job ended, for the `finished` hook. */
export interface JobOutcome {
  readonly status: SyncJobStatus;
  readonly operation: SyncJobOperation | null;
  readonly target: JobRef | null;
  readonly diffSummary: DiffSummary | null;
}

type Awaitable<T> = T | Promise<T>;

/** What every job type gives, whatever its mode. */
export interface SyncJobTypeBaseOptions {
  /** Letters, digits, `.`, `_` and `-`; unique among the types of a server. */
  readonly name: string;
  readonly sourceTable: string;
  /** Where standard controllers write, unless a target names its own table. */
  readonly targetTable?: string;
  /** Source-table events that enqueue the type by themselves, in the same transaction as the change. */
  readonly triggers?: readonly SyncJobOperation[];
  /**
   * Decides, for one change, whether and how often the type is enqueued: `false` for none, `true` for one
   * job, or one job per plan (each with its own context). Runs inside the push's transaction: keep it quick.
   * @defaultValue one job per change
   */
  readonly planTrigger?: (change: SourceChange) => boolean | readonly TriggerPlan[];
  /** The type's settings in code; the owner's edits in the database go over them. */
  readonly defaults?: SettingsOverrides;
  /** A job's title. @defaultValue `<source table>: <source id>` */
  readonly title?: (source: JobRef | null, context: JsonObject) => string;
  /** Once the job is `Started` (holding its target's lock). */
  readonly afterStart?: (job: RunningSyncJob, source: SourceRow | null) => Awaitable<void>;
  /** Before the target is written (not in a dry run, nor when skipped). Throwing fails the job. */
  readonly beforeSync?: (
    job: RunningSyncJob,
    source: SourceRow | null,
    target: TargetDocument,
  ) => Awaitable<void>;
  /** After the target and the job's status were committed. */
  readonly afterSync?: (
    job: RunningSyncJob,
    source: SourceRow | null,
    target: TargetDocument,
    written: { readonly before: RowValues | null; readonly after: RowValues | null },
  ) => Awaitable<void>;
  /** Before one child job per target is made. Throwing fails the job. */
  readonly beforeRelay?: (
    job: RunningSyncJob,
    source: SourceRow | null,
    targets: readonly TargetInfo[],
  ) => Awaitable<void>;
  /** After the children were committed with the parent's `Relayed`. */
  readonly afterRelay?: (
    job: RunningSyncJob,
    source: SourceRow | null,
    children: readonly SyncJob[],
  ) => Awaitable<void>;
  /** After the job ended `Finished`, `Skipped`, `Relayed` or `No Target` (not after `Failed`). */
  readonly finished?: (job: RunningSyncJob, source: SourceRow | null, outcome: JobOutcome) => Awaitable<void>;
}

/** Single target: find the one row to write, then shape it. */
export interface SingleTargetJobTypeOptions extends SyncJobTypeBaseOptions {
  readonly mode: 'single';
  /** The target, or null when there is nothing to write to (`No Target`). */
  readonly getTargetDocument: (
    job: RunningSyncJob,
    source: SourceRow | null,
  ) => Awaitable<TargetInfo | null | undefined>;
  readonly updateTargetDoc: (
    job: RunningSyncJob,
    source: SourceRow | null,
    target: TargetDocument,
  ) => Awaitable<Partial<RowValues> | void>;
}

/** Multiple targets: several make one child job each (the parent ends `Relayed`); one is handled inline. */
export interface MultipleTargetJobTypeOptions extends SyncJobTypeBaseOptions {
  readonly mode: 'multiple';
  readonly getMultipleTargetDocuments: (
    job: RunningSyncJob,
    source: SourceRow | null,
  ) => Awaitable<readonly TargetInfo[]>;
  readonly updateTargetDoc: (
    job: RunningSyncJob,
    source: SourceRow | null,
    target: TargetDocument,
  ) => Awaitable<Partial<RowValues> | void>;
}

/** Bypass: the controller does all the work itself (an outside system), and says what it did. */
export interface BypassJobTypeOptions extends SyncJobTypeBaseOptions {
  readonly mode: 'bypass';
  readonly execute: (
    job: RunningSyncJob,
    source: SourceRow | null,
  ) => Awaitable<BypassResult | null | undefined | void>;
}

/** What {@link defineSyncJobType} takes: the base plus one mode's controller. */
export type SyncJobTypeOptions =
  SingleTargetJobTypeOptions | MultipleTargetJobTypeOptions | BypassJobTypeOptions;

/** A job type, checked and frozen. */
export type SyncJobType = Readonly<SyncJobTypeOptions> & {
  readonly triggers: readonly SyncJobOperation[];
  readonly defaults: SettingsOverrides;
};

/** The types {@link checkJobType} has checked, so a type is checked once however often it is registered. */
const CHECKED = new WeakSet<object>();
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const TABLE = /^[a-z][a-z0-9_]{0,62}$/;

/** The functions each mode needs; the other modes' functions are refused so a wrong `mode` is caught. */
const CONTROLLER_FUNCTIONS: Record<SyncJobMode, readonly string[]> = {
  single: ['getTargetDocument', 'updateTargetDoc'],
  multiple: ['getMultipleTargetDocuments', 'updateTargetDoc'],
  bypass: ['execute'],
};
const HOOKS = [
  'afterStart',
  'beforeSync',
  'afterSync',
  'beforeRelay',
  'afterRelay',
  'finished',
  'planTrigger',
  'title',
];

/**
 * Defines a sync job type: the controller of one mode and the type's settings in code. An incomplete
 * controller is refused here, with a message naming the type and what is missing.
 *
 * @example
 * export const customerSync = defineSyncJobType({
 *   name: 'customer-crm',
 *   sourceTable: 'customers',
 *   mode: 'bypass',
 *   triggers: ['insert', 'update'],
 *   defaults: { queue: 'short', maxRetries: 5 },
 *   async execute(job, source) {
 *     if (!source) return null;
 *     await sendToCrm(source.values, job.signal);
 *     return { target: { table: 'crm', id: source.id }, operation: 'update' };
 *   },
 * });
 */
export function defineSyncJobType<T extends SyncJobTypeOptions>(options: T): SyncJobType {
  return checkJobType(options);
}

/**
 * Checks a value meant to be a job type (made by {@link defineSyncJobType}, or a plain object from a shop's
 * module) and returns it frozen; throws a {@link JobTypeError} naming the type and the problem.
 */
export function checkJobType(value: unknown): SyncJobType {
  if (typeof value !== 'object' || value === null) {
    throw new JobTypeError(
      null,
      `a job type must be an object made with defineSyncJobType, not ${describe(value)}`,
    );
  }
  const input = value as Record<string, unknown>;
  if (CHECKED.has(input)) return value as SyncJobType;
  const name = typeof input.name === 'string' ? input.name : null;
  const fail = (message: string): never => {
    throw new JobTypeError(name, `job type ${name === null ? '(without a name)' : `"${name}"`}: ${message}`);
  };
  if (name === null || !NAME.test(name))
    fail(`name must be 1 to 128 letters, digits, ".", "_" or "-", not ${describe(input.name)}`);
  if (typeof input.sourceTable !== 'string' || !TABLE.test(input.sourceTable))
    fail(
      `sourceTable must name a table (lower-case letters, digits and "_"), not ${describe(input.sourceTable)}`,
    );
  if (
    input.targetTable !== undefined &&
    (typeof input.targetTable !== 'string' || !TABLE.test(input.targetTable))
  )
    fail(`targetTable must name a table, not ${describe(input.targetTable)}`);
  const mode = input.mode;
  if (typeof mode !== 'string' || !(SYNC_JOB_MODES as readonly string[]).includes(mode))
    fail(`mode must be one of ${SYNC_JOB_MODES.map((m) => `"${m}"`).join(', ')}, not ${describe(mode)}`);
  const needed = CONTROLLER_FUNCTIONS[mode as SyncJobMode];
  const missing = needed.filter((fn) => typeof input[fn] !== 'function');
  if (missing.length > 0) {
    fail(
      `its controller is incomplete: mode "${mode as string}" needs ${needed.join(' and ')}; ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing`,
    );
  }
  for (const [otherMode, functions] of Object.entries(CONTROLLER_FUNCTIONS)) {
    if (otherMode === mode) continue;
    for (const fn of functions) {
      if (!needed.includes(fn) && input[fn] !== undefined)
        fail(
          `mode "${mode as string}" does not use ${fn} (that is mode "${otherMode}"); remove it or change the mode`,
        );
    }
  }
  for (const hook of HOOKS) {
    if (input[hook] !== undefined && typeof input[hook] !== 'function') fail(`${hook} must be a function`);
  }
  const triggers = input.triggers ?? [];
  if (
    !Array.isArray(triggers) ||
    triggers.some((event) => !(SYNC_JOB_OPERATIONS as readonly unknown[]).includes(event))
  )
    fail(
      `triggers must list source-table events among ${SYNC_JOB_OPERATIONS.join(', ')}, not ${describe(triggers)}`,
    );
  const defaults = input.defaults ?? {};
  if (typeof defaults !== 'object' || defaults === null) fail('defaults must be an object of settings');
  try {
    checkSettings(defaults, `job type "${name ?? ''}" defaults`);
  } catch (error) {
    if (error instanceof SyncJobError) fail(error.message.replace(/^job type "[^"]*" /, ''));
    throw error;
  }
  const type = Object.freeze({
    ...(input as unknown as SyncJobTypeOptions),
    triggers: Object.freeze([...new Set(triggers as SyncJobOperation[])]),
    defaults: Object.freeze({ ...(defaults as SettingsOverrides) }),
  }) as SyncJobType;
  CHECKED.add(type);
  return type;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}

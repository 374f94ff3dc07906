import {
  SYNC_JOB_OPERATIONS,
  parseStamp,
  type SyncJob,
  type SyncJobOperation,
  type SyncJobQueue,
} from '@tillsync/protocol';
import { v7 as uuidv7 } from 'uuid';
import type { SyncJobType } from './define-sync-job-type.js';
import { SyncJobError } from './errors.js';
import type { TenantJobStore } from './job-store.js';
import { effectiveSettings, type JobTypeRegistry } from './job-type-registry.js';
import {
  DEFAULT_FLAGS,
  lockKeyOf,
  ownLockKey,
  newRecord,
  toSyncJob,
  type JobFlags,
  type JobRef,
  type JobTrigger,
  type JsonObject,
  type NewJobRecord,
} from './job.js';
import {
  checkSettings,
  jobSettingsOf,
  layerSettings,
  type SettingsOverrides,
  type TypeSettings,
} from './settings.js';

/** A row given to {@link enqueueSyncJob}: its id alone (in the type's table), or `{table, id}`. */
export type RowRefOption = string | { readonly table?: string; readonly id: string };

/** What a caller passes to enqueue a job. Everything left out comes from the type. */
export interface EnqueueSyncJobOptions {
  /** The job type's name. */
  readonly type: string;
  /** The source row. @defaultValue none: a job that works from its context alone */
  readonly source?: RowRefOption | null;
  /** Any JSON the controller reads as `job.context`. @defaultValue `{}` */
  readonly context?: JsonObject;
  /**
   * What to do to the target. With `target`, the controller's lookup is skipped (as for a relay's children);
   * `insert` alone inserts a new target row.
   */
  readonly operation?: SyncJobOperation;
  /** The target row, when the caller already knows it. */
  readonly target?: RowRefOption | null;
  readonly title?: string;
  /** Compute the diff, write nothing, end `Skipped`. @defaultValue false */
  readonly dryRun?: boolean;
  /** `false` leaves the job `Pending` until it is started. @defaultValue true */
  readonly queueOnInsert?: boolean;
  /** @defaultValue {@link DEFAULT_FLAGS} */
  readonly flags?: Partial<JobFlags>;
  /** This job's own settings, over the type's; `0` and `false` are values. */
  readonly settings?: SettingsOverrides;
  /** What made it. @defaultValue `{type: 'manual'}` now */
  readonly trigger?: Partial<Omit<JobTrigger, 'type'>> & { readonly type: JobTrigger['type'] };
  /** The job that relayed to it. */
  readonly parentJobId?: string | null;
}

/** Everything {@link buildJobRecord} needs besides the caller's options. */
export interface BuildJobInput {
  readonly tenantId: string;
  readonly type: SyncJobType;
  /** The type's settings now (code defaults with the owner's edits). */
  readonly typeSettings: TypeSettings;
  readonly now: number;
}

/**
 * Makes the record of a new job: effective settings, flags, title, and the lock it will take when that is
 * known already. Refuses (with a {@link SyncJobError}) options that do not fit, and a disabled type.
 */
export function buildJobRecord(input: BuildJobInput, options: EnqueueSyncJobOptions): NewJobRecord {
  const { type, now } = input;
  const where = `job of type "${type.name}"`;
  if (options.settings) checkSettings(options.settings, where);
  const settings = layerSettings(input.typeSettings, options.settings);
  if (settings.disabled) {
    throw new SyncJobError(
      'JOB_TYPE_DISABLED',
      `job type "${type.name}" is disabled, so it enqueues nothing: enable it (PATCH /api/sync-job-types/${type.name} {"disabled": false})`,
      { typeName: type.name },
    );
  }
  if (
    options.operation !== undefined &&
    !(SYNC_JOB_OPERATIONS as readonly string[]).includes(options.operation)
  ) {
    throw new SyncJobError(
      'INVALID_OPTIONS',
      `${where}: operation must be one of ${SYNC_JOB_OPERATIONS.join(', ')}`,
    );
  }
  if (
    options.context !== undefined &&
    (typeof options.context !== 'object' || options.context === null || Array.isArray(options.context))
  ) {
    throw new SyncJobError('INVALID_OPTIONS', `${where}: context must be a JSON object`);
  }
  const id = uuidv7();
  const source = refOf(options.source, type.sourceTable, `${where}: source`);
  const operation = options.operation ?? null;
  let target = refOf(options.target, type.targetTable ?? null, `${where}: target`);
  // Never guessed: a target without its operation was once taken for an update (PROTOCOL.md §6).
  if (target && operation === null) {
    throw new SyncJobError(
      'INVALID_OPTIONS',
      `${where}: a job that names its target must say its operation (insert, update or delete)`,
    );
  }
  if (type.mode !== 'bypass') {
    // An insert needs no lookup: its new row's id is made now, so its lock is known before it runs.
    if (!target && operation === 'insert') {
      if (!type.targetTable) {
        throw new SyncJobError(
          'INVALID_OPTIONS',
          `${where}: an insert needs a target table, and the type names none`,
        );
      }
      target = { table: type.targetTable, id: uuidv7() };
    }
  }
  const flags: JobFlags = { ...DEFAULT_FLAGS };
  for (const name of Object.keys(DEFAULT_FLAGS) as Array<keyof JobFlags>) {
    const value = options.flags?.[name];
    if (value !== undefined) {
      if (typeof value !== 'boolean')
        throw new SyncJobError('INVALID_OPTIONS', `${where}: ${name} must be true or false`);
      (flags as { -readonly [K in keyof JobFlags]: boolean })[name] = value;
    }
  }
  const context = options.context ?? {};
  const trigger: JobTrigger = {
    type: options.trigger?.type ?? 'manual',
    table: options.trigger?.table ?? null,
    id: options.trigger?.id ?? null,
    event: options.trigger?.event ?? null,
    deviceId: options.trigger?.deviceId ?? null,
    at: options.trigger?.at ?? now,
  };
  return {
    id,
    tenantId: input.tenantId,
    type: type.name,
    parentJobId: options.parentJobId ?? null,
    title: (options.title ?? type.title?.(source, context) ?? defaultTitle(type, source, target)).slice(
      0,
      200,
    ),
    status: options.queueOnInsert === false ? 'Pending' : 'Queued',
    source,
    operation,
    target,
    context,
    settings: jobSettingsOf(settings),
    retryCount: 0,
    flags: Object.freeze(flags),
    dryRun: options.dryRun ?? false,
    trigger,
    createdAt: now,
    lockKey: lockKeyFor(type, id, source, target),
  };
}

/**
 * The lock a job takes, when it is known before the controller runs: its target's; for a bypass, its source
 * row under the type's name, so two sends of one row to an outside system never overlap.
 */
function lockKeyFor(
  type: SyncJobType,
  id: string,
  source: JobRef | null,
  target: JobRef | null,
): string | null {
  if (target) return lockKeyOf(target);
  if (type.mode === 'bypass') return source ? `@${type.name}:${source.id}` : ownLockKey(type.name, id);
  return null;
}

function defaultTitle(type: SyncJobType, source: JobRef | null, target: JobRef | null): string {
  if (source && target) return `${source.table}: ${source.id} > ${target.table}: ${target.id}`;
  if (source) return `${source.table}: ${source.id}`;
  if (target) return `${type.sourceTable} > ${target.table}: ${target.id}`;
  return type.name;
}

function refOf(
  option: RowRefOption | null | undefined,
  defaultTable: string | null,
  where: string,
): JobRef | null {
  if (option === undefined || option === null) return null;
  const ref = typeof option === 'string' ? { id: option } : option;
  const table = ref.table ?? defaultTable;
  if (typeof ref.id !== 'string' || ref.id.length === 0 || ref.id.length > 128) {
    throw new SyncJobError('INVALID_OPTIONS', `${where}: id must be a text of 1 to 128 characters`);
  }
  if (!table) throw new SyncJobError('INVALID_OPTIONS', `${where}: name its table (the type names none)`);
  return { table, id: ref.id };
}

/** Where {@link enqueueSyncJob} enqueues: one tenant's store and the process's types. */
export interface EnqueueScope {
  readonly store: TenantJobStore;
  readonly types: JobTypeRegistry;
  readonly now: () => number;
  /** Told when a job was queued, so a queue can run it at once instead of at its next poll. */
  readonly onQueued?: (queue: SyncJobQueue) => void;
}

/**
 * Enqueues a job: inserts its record (`Queued`, or `Pending` with `queueOnInsert: false`) and returns it.
 * The record is the job: a queue only carries "job X is ready" to a worker.
 *
 * @example
 * const job = await enqueueSyncJob(scope, { type: 'sale-daily-sales', source: saleId, dryRun: true });
 */
export async function enqueueSyncJob(scope: EnqueueScope, options: EnqueueSyncJobOptions): Promise<SyncJob> {
  const type = scope.types.get(options.type);
  if (!type) {
    throw new SyncJobError('UNKNOWN_TYPE', `there is no job type "${options.type}"`, {
      typeName: options.type,
    });
  }
  const stored = (await scope.store.getTypeSettings()).get(type.name);
  const trigger = await triggerWithRow(scope, type, options.trigger);
  const record = buildJobRecord(
    { tenantId: scope.store.tenantId, type, typeSettings: effectiveSettings(type, stored), now: scope.now() },
    trigger ? { ...options, trigger } : options,
  );
  await scope.store.insertJobs([record]);
  if (record.status === 'Queued') scope.onQueued?.(record.settings.queue);
  return toSyncJob(newRecord(record));
}

/**
 * A trigger that names a row (`{table, id}`) without its time: the row is read, and its `updatedAt` is
 * recorded as `at`, so the job says which state of the row caused it. A row the server does not hold (live,
 * or the last state of a deleted one) is refused, naming it. The table defaults to the type's source table.
 */
async function triggerWithRow(
  scope: EnqueueScope,
  type: SyncJobType,
  trigger: EnqueueSyncJobOptions['trigger'],
): Promise<EnqueueSyncJobOptions['trigger'] | null> {
  if (!trigger || trigger.id === undefined || trigger.id === null || trigger.at !== undefined) return null;
  const ref = refOf(
    { ...(trigger.table ? { table: trigger.table } : {}), id: trigger.id },
    type.sourceTable,
    `job of type "${type.name}": trigger`,
  );
  if (!ref) return null;
  const row = await scope.store.readSource(ref.table, ref.id);
  if (!row) {
    throw new SyncJobError(
      'INVALID_OPTIONS',
      `job of type "${type.name}": its trigger row ${ref.table} ${ref.id} does not exist on the server`,
      { typeName: type.name },
    );
  }
  return { ...trigger, table: ref.table, id: ref.id, at: parseStamp(row.updatedAt)?.ms ?? scope.now() };
}

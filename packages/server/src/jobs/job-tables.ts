import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import type { Database } from '../storage/database.js';
import type {
  RowValues,
  SyncJobOperation,
  SyncJobQueue,
  SyncJobStatus,
  SyncJobTriggerType,
} from '@tillsync/protocol';
import type { DiffSummary, JobPatch, JobRecord, JsonObject, NewJobRecord } from '@tillsync/jobs';

/**
 * The tables of migration 0002 as Kysely sees them; the stores add them to the server's `Database` with
 * `withTables`. Times a worker compares are integer milliseconds.
 */
export type JobTables = {
  sync_jobs: {
    id: string;
    tenant_id: string;
    type: string;
    parent_job_id: string | null;
    title: string;
    status: SyncJobStatus;
    source_table: string | null;
    source_id: string | null;
    operation: SyncJobOperation | null;
    target_table: string | null;
    target_id: string | null;
    /** JSON texts. */
    context: string;
    diff_summary: string | null;
    current_data: string | null;
    updated_data: string | null;
    error_message: string | null;
    error_stack: string | null;
    cancel_reason: string | null;
    queue: SyncJobQueue;
    timeout_sec: number;
    retry_delay_sec: number;
    max_retries: number;
    verbose_logging: number;
    retry_count: number;
    retry_after: number | null;
    insert_enabled: number;
    update_enabled: number;
    delete_enabled: number;
    update_without_changes_enabled: number;
    dry_run: number;
    trigger_type: SyncJobTriggerType;
    trigger_table: string | null;
    trigger_id: string | null;
    trigger_event: SyncJobOperation | null;
    trigger_device_id: string | null;
    trigger_at: number;
    created_at: number;
    started_at: number | null;
    ended_at: number | null;
    duration_ms: number | null;
    ready_at: number | null;
    lock_key: string | null;
    lease_owner: string | null;
    lease_expires_at: number | null;
    attempt: number;
    recoveries: number;
    dispatched_at: number | null;
  };
  sync_job_type_settings: {
    tenant_id: string;
    name: string;
    /** The owner's settings as JSON: only those set. */
    settings: string;
    updated_at: number;
  };
  sync_job_locks: {
    tenant_id: string;
    lock_key: string;
    job_id: string;
    expires_at: number;
  };
  /** Migration 0010: the schedule ticks that have enqueued their job. */
  sync_job_schedule_ticks: {
    tenant_id: string;
    name: string;
    tick_at: number;
    job_id: string;
  };
  /** Migration 0010: each job type's webhook secret, as its SHA-256 in hex. */
  sync_job_webhooks: {
    tenant_id: string;
    name: string;
    secret_hash: string;
    created_at: number;
  };
  sync_deleted_rows: {
    tenant_id: string;
    tbl: string;
    id: string;
    /** The row's last live values, as JSON. */
    data: string;
    updated_at: string;
    deleted_at: number;
  };
};

/** The SQL type of each column of `sync_jobs` (migration 0002), for values PostgreSQL must be told the type of. */
export const JOB_COLUMN_TYPES: Readonly<
  Record<keyof JobTables['sync_jobs'], 'text' | 'integer' | 'bigint' | 'double precision'>
> = {
  id: 'text',
  tenant_id: 'text',
  type: 'text',
  parent_job_id: 'text',
  title: 'text',
  status: 'text',
  source_table: 'text',
  source_id: 'text',
  operation: 'text',
  target_table: 'text',
  target_id: 'text',
  context: 'text',
  diff_summary: 'text',
  current_data: 'text',
  updated_data: 'text',
  error_message: 'text',
  error_stack: 'text',
  cancel_reason: 'text',
  queue: 'text',
  timeout_sec: 'double precision',
  retry_delay_sec: 'double precision',
  max_retries: 'integer',
  verbose_logging: 'integer',
  retry_count: 'integer',
  retry_after: 'bigint',
  insert_enabled: 'integer',
  update_enabled: 'integer',
  delete_enabled: 'integer',
  update_without_changes_enabled: 'integer',
  dry_run: 'integer',
  trigger_type: 'text',
  trigger_table: 'text',
  trigger_id: 'text',
  trigger_event: 'text',
  trigger_device_id: 'text',
  trigger_at: 'bigint',
  created_at: 'bigint',
  started_at: 'bigint',
  ended_at: 'bigint',
  duration_ms: 'bigint',
  ready_at: 'bigint',
  lock_key: 'text',
  lease_owner: 'text',
  lease_expires_at: 'bigint',
  attempt: 'integer',
  recoveries: 'integer',
  dispatched_at: 'bigint',
};

/** The server's tables with the jobs' ones. */
export type JobsDatabase = Database & JobTables;

/**
 * The same connection typed with the server's tables only, for the stores written against them (the push
 * path). Safe: a database with more tables has every table of the smaller one; Kysely's types are invariant.
 */
export function withServerTables(db: Kysely<JobsDatabase>): Kysely<Database> {
  return db as unknown as Kysely<Database>;
}

export type JobRow = Selectable<JobTables['sync_jobs']>;

const json = (value: unknown): string | null =>
  value === null || value === undefined ? null : JSON.stringify(value);
const parse = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));
const num = (value: number | string | null): number | null => (value === null ? null : Number(value));

export function toJobRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    type: row.type,
    parentJobId: row.parent_job_id,
    title: row.title,
    status: row.status,
    source:
      row.source_table !== null && row.source_id !== null
        ? { table: row.source_table, id: row.source_id }
        : null,
    operation: row.operation,
    target:
      row.target_table !== null && row.target_id !== null
        ? { table: row.target_table, id: row.target_id }
        : null,
    context: parse<JsonObject>(row.context) ?? {},
    diffSummary: parse<DiffSummary>(row.diff_summary),
    currentData: parse<RowValues>(row.current_data),
    updatedData: parse<RowValues>(row.updated_data),
    errorMessage: row.error_message,
    errorStack: row.error_stack,
    cancelReason: row.cancel_reason,
    settings: {
      queue: row.queue,
      timeoutSec: Number(row.timeout_sec),
      retryDelaySec: Number(row.retry_delay_sec),
      maxRetries: Number(row.max_retries),
      verboseLogging: Number(row.verbose_logging) === 1,
    },
    retryCount: Number(row.retry_count),
    retryAfter: num(row.retry_after),
    flags: {
      insertEnabled: Number(row.insert_enabled) === 1,
      updateEnabled: Number(row.update_enabled) === 1,
      deleteEnabled: Number(row.delete_enabled) === 1,
      updateWithoutChangesEnabled: Number(row.update_without_changes_enabled) === 1,
    },
    dryRun: Number(row.dry_run) === 1,
    trigger: {
      type: row.trigger_type,
      table: row.trigger_table,
      id: row.trigger_id,
      event: row.trigger_event,
      deviceId: row.trigger_device_id,
      at: Number(row.trigger_at),
    },
    createdAt: Number(row.created_at),
    startedAt: num(row.started_at),
    endedAt: num(row.ended_at),
    durationMs: num(row.duration_ms),
    lockKey: row.lock_key,
    attempt: Number(row.attempt),
    recoveries: Number(row.recoveries),
  };
}

export function toJobRow(record: NewJobRecord): Insertable<JobTables['sync_jobs']> {
  return {
    id: record.id,
    tenant_id: record.tenantId,
    type: record.type,
    parent_job_id: record.parentJobId,
    title: record.title,
    status: record.status,
    source_table: record.source?.table ?? null,
    source_id: record.source?.id ?? null,
    operation: record.operation,
    target_table: record.target?.table ?? null,
    target_id: record.target?.id ?? null,
    context: JSON.stringify(record.context),
    diff_summary: null,
    current_data: null,
    updated_data: null,
    error_message: null,
    error_stack: null,
    cancel_reason: null,
    queue: record.settings.queue,
    timeout_sec: record.settings.timeoutSec,
    retry_delay_sec: record.settings.retryDelaySec,
    max_retries: record.settings.maxRetries,
    verbose_logging: record.settings.verboseLogging ? 1 : 0,
    retry_count: record.retryCount,
    retry_after: null,
    insert_enabled: record.flags.insertEnabled ? 1 : 0,
    update_enabled: record.flags.updateEnabled ? 1 : 0,
    delete_enabled: record.flags.deleteEnabled ? 1 : 0,
    update_without_changes_enabled: record.flags.updateWithoutChangesEnabled ? 1 : 0,
    dry_run: record.dryRun ? 1 : 0,
    trigger_type: record.trigger.type,
    trigger_table: record.trigger.table,
    trigger_id: record.trigger.id,
    trigger_event: record.trigger.event,
    trigger_device_id: record.trigger.deviceId,
    trigger_at: record.trigger.at,
    created_at: record.createdAt,
    started_at: null,
    ended_at: null,
    duration_ms: null,
    ready_at: record.status === 'Queued' ? record.createdAt : null,
    lock_key: record.lockKey,
    lease_owner: null,
    lease_expires_at: null,
    attempt: 0,
    recoveries: 0,
    dispatched_at: null,
  };
}

/** The columns a patch sets; fields left out of the patch stay as they are. */
export function toJobUpdate(patch: JobPatch): Updateable<JobTables['sync_jobs']> {
  const update: Updateable<JobTables['sync_jobs']> = {};
  if (patch.status !== undefined) update.status = patch.status;
  if (patch.title !== undefined) update.title = patch.title;
  if (patch.operation !== undefined) update.operation = patch.operation;
  if (patch.target !== undefined) {
    update.target_table = patch.target?.table ?? null;
    update.target_id = patch.target?.id ?? null;
  }
  if (patch.diffSummary !== undefined) update.diff_summary = json(patch.diffSummary);
  if (patch.currentData !== undefined) update.current_data = json(patch.currentData);
  if (patch.updatedData !== undefined) update.updated_data = json(patch.updatedData);
  if (patch.errorMessage !== undefined) update.error_message = patch.errorMessage;
  if (patch.errorStack !== undefined) update.error_stack = patch.errorStack;
  if (patch.cancelReason !== undefined) update.cancel_reason = patch.cancelReason;
  if (patch.retryCount !== undefined) update.retry_count = patch.retryCount;
  if (patch.retryAfter !== undefined) update.retry_after = patch.retryAfter;
  if (patch.startedAt !== undefined) update.started_at = patch.startedAt;
  if (patch.endedAt !== undefined) update.ended_at = patch.endedAt;
  if (patch.durationMs !== undefined) update.duration_ms = patch.durationMs;
  if (patch.lockKey !== undefined) update.lock_key = patch.lockKey;
  if (patch.readyAt !== undefined) {
    update.ready_at = patch.readyAt;
    // A job made ready anew is a new run: BullMQ gets it again.
    if (patch.readyAt !== null) update.dispatched_at = null;
  }
  if (patch.releaseLease) {
    update.lease_owner = null;
    update.lease_expires_at = null;
  }
  return update;
}

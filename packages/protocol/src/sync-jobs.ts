import { Type, type Static, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox';
import {
  SYNC_JOB_MODES,
  SYNC_JOB_OPERATIONS,
  SYNC_JOB_QUEUES,
  SYNC_JOB_STATUSES,
  SYNC_JOB_TRIGGER_TYPES,
} from './sync-job-names.js';

/**
 * The sync jobs API of PROTOCOL.md §6: job types with their settings, and jobs with everything that happened
 * to them. The server answers with these shapes and validates requests with them; `tillsync jobs` and the
 * owner's dashboard read them.
 */

function oneOf<T extends string>(values: readonly T[]): TUnion<Array<TLiteral<T>>> {
  return Type.Union(values.map((value) => Type.Literal(value)));
}

function nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

const StatusSchema = oneOf(SYNC_JOB_STATUSES);
const QueueSchema = oneOf(SYNC_JOB_QUEUES);
const OperationSchema = oneOf(SYNC_JOB_OPERATIONS);
const ModeSchema = oneOf(SYNC_JOB_MODES);
const TriggerTypeSchema = oneOf(SYNC_JOB_TRIGGER_TYPES);

/** Seconds a job may run before it is stopped and `Failed`; fractions allowed, more than 0. */
const TimeoutSec = Type.Number({ exclusiveMinimum: 0, maximum: 7 * 24 * 3600 });
/** Seconds a failed job waits before its retry; 0 retries at once. */
const RetryDelaySec = Type.Number({ minimum: 0, maximum: 30 * 24 * 3600 });
const MaxRetries = Type.Integer({ minimum: 0, maximum: 1000 });
const RowId = Type.String({ minLength: 1, maxLength: 128 });
const TableName = Type.String({ minLength: 1, maxLength: 128 });

/** A row a job reads or writes: `{table, id}`. */
export const SyncJobRef = Type.Object({ table: Type.String(), id: Type.String() });
export type SyncJobRef = Static<typeof SyncJobRef>;

/** The settings of a job type (PROTOCOL.md §6), stored in the database and editable by the owner. */
export const SyncJobTypeSettings = Type.Object({
  queue: QueueSchema,
  timeoutSec: TimeoutSec,
  retryDelaySec: RetryDelaySec,
  maxRetries: MaxRetries,
  verboseLogging: Type.Boolean(),
  disabled: Type.Boolean(),
  /** A cron expression (5 fields, or 6 with seconds, UTC) that enqueues the type with trigger `scheduler`; null: none. */
  schedule: nullable(Type.String({ maxLength: 200 })),
});
export type SyncJobTypeSettings = Static<typeof SyncJobTypeSettings>;

/** A job type as `GET /api/sync-job-types` lists it: what its code says, and its settings now. */
export const SyncJobTypeInfo = Type.Composite([
  Type.Object({
    name: Type.String(),
    sourceTable: Type.String(),
    targetTable: nullable(Type.String()),
    mode: ModeSchema,
    /** The source-table events that enqueue it by themselves. */
    triggers: Type.Array(OperationSchema),
  }),
  SyncJobTypeSettings,
]);
export type SyncJobTypeInfo = Static<typeof SyncJobTypeInfo>;

export const SyncJobTypeList = Type.Array(SyncJobTypeInfo);
export type SyncJobTypeList = Static<typeof SyncJobTypeList>;

/** `PATCH /api/sync-job-types/:name`: any of the settings; `null` puts one back to the type's default. */
export const SyncJobTypePatch = Type.Object(
  {
    queue: Type.Optional(nullable(QueueSchema)),
    timeoutSec: Type.Optional(nullable(TimeoutSec)),
    retryDelaySec: Type.Optional(nullable(RetryDelaySec)),
    maxRetries: Type.Optional(nullable(MaxRetries)),
    verboseLogging: Type.Optional(nullable(Type.Boolean())),
    disabled: Type.Optional(nullable(Type.Boolean())),
    /** `""` turns off a schedule the type's code sets. */
    schedule: Type.Optional(nullable(Type.String({ maxLength: 200 }))),
  },
  { additionalProperties: false },
);
export type SyncJobTypePatch = Static<typeof SyncJobTypePatch>;

/** Where a job's row is: the table may be left out when it is the type's own source or target table. */
const RefRequest = Type.Object(
  { table: Type.Optional(TableName), id: RowId },
  { additionalProperties: false },
);

/**
 * `POST /api/sync-jobs`: a job of a type for one source row. Every setting and flag left out comes from the
 * type; `0` and `false` are values, not "use the default".
 */
export const EnqueueSyncJobRequest = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 128 }),
    source: Type.Optional(RefRequest),
    context: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    operation: Type.Optional(OperationSchema),
    target: Type.Optional(RefRequest),
    /** The row that caused it (default table: the type's source table); recorded with its `updatedAt`. */
    trigger: Type.Optional(RefRequest),
    title: Type.Optional(Type.String({ maxLength: 200 })),
    dryRun: Type.Optional(Type.Boolean()),
    /** `false` keeps the job `Pending` until `POST /api/sync-jobs/:id/start`. */
    queueOnInsert: Type.Optional(Type.Boolean()),
    queue: Type.Optional(QueueSchema),
    timeoutSec: Type.Optional(TimeoutSec),
    retryDelaySec: Type.Optional(RetryDelaySec),
    maxRetries: Type.Optional(MaxRetries),
    verboseLogging: Type.Optional(Type.Boolean()),
    insertEnabled: Type.Optional(Type.Boolean()),
    updateEnabled: Type.Optional(Type.Boolean()),
    deleteEnabled: Type.Optional(Type.Boolean()),
    updateWithoutChangesEnabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type EnqueueSyncJobRequest = Static<typeof EnqueueSyncJobRequest>;

/** `POST /api/sync-jobs/:id/cancel`. */
export const CancelSyncJobRequest = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 2000 })) },
  { additionalProperties: false },
);
export type CancelSyncJobRequest = Static<typeof CancelSyncJobRequest>;

/** `GET /api/sync-jobs?status=&type=&limit=`; as in every query string, the limit travels as text. */
export const SyncJobListQuery = Type.Object({
  status: Type.Optional(StatusSchema),
  type: Type.Optional(Type.String({ maxLength: 128 })),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })),
});
export type SyncJobListQuery = Static<typeof SyncJobListQuery>;

/** What made a job. For a `change`, the row that changed, how, and the device that pushed it. */
export const SyncJobTrigger = Type.Object({
  type: TriggerTypeSchema,
  table: nullable(Type.String()),
  id: nullable(Type.String()),
  /** For a `change`: what happened to that row. */
  event: nullable(OperationSchema),
  /** For a `change`: the device whose push made it; null when the server (another job) wrote the row. */
  deviceId: nullable(Type.String()),
  at: Type.String(),
});
export type SyncJobTrigger = Static<typeof SyncJobTrigger>;

/** One field a job changed (or, in a dry run, would change). */
export const SyncJobFieldDiff = Type.Object({ old: Type.Unknown(), new: Type.Unknown() });
export type SyncJobFieldDiff = Static<typeof SyncJobFieldDiff>;

/** A job's children: one per target of a relay. */
export const SyncJobChild = Type.Object({
  id: Type.String(),
  status: StatusSchema,
  target: nullable(SyncJobRef),
});
export type SyncJobChild = Static<typeof SyncJobChild>;

/** A job, with everything PROTOCOL.md §6 says it records. */
export const SyncJob = Type.Object({
  id: Type.String(),
  type: Type.String(),
  parentJobId: nullable(Type.String()),
  title: Type.String(),
  status: StatusSchema,
  source: nullable(SyncJobRef),
  operation: nullable(OperationSchema),
  target: nullable(SyncJobRef),
  context: Type.Record(Type.String(), Type.Unknown()),
  diffSummary: nullable(Type.Record(Type.String(), SyncJobFieldDiff)),
  /** The target before and after; kept only with verbose logging or on failure. */
  currentData: nullable(Type.Record(Type.String(), Type.Unknown())),
  updatedData: nullable(Type.Record(Type.String(), Type.Unknown())),
  errorMessage: nullable(Type.String()),
  errorStack: nullable(Type.String()),
  children: Type.Array(SyncJobChild),
  cancelReason: nullable(Type.String()),
  queue: QueueSchema,
  timeoutSec: Type.Number(),
  retryDelaySec: Type.Number(),
  maxRetries: Type.Integer(),
  verboseLogging: Type.Boolean(),
  retryCount: Type.Integer(),
  /** When a failed job with retries left runs again. */
  retryAfter: nullable(Type.String()),
  insertEnabled: Type.Boolean(),
  updateEnabled: Type.Boolean(),
  deleteEnabled: Type.Boolean(),
  updateWithoutChangesEnabled: Type.Boolean(),
  dryRun: Type.Boolean(),
  trigger: SyncJobTrigger,
  createdAt: Type.String(),
  startedAt: nullable(Type.String()),
  endedAt: nullable(Type.String()),
  durationMs: nullable(Type.Integer()),
});
export type SyncJob = Static<typeof SyncJob>;

export const SyncJobList = Type.Array(SyncJob);
export type SyncJobList = Static<typeof SyncJobList>;

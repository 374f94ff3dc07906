/**
 * The names of the sync jobs API (PROTOCOL.md §6), as lists: statuses, queues, operations, modes and trigger
 * types. Plain constants with no imports, so the owner's page can use them as well as the server.
 */

/** Every status a job can have, exactly as on the wire. The flow between them is `@tillsync/jobs`' status.ts. */
export const SYNC_JOB_STATUSES = [
  'Pending',
  'Queued',
  'Started',
  'Finished',
  'Failed',
  'Skipped',
  'Relayed',
  'No Target',
  'Canceled',
] as const;
export type SyncJobStatus = (typeof SYNC_JOB_STATUSES)[number];

/** The queues a job runs on: `short` for quick work, `long` for slow work, so one never starves the other. */
export const SYNC_JOB_QUEUES = ['default', 'short', 'long'] as const;
export type SyncJobQueue = (typeof SYNC_JOB_QUEUES)[number];

/** What a job does to its target; also the source-table events that enqueue a type by themselves. */
export const SYNC_JOB_OPERATIONS = ['insert', 'update', 'delete'] as const;
export type SyncJobOperation = (typeof SYNC_JOB_OPERATIONS)[number];

/** How a type's controller finds its work: one target, several targets, or all by itself. */
export const SYNC_JOB_MODES = ['single', 'multiple', 'bypass'] as const;
export type SyncJobMode = (typeof SYNC_JOB_MODES)[number];

/** What made a job: a person, a program over the API, a schedule, an outside call, or a change to a row. */
export const SYNC_JOB_TRIGGER_TYPES = ['manual', 'api', 'scheduler', 'webhook', 'change'] as const;
export type SyncJobTriggerType = (typeof SYNC_JOB_TRIGGER_TYPES)[number];

import { SYNC_JOB_STATUSES, type SyncJobStatus } from '@tillsync/protocol';

/**
 * The status flow of a sync job (PROTOCOL.md §6):
 *
 * ```
 *   Pending ──start──▶ Queued ──claim──▶ Started ──▶ Finished    a target was written
 *      │                 │                  │    ├─▶ Skipped     a flag is off, a dry run, or no changes
 *      │                 │                  │    ├─▶ Relayed     several targets: one child job each
 *      │                 │                  │    ├─▶ No Target   nothing to write to
 *      │                 │                  │    └─▶ Failed ──(retryAfter passes, retries left)──▶ Queued
 *      │                 │                  │                │
 *      └──cancel──▶ Canceled ◀──cancel──────┘ (not Started)  ├──owner's retry──▶ Queued
 *                        ▲                                   │
 *                        └───────────────cancel──────────────┘
 * ```
 *
 * Every move is a conditional update in the database (`… WHERE status IN (from)`), so two parties that race
 * (a worker claiming, an owner canceling) never both win: a job canceled before its claim never runs, and a
 * started job cannot be canceled.
 */

/** The statuses a job may be canceled from. */
export const CANCELABLE_STATUSES: readonly SyncJobStatus[] = ['Pending', 'Queued', 'Failed'];
/** The statuses an owner's `start` queues a job from. */
export const STARTABLE_STATUSES: readonly SyncJobStatus[] = ['Pending'];
/** The statuses an owner's `retry` queues a job from. */
export const RETRYABLE_STATUSES: readonly SyncJobStatus[] = ['Failed'];
/**
 * The statuses a worker may run a job from: `Queued`, or `Started` when the worker that started it stopped
 * renewing its lease (it died) and another takes the job over.
 */
export const RUNNABLE_STATUSES: readonly SyncJobStatus[] = ['Queued', 'Started'];

/**
 * The statuses a job ends in: every status but `Pending` and the runnable ones. It changes no more unless the
 * owner retries a `Failed` one.
 */
export const END_STATUSES: ReadonlySet<SyncJobStatus> = new Set<SyncJobStatus>(
  SYNC_JOB_STATUSES.filter((status) => status !== 'Pending' && !RUNNABLE_STATUSES.includes(status)),
);

/** The owner's calls on a job, and the statuses each is allowed from. */
export const OWNER_ACTIONS = {
  start: STARTABLE_STATUSES,
  cancel: CANCELABLE_STATUSES,
  retry: RETRYABLE_STATUSES,
} as const satisfies Record<string, readonly SyncJobStatus[]>;
export type OwnerAction = keyof typeof OWNER_ACTIONS;

export function isEndStatus(status: SyncJobStatus): boolean {
  return END_STATUSES.has(status);
}

/** Whether the owner's `action` is allowed on a job in `status`. */
export function allows(action: OwnerAction, status: SyncJobStatus): boolean {
  return OWNER_ACTIONS[action].includes(status);
}

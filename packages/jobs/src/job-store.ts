import type { RowValues, SyncJobQueue, SyncJobStatus } from '@tillsync/protocol';
import type { JobPatch, JobRecord, JobRef, NewJobRecord } from './job.js';
import type { SettingsOverrides } from './settings.js';

/**
 * What sync jobs need from a database, in small role interfaces. The database is the source of truth for
 * jobs and type settings; a queue transport only carries "job X is ready" to a worker. The server implements
 * these on its SQL engine (`packages/server/src/jobs/`).
 */

/** A live row of a synced table, as controllers read it. */
export interface TableRow {
  readonly table: string;
  readonly id: string;
  readonly values: RowValues;
  /** The row's stamp (PROTOCOL.md §1). */
  readonly updatedAt: string;
}

/** A job's source row: its live state, or the last state it had before it was deleted. */
export interface SourceRow extends TableRow {
  readonly deleted: boolean;
}

/** A range on one column; every bound given must hold. */
export interface RangeFilter {
  readonly gt?: string | number;
  readonly gte?: string | number;
  readonly lt?: string | number;
  readonly lte?: string | number;
}

/** Which rows {@link RowReader.find} returns: per column, a value (null for "is null") or a range. */
export interface RowQuery {
  readonly where?: Readonly<Record<string, string | number | null | RangeFilter>>;
  /** @defaultValue 10,000 */
  readonly limit?: number;
}

/** The tenant's live synced rows, for controllers to read. */
export interface RowReader {
  get(table: string, id: string): Promise<TableRow | null>;
  find(table: string, query?: RowQuery): Promise<TableRow[]>;
}

/**
 * A row a job writes, as part of its final commit: `values` is the whole row as the controller left it
 * (null deletes it); `seen` is the state the controller read. Only the fields the controller changed from
 * `seen` are laid over the row as it is at commit, so a device's concurrent edit of another field survives;
 * a counter column gets the difference added (PROTOCOL.md §5).
 */
export interface TargetWrite {
  readonly table: string;
  readonly id: string;
  readonly seen: TableRow | null;
  readonly values: RowValues | null;
  /** The job that writes it: a write of its own source row does not enqueue its own type again. */
  readonly jobId: string;
  readonly jobType: string;
  readonly jobSource: JobRef | null;
}

/** What a target write replaced and left. */
export interface TargetWriteResult {
  readonly before: RowValues | null;
  readonly after: RowValues | null;
}

/** Which worker holds a job, and which claim of it: writes count only while the claim is current. */
export interface JobClaim {
  readonly jobId: string;
  readonly tenantId: string;
  readonly workerId: string;
  readonly attempt: number;
}

/** A job a worker has claimed. */
export interface ClaimedJob {
  readonly record: JobRecord;
  readonly claim: JobClaim;
  /** True when the claim also started it (its lock was known): otherwise the controller finds the target first. */
  readonly started: boolean;
}

/** What to claim. */
export interface ClaimRequest {
  readonly workerId: string;
  readonly queues: readonly SyncJobQueue[];
  readonly now: number;
  /** How long the claim lasts unless renewed. */
  readonly leaseMs: number;
  readonly limit: number;
  /**
   * How long a job whose lock is busy at its claim waits before it is tried again (jittered by
   * `jitteredRetryAt`): the executor's `lockRetryMs`. @defaultValue `DEFAULT_LOCK_RETRY_MS` (50)
   */
  readonly lockRetryMs?: number;
}

/** The answer to a claim of one job by id (a BullMQ delivery). */
export type ClaimByIdResult =
  | { readonly kind: 'claimed'; readonly job: ClaimedJob }
  /** Not now: queued for later, its lock busy, or running under a live lease. Ask again at `at`. */
  | { readonly kind: 'later'; readonly at: number }
  /** Nothing to run: it ended, was canceled, is pending, or does not exist. */
  | { readonly kind: 'none' };

/** How a job that found its target goes on. */
export type StartResult = 'started' | 'busy' | 'lost';

/** A job handed to a BullMQ queue. */
export interface DispatchItem {
  readonly jobId: string;
  readonly queue: SyncJobQueue;
  readonly retryCount: number;
}

/** The jobs of all tenants, as workers see them. */
export interface JobStore {
  forTenant(tenantId: string): TenantJobStore;
  /**
   * Claims up to `limit` ready jobs of these queues, oldest first: `Queued` jobs whose time has come, and
   * `Started` jobs whose worker's lease ran out. A job whose lock is known is started at once with its lock
   * taken; one whose lock is busy is left for later.
   */
  claim(request: ClaimRequest): Promise<ClaimedJob[]>;
  /** Claims one job by id, as a BullMQ worker does on delivery. */
  claimById(jobId: string, request: Omit<ClaimRequest, 'limit' | 'queues'>): Promise<ClaimByIdResult>;
  /**
   * Starts a claimed job that found its target: `Queued` → `Started` with the target's lock. `busy`: another
   * job holds the lock, so the claim is let go and the job waits until `retryAt`; `lost`: the job was
   * canceled or taken over meanwhile, so it must not run.
   */
  start(claim: JobClaim, lockKeys: readonly string[], now: number, retryAt: number): Promise<StartResult>;
  /**
   * Ends a claimed job whose end writes nothing else (no target rows, no children): `patch` (its final
   * status) while `claim` is current and its status is one of `from`, and its locks let go, together. False
   * when the claim is no longer current (another worker took the job over, or it was canceled). Ends of the
   * same moment may share one transaction. An end whose `signal` is aborted by the time it would be written
   * is not written, and throws the signal's reason.
   */
  endClaimed(
    claim: JobClaim,
    from: readonly SyncJobStatus[],
    patch: JobPatch,
    signal?: AbortSignal,
  ): Promise<boolean>;
  /** Extends the leases (and locks) of jobs a worker runs. */
  renewLeases(claims: readonly JobClaim[], until: number): Promise<void>;
  /** Queues failed jobs whose `retryAfter` has come; returns how many. */
  promoteDueRetries(now: number): Promise<number>;
  /**
   * Marks up to `limit` ready jobs of these queues as handed to BullMQ and returns them: ready jobs never
   * handed over, and, with `recover` (the default), those whose delivery seems lost: handed over more than
   * `redispatchAfterMs` ago, or started by a worker whose lease ran out.
   */
  takeForDispatch(request: {
    readonly queues: readonly SyncJobQueue[];
    readonly now: number;
    readonly limit: number;
    readonly redispatchAfterMs: number;
    readonly recover?: boolean;
  }): Promise<DispatchItem[]>;
  /** When the next of these queues' jobs becomes ready (a retry, a deferred job), or null if none waits. */
  nextReadyAt(queues: readonly SyncJobQueue[]): Promise<number | null>;
}

/** Which jobs a list returns, newest first. */
export interface JobListFilter {
  readonly status?: SyncJobStatus;
  readonly type?: string;
  /** @defaultValue 100 */
  readonly limit?: number;
}

/** One tenant's jobs, type settings and rows. Nothing here reaches another tenant. */
export interface TenantJobStore {
  readonly tenantId: string;
  readonly rows: RowReader;
  /** The source row: live, or its last state if it was deleted; null if the server never held it. */
  readSource(table: string, id: string): Promise<SourceRow | null>;
  getJob(id: string): Promise<JobRecord | null>;
  listJobs(filter: JobListFilter): Promise<JobRecord[]>;
  /** The children of these jobs, oldest first. */
  listChildren(parentIds: readonly string[]): Promise<JobRecord[]>;
  /** The settings the owner has set, by type name (only those set). */
  getTypeSettings(): Promise<Map<string, SettingsOverrides>>;
  /** Stores the owner's settings of a type (null values go back to the type's defaults). */
  saveTypeSettings(name: string, settings: SettingsOverrides): Promise<void>;
  insertJobs(records: readonly NewJobRecord[]): Promise<void>;
  /** Changes a job if its status is one of `from`; false when it is not (someone moved it first). */
  transition(id: string, from: readonly SyncJobStatus[], patch: JobPatch): Promise<boolean>;
  /** Runs `work` in one transaction: a job's target writes and its final status commit together or not at all. */
  transaction<T>(work: (tx: JobTransaction) => Promise<T>): Promise<T>;
}

/** What a job's final commit may do, inside one transaction of its tenant. */
export interface JobTransaction {
  readonly rows: RowReader;
  insertJobs(records: readonly NewJobRecord[]): Promise<void>;
  /**
   * Changes a job while `claim` is still current and its status is one of `from`; false otherwise (another
   * worker took it over, or it was canceled), and then the caller rolls the transaction back.
   */
  updateClaimed(claim: JobClaim, from: readonly SyncJobStatus[], patch: JobPatch): Promise<boolean>;
  /** Writes a target row through the server's row path: stamp, sequence number, checks, checksums. */
  writeTarget(write: TargetWrite): Promise<TargetWriteResult>;
  releaseLocks(jobId: string): Promise<void>;
}

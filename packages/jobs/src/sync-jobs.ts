import type {
  SyncJob,
  SyncJobQueue,
  SyncJobStatus,
  SyncJobTypeInfo,
  SyncJobTypePatch,
} from '@tillsync/protocol';
import { enqueueSyncJob, type EnqueueSyncJobOptions } from './enqueue.js';
import { SyncJobError } from './errors.js';
import { toSyncJob, type JobPatch, type JobRecord } from './job.js';
import type { JobListFilter, JobStore, TenantJobStore } from './job-store.js';
import { effectiveSettings, typeInfo, type JobTypeRegistry } from './job-type-registry.js';
import { checkSettings } from './settings.js';
import { OWNER_ACTIONS, type OwnerAction } from './status.js';

/** What a caller passes to {@link SyncJobs}. */
export interface SyncJobsOptions {
  readonly store: JobStore;
  readonly types: JobTypeRegistry;
  /** @defaultValue `Date.now` */
  readonly now?: () => number;
  /** Told when a job became ready to run, so the queue runs it now rather than at its next poll. */
  readonly onQueued?: (queue: SyncJobQueue) => void;
}

/**
 * The owner's side of sync jobs, per tenant: enqueue, look, start, cancel, retry, and edit type settings.
 * The HTTP API and `tillsync jobs` call it; every call is scoped to one tenant.
 *
 * @example
 * const jobs = new SyncJobs({ store, types });
 * const job = await jobs.forTenant(tenantId).enqueue({ type: 'sale-daily-sales', source: saleId });
 */
export class SyncJobs {
  readonly types: JobTypeRegistry;
  readonly #store: JobStore;
  readonly #now: () => number;
  readonly #onQueued: ((queue: SyncJobQueue) => void) | undefined;

  constructor(options: SyncJobsOptions) {
    this.types = options.types;
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    this.#onQueued = options.onQueued;
  }

  forTenant(tenantId: string): TenantSyncJobs {
    return new TenantSyncJobs(this.#store.forTenant(tenantId), this.types, this.#now, this.#onQueued);
  }
}

/** One tenant's jobs and job types. */
export class TenantSyncJobs {
  readonly #store: TenantJobStore;
  readonly #types: JobTypeRegistry;
  readonly #now: () => number;
  readonly #onQueued: ((queue: SyncJobQueue) => void) | undefined;

  constructor(
    store: TenantJobStore,
    types: JobTypeRegistry,
    now: () => number,
    onQueued?: (queue: SyncJobQueue) => void,
  ) {
    this.#store = store;
    this.#types = types;
    this.#now = now;
    this.#onQueued = onQueued;
  }

  /** Enqueues a job of a type (see {@link enqueueSyncJob}) and returns it. */
  enqueue(options: EnqueueSyncJobOptions): Promise<SyncJob> {
    return enqueueSyncJob(
      {
        store: this.#store,
        types: this.#types,
        now: this.#now,
        ...(this.#onQueued ? { onQueued: this.#onQueued } : {}),
      },
      options,
    );
  }

  async get(id: string): Promise<SyncJob> {
    const record = await this.#store.getJob(id);
    if (!record) throw notFound(id);
    return this.#withChildren([record]).then((jobs) => jobs[0] as SyncJob);
  }

  /** Newest first. */
  async list(filter: JobListFilter = {}): Promise<SyncJob[]> {
    return this.#withChildren(await this.#store.listJobs(filter));
  }

  /** Queues a `Pending` job. */
  start(id: string): Promise<SyncJob> {
    return this.#act(id, 'start', () => ({ status: 'Queued', readyAt: this.#now() }));
  }

  /** Cancels a `Pending`, `Queued` or `Failed` job: it never runs (again). */
  cancel(id: string, reason?: string): Promise<SyncJob> {
    return this.#act(id, 'cancel', () => ({
      status: 'Canceled',
      cancelReason: reason ?? null,
      retryAfter: null,
      readyAt: null,
      endedAt: this.#now(),
      releaseLease: true,
    }));
  }

  /** Queues a `Failed` job again now, whatever retries it has left. */
  retry(id: string): Promise<SyncJob> {
    return this.#act(id, 'retry', (record) => ({
      status: 'Queued',
      retryCount: record.retryCount + 1,
      retryAfter: null,
      errorMessage: null,
      errorStack: null,
      startedAt: null,
      endedAt: null,
      durationMs: null,
      readyAt: this.#now(),
    }));
  }

  async listTypes(): Promise<SyncJobTypeInfo[]> {
    const stored = await this.#store.getTypeSettings();
    return this.#types.list().map((type) => typeInfo(type, effectiveSettings(type, stored.get(type.name))));
  }

  /** Changes a type's settings for this tenant; a `null` puts a setting back to the type's default. */
  async updateType(name: string, patch: SyncJobTypePatch): Promise<SyncJobTypeInfo> {
    const type = this.#types.get(name);
    if (!type) throw new SyncJobError('NOT_FOUND', `there is no job type "${name}"`, { typeName: name });
    checkSettings(patch, `job type "${name}"`);
    const stored = { ...(await this.#store.getTypeSettings()).get(name) } as Record<string, unknown>;
    for (const [setting, value] of Object.entries(patch)) {
      if (value === null) delete stored[setting];
      else if (value !== undefined) stored[setting] = value;
    }
    await this.#store.saveTypeSettings(name, stored);
    return typeInfo(type, effectiveSettings(type, stored));
  }

  async #act(id: string, action: OwnerAction, patchFor: (record: JobRecord) => JobPatch): Promise<SyncJob> {
    const record = await this.#store.getJob(id);
    if (!record) throw notFound(id);
    const allowed: readonly SyncJobStatus[] = OWNER_ACTIONS[action];
    // The move is conditional on the status, so a worker that claims the job at the same moment wins or loses whole.
    if (!allowed.includes(record.status) || !(await this.#store.transition(id, allowed, patchFor(record)))) {
      const now = (await this.#store.getJob(id)) ?? record;
      throw new SyncJobError(
        'INVALID_STATUS',
        `job ${id} is ${now.status}: only a job that is ${allowed.join(' or ')} can be ${action === 'start' ? 'started' : action === 'cancel' ? 'canceled' : 'retried'}`,
        { jobId: id },
      );
    }
    if (action !== 'cancel') this.#onQueued?.(record.settings.queue);
    return this.get(id);
  }

  async #withChildren(records: readonly JobRecord[]): Promise<SyncJob[]> {
    const relayed = records.filter((record) => record.status === 'Relayed').map((record) => record.id);
    const children = relayed.length > 0 ? await this.#store.listChildren(relayed) : [];
    const byParent = new Map<string, JobRecord[]>();
    for (const child of children) {
      if (child.parentJobId)
        byParent.set(child.parentJobId, [...(byParent.get(child.parentJobId) ?? []), child]);
    }
    return records.map((record) => toSyncJob(record, byParent.get(record.id) ?? []));
  }
}

function notFound(id: string): SyncJobError {
  return new SyncJobError('NOT_FOUND', `there is no sync job ${id}`, { jobId: id });
}

import { CompiledSchema, SHOP_SCHEMA, type SyncSchema } from '@tillsync/protocol';
import { SyncJobError, SyncJobs, type TenantSyncJobs } from '@tillsync/jobs';
import type { ServerStorage } from '../server-storage.js';
import { jobTypesFor, resolveJobsConfig } from './server-jobs.js';
import type { SqlJobStore } from './sql-job-store.js';

/**
 * Sync jobs on a server's database from outside the server (`tillsync jobs …`): the same owner's calls as
 * the HTTP API. A job enqueued here is run by the server's queue (or the workers) at their next look.
 */
export class OfflineSyncJobs {
  readonly #store: SqlJobStore;
  readonly #jobs: SyncJobs;

  constructor(
    storage: ServerStorage,
    options: { readonly types?: readonly unknown[]; readonly schema?: SyncSchema } = {},
  ) {
    const schema = new CompiledSchema(options.schema ?? SHOP_SCHEMA);
    const types = jobTypesFor(schema, resolveJobsConfig({ types: options.types ?? [] }));
    this.#store = storage.createJobStore({ schema, types });
    this.#jobs = new SyncJobs({ store: this.#store, types });
  }

  /** The jobs of a tenant: the one named, or the database's only tenant. */
  async tenant(tenantId?: string): Promise<TenantSyncJobs> {
    if (tenantId !== undefined) return this.#jobs.forTenant(tenantId);
    const tenants = await this.#store.tenantIds(2);
    if (tenants.length !== 1) {
      throw new SyncJobError(
        'INVALID_OPTIONS',
        tenants.length === 0
          ? 'the database has no tenant yet'
          : 'the database has several tenants: name one with --tenant ID',
      );
    }
    return this.#jobs.forTenant(tenants[0] as string);
  }

  /** The jobs of the tenant a job belongs to. */
  async tenantOfJob(jobId: string): Promise<TenantSyncJobs> {
    const tenantId = await this.#store.tenantOfJob(jobId);
    if (tenantId === null) throw new SyncJobError('NOT_FOUND', `there is no sync job ${jobId}`, { jobId });
    return this.#jobs.forTenant(tenantId);
  }
}

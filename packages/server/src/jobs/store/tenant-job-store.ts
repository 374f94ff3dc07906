// One tenant's jobs: what the owner's API and the executor read and change outside a claim.
import type { Kysely } from 'kysely';
import type { Database } from '../../storage/database.js';
import type { WriteBatch } from '../../storage/tenant-write-batches.js';
import type { RowValues, SyncJobStatus } from '@tillsync/protocol';
import type {
  JobListFilter,
  JobPatch,
  JobRecord,
  JobTransaction,
  NewJobRecord,
  RowReader,
  SettingsOverrides,
  SourceRow,
  TenantJobStore,
} from '@tillsync/jobs';
import type { SqlEngine } from '../../storage/sql-engine.js';
import type { GroupCommit, Outcome, SharedWrite } from '../group-commit.js';
import { toJobRecord, toJobUpdate, type JobTables, type JobsDatabase } from '../job-tables.js';
import { chunks } from './job-rows.js';
import type { JobsToInsert } from './insert-jobs.js';
import { SqlJobTransaction, type JobWriteContext } from './job-transaction.js';
import { SqlRowReader } from './row-reader.js';
import { readTypeSettings, saveTypeSettings } from './type-settings.js';

/** What the tenants' stores of one `SqlJobStore` share. */
export interface TenantContext extends JobWriteContext {
  readonly groupCommit: GroupCommit;
  /** Enqueues of the same moment (a burst of API calls) share one write and one insert. */
  readonly jobInserts: SharedWrite<JobsToInsert, Outcome>;
  /** Type settings reads in flight, by tenant: reads asked for meanwhile share them. */
  readonly settingsReads: Map<string, Promise<Map<string, SettingsOverrides>>>;
}

/** A {@link TenantJobStore} on any engine. */
export class SqlTenantJobStore implements TenantJobStore {
  readonly tenantId: string;
  readonly rows: RowReader;
  readonly #engine: SqlEngine;
  readonly #context: TenantContext;

  constructor(engine: SqlEngine, tenantId: string, context: TenantContext) {
    this.#engine = engine;
    this.tenantId = tenantId;
    this.#context = context;
    this.rows = new SqlRowReader(() => engine.db, engine.dialect, tenantId, context.schema);
  }

  get #db(): Kysely<JobsDatabase> {
    return this.#engine.db.withTables<JobTables>();
  }

  async readSource(table: string, id: string): Promise<SourceRow | null> {
    const live = await this.rows.get(table, id);
    if (live) return { ...live, deleted: false };
    const last = await this.#db
      .selectFrom('sync_deleted_rows')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('tbl', '=', table)
      .where('id', '=', id)
      .executeTakeFirst();
    return last
      ? { table, id, values: JSON.parse(last.data) as RowValues, updatedAt: last.updated_at, deleted: true }
      : null;
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const row = await this.#db
      .selectFrom('sync_jobs')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toJobRecord(row) : null;
  }

  async listJobs(filter: JobListFilter): Promise<JobRecord[]> {
    let query = this.#db.selectFrom('sync_jobs').selectAll().where('tenant_id', '=', this.tenantId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.type !== undefined) query = query.where('type', '=', filter.type);
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(Math.min(Math.max(filter.limit ?? 100, 1), 1000))
      .execute();
    return rows.map(toJobRecord);
  }

  async listChildren(parentIds: readonly string[]): Promise<JobRecord[]> {
    const children: JobRecord[] = [];
    for (const chunk of chunks([...parentIds])) {
      const rows = await this.#db
        .selectFrom('sync_jobs')
        .selectAll()
        .where('tenant_id', '=', this.tenantId)
        .where('parent_job_id', 'in', chunk)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      children.push(...rows.map(toJobRecord));
    }
    return children;
  }

  /** Enqueues of the same moment (a burst of API calls) share one read of the settings. */
  getTypeSettings(): Promise<Map<string, SettingsOverrides>> {
    const reads = this.#context.settingsReads;
    let read = reads.get(this.tenantId);
    if (!read) {
      read = readTypeSettings(this.#db, this.tenantId);
      reads.set(this.tenantId, read);
      const done = read;
      const forget = (): void => {
        if (reads.get(this.tenantId) === done) reads.delete(this.tenantId);
      };
      done.then(forget, forget);
    }
    return read;
  }

  async saveTypeSettings(name: string, settings: SettingsOverrides): Promise<void> {
    // A read that started before this save must not answer those who ask after it.
    this.#context.settingsReads.delete(this.tenantId);
    await saveTypeSettings(this.#db, this.tenantId, name, settings, this.#context.now());
    this.#context.settingsReads.delete(this.tenantId);
  }

  async insertJobs(records: readonly NewJobRecord[]): Promise<void> {
    const inserted = await this.#context.jobInserts.ask({ tenantId: this.tenantId, records });
    if (!inserted.ok) throw inserted.error;
  }

  async transition(id: string, from: readonly SyncJobStatus[], patch: JobPatch): Promise<boolean> {
    const result = await this.#db
      .updateTable('sync_jobs')
      .set(toJobUpdate(patch))
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .where('status', 'in', [...from])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async transaction<T>(work: (tx: JobTransaction) => Promise<T>): Promise<T> {
    let tx: SqlJobTransaction | undefined;
    const begin = (trx: Kysely<Database>, batch?: WriteBatch): Promise<T> => {
      tx = new SqlJobTransaction(
        trx.withTables<JobTables>(),
        this.#engine,
        this.tenantId,
        this.#context,
        batch ? { batch } : {},
      );
      return work(tx);
    };
    // A job's transaction writes its target rows under the tenant's lock. On PostgreSQL it waits for its turn
    // in memory with the tenant's pushes and shares their transaction and turn of the lock; on SQLite (one
    // writer anyway) the jobs' own group commit batches it with other jobs' writes.
    // It goes ahead of the pushes queued meanwhile: it holds its claim, and the pushes that triggered it wait
    // for its end before they answer.
    const result = await (this.#engine.dialect.writeIsSerialised
      ? this.#context.groupCommit.run((trx) => begin(trx))
      : this.#engine.tenantWrite(this.tenantId, begin, { first: true }));
    // Committed: the devices whose scope the job's rows are in are told (PROTOCOL.md §7), no one else.
    if (tx && tx.writtenScopes.size > 0) this.#context.onRowsWritten?.(this.tenantId, [...tx.writtenScopes]);
    if (tx && tx.enqueuedQueues.size > 0) this.#context.onJobsEnqueued?.(tx.enqueuedQueues);
    return result;
  }
}

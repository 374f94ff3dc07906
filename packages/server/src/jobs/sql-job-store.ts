import {
  CompiledQuery,
  sql,
  type Compilable,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type RawBuilder,
  type SqlBool,
} from 'kysely';
import {
  HybridClock,
  type CompiledSchema,
  type RowValues,
  type SyncJobQueue,
  type SyncJobStatus,
} from '@tillsync/protocol';
import type {
  ClaimByIdResult,
  ClaimedJob,
  ClaimRequest,
  DispatchItem,
  JobClaim,
  JobListFilter,
  JobPatch,
  JobRecord,
  JobStore,
  JobTransaction,
  JobTypeRegistry,
  NewJobRecord,
  RowQuery,
  RowReader,
  SettingsOverrides,
  SourceRow,
  StartResult,
  TableRow,
  TargetWrite,
  TargetWriteResult,
  TenantJobStore,
} from '@tillsync/jobs';
import { ownLockKey } from '@tillsync/jobs';
import type { Database } from '../storage/database.js';
import { dialectOf, type RowsTable, type SqlDialect } from '../storage/sql-dialect.js';
import { paddedToPowerOfTwo, queryRows, type SqlEngine } from '../storage/sql-engine.js';
import {
  JOB_COLUMN_TYPES,
  toJobRecord,
  toJobRow,
  toJobUpdate,
  withServerTables,
  type JobRow,
  type JobTables,
  type JobsDatabase,
} from './job-tables.js';
import { GroupCommit, SharedWrite, type Outcome } from './group-commit.js';
import { writeTarget } from './target-writer.js';

/** Statements stay well under the engines' limits on bound values. */
const CHUNK = 500;
/** How long a job whose lock was busy at its claim waits before it is tried again (plus up to as much again). */
const LOCK_RETRY_MS = 50;

/** When a job that could not be claimed at `now` (its lock busy, claimed twice at once) is tried again. */
function soonAfter(now: number): number {
  return now + LOCK_RETRY_MS * (1 + Math.random());
}

/** What a caller passes to {@link SqlJobStore}. */
export interface SqlJobStoreOptions {
  /** Target writes are checked against it. */
  readonly schema: CompiledSchema;
  /** The types whose triggers a job's own writes fire (a job writing products enqueues the catalog job). */
  readonly types?: JobTypeRegistry;
  /** @defaultValue `Date.now` */
  readonly now?: () => number;
  /**
   * The node id of the stamps this process gives the rows jobs write: one per process, so two workers never
   * issue the same stamp. @defaultValue `server-` and 6 random hex digits
   */
  readonly nodeId?: string;
}

/**
 * Sync jobs on any {@link SqlEngine}. Claims, starts and final commits are conditional updates in write
 * transactions, so they are atomic on SQLite (one writer) and on PostgreSQL (row locks, re-checked
 * conditions) alike; every statement is Kysely, portable to both.
 */
export class SqlJobStore implements JobStore {
  readonly #engine: SqlEngine;
  readonly #options: Required<Omit<SqlJobStoreOptions, 'types'>> & { readonly types: JobTypeRegistry | null };
  readonly #clock: HybridClock;
  readonly #groupCommit: GroupCommit;
  readonly #settingsReads = new Map<string, Promise<Map<string, SettingsOverrides>>>();
  /**
   * Claims of single jobs asked for at the same moment (BullMQ deliveries) by one worker share one write, by
   * worker and lease length: a write takes the locks of one worker's jobs, in one order, so that on
   * PostgreSQL two writes of workers sharing this store (as in tests) never wait on each other in a cycle.
   */
  readonly #claimsById = new Map<string, SharedWrite<ClaimByIdAsked, ClaimByIdResult>>();
  /** Ends of jobs that write nothing else, asked for at the same moment, share one write. */
  readonly #endsClaimed: SharedWrite<EndAsked, boolean | 'aborted'>;
  readonly #jobInserts: SharedWrite<JobsToInsert, Outcome>;

  constructor(engine: SqlEngine, options: SqlJobStoreOptions) {
    this.#engine = engine;
    this.#groupCommit = new GroupCommit(engine);
    this.#endsClaimed = new SharedWrite(
      (work) => this.#groupCommit.run(work),
      (trx, asked) => endClaimedJobs(trx.withTables<JobTables>(), asked),
    );
    this.#jobInserts = new SharedWrite(
      (work) => this.#groupCommit.run(work),
      (trx, asked) => insertJobsAsked(trx.withTables<JobTables>(), asked),
    );
    const now = options.now ?? Date.now;
    this.#options = Object.freeze({
      schema: options.schema,
      types: options.types ?? null,
      now,
      nodeId: options.nodeId ?? `server-${Math.random().toString(16).slice(2, 8).padEnd(6, '0')}`,
    });
    this.#clock = new HybridClock({ nodeId: this.#options.nodeId, now });
  }

  get #db(): Kysely<JobsDatabase> {
    return this.#engine.db.withTables<JobTables>();
  }

  /** Writes of the same moment share one commit (see {@link GroupCommit}), each still all or nothing. */
  #write<T>(work: (trx: Kysely<JobsDatabase>) => Promise<T>): Promise<T> {
    return this.#groupCommit.run((trx) => work(trx.withTables<JobTables>()));
  }

  /** Up to `limit` tenant ids, for commands that pick the only tenant of a database. */
  async tenantIds(limit: number): Promise<string[]> {
    const rows = await this.#engine.db
      .selectFrom('tenants')
      .select('id')
      .orderBy('created_at')
      .limit(limit)
      .execute();
    return rows.map((row) => row.id);
  }

  /** The tenant a job belongs to, or null when there is no such job. */
  async tenantOfJob(jobId: string): Promise<string | null> {
    const row = await this.#db
      .selectFrom('sync_jobs')
      .select('tenant_id')
      .where('id', '=', jobId)
      .executeTakeFirst();
    return row?.tenant_id ?? null;
  }

  /**
   * Drops the last states of rows deleted before `deletedBefore` (what a job reads as the source of a
   * delete). Runs with the tombstone purge, on the same retention: a job about a delete that old is not
   * coming any more.
   */
  async purgeDeletedRows(deletedBefore: number): Promise<number> {
    const result = await this.#write((trx) =>
      trx.deleteFrom('sync_deleted_rows').where('deleted_at', '<', deletedBefore).executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }

  forTenant(tenantId: string): TenantJobStore {
    return new SqlTenantJobStore(this.#engine, tenantId, {
      schema: this.#options.schema,
      types: this.#options.types,
      now: this.#options.now,
      clock: this.#clock,
      groupCommit: this.#groupCommit,
      jobInserts: this.#jobInserts,
      settingsReads: this.#settingsReads,
    });
  }

  claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    return this.#write(async (trx) => {
      const { now, queues, limit } = request;
      await promoteRetries(trx, now);
      const recovered = await readJobRows(
        trx,
        this.#engine,
        trx
          .selectFrom('sync_jobs')
          .select(JOB_COLUMNS)
          .where((eb) => hasStatus(eb, 'Started'))
          .where('lease_expires_at', '<', now)
          .where('queue', 'in', [...queues])
          .orderBy('lease_expires_at')
          .limit(limit)
          .$call((query) => this.#engine.dialect.lockForUpdateSkipLocked(query)),
      );
      const ready =
        recovered.length >= limit
          ? []
          : await readJobRows(
              trx,
              this.#engine,
              trx
                .selectFrom('sync_jobs')
                .select(JOB_COLUMNS)
                .where((eb) => queuedAndReady(eb, now))
                .where('queue', 'in', [...queues])
                // In the index's order (no sort of every waiting job): the read stops at its limit.
                .orderBy('ready_at')
                // Some may have busy locks: look a little further than asked.
                .limit((limit - recovered.length) * 2)
                // PostgreSQL: rows another claimer holds are skipped, not waited for.
                .$call((query) => this.#engine.dialect.lockForUpdateSkipLocked(query)),
            );
      const candidates = [...recovered, ...ready].sort(byLockKey);
      return leaseJobs(trx, candidates, request, limit);
    });
  }

  /**
   * Claims of single jobs asked for at the same moment (BullMQ deliveries) share one transaction and a few
   * statements: the claims wait here until the write they are part of begins.
   */
  claimById(jobId: string, request: Omit<ClaimRequest, 'limit' | 'queues'>): Promise<ClaimByIdResult> {
    const key = `${request.workerId}\n${request.leaseMs}`;
    let claims = this.#claimsById.get(key);
    if (!claims) {
      const engine = this.#engine;
      claims = new SharedWrite(
        (work) => this.#groupCommit.run(work),
        (trx, asked) => claimByIds(trx.withTables<JobTables>(), asked, engine),
      );
      this.#claimsById.set(key, claims);
    }
    return claims.ask({ jobId, request });
  }

  start(claim: JobClaim, lockKeys: readonly string[], now: number, retryAt: number): Promise<StartResult> {
    return this.#write(async (trx): Promise<StartResult> => {
      const row = await trx
        .selectFrom('sync_jobs')
        .select(['status', 'lease_expires_at'])
        .where('id', '=', claim.jobId)
        .where('attempt', '=', claim.attempt)
        .where('lease_owner', '=', claim.workerId)
        .executeTakeFirst();
      if (!row || (row.status !== 'Queued' && row.status !== 'Started')) return 'lost';
      const until = Number(row.lease_expires_at ?? now);
      const taken = await takeLocks(
        trx,
        claim.tenantId,
        lockKeys.map((key) => ({ key, jobId: claim.jobId })),
        now,
        until,
      );
      if (taken.size < lockKeys.length) {
        await releaseLocks(trx, claim.jobId, [...taken]);
        await trx
          .updateTable('sync_jobs')
          .set({ lease_owner: null, lease_expires_at: Math.round(retryAt), ready_at: Math.round(retryAt) })
          .where('id', '=', claim.jobId)
          .where('attempt', '=', claim.attempt)
          .execute();
        return 'busy';
      }
      const started = await trx
        .updateTable('sync_jobs')
        .set((eb) => ({
          status: 'Started',
          started_at: eb.fn.coalesce('started_at', eb.val(now)),
          lock_key: lockKeys[0] ?? null,
        }))
        .where('id', '=', claim.jobId)
        .where('attempt', '=', claim.attempt)
        .where('lease_owner', '=', claim.workerId)
        .where('status', 'in', ['Queued', 'Started'])
        .executeTakeFirst();
      if (Number(started.numUpdatedRows) !== 1) {
        await releaseLocks(trx, claim.jobId, lockKeys);
        return 'lost';
      }
      return 'started';
    });
  }

  endClaimed(
    claim: JobClaim,
    from: readonly SyncJobStatus[],
    patch: JobPatch,
    signal?: AbortSignal,
  ): Promise<boolean> {
    return this.#endsClaimed.ask({ claim, from, patch, signal: signal ?? null }).then((ended) => {
      if (ended === 'aborted') throw signal?.reason;
      return ended;
    });
  }

  async renewLeases(claims: readonly JobClaim[], until: number): Promise<void> {
    if (claims.length === 0) return;
    const byWorker = new Map<string, string[]>();
    for (const claim of claims) {
      const ids = byWorker.get(claim.workerId);
      if (ids) ids.push(claim.jobId);
      else byWorker.set(claim.workerId, [claim.jobId]);
    }
    await this.#write(async (trx) => {
      for (const [workerId, ids] of byWorker) {
        for (const chunk of chunks(ids)) {
          await trx
            .updateTable('sync_jobs')
            .set({ lease_expires_at: until })
            .where('id', 'in', chunk)
            .where('lease_owner', '=', workerId)
            .execute();
          await trx
            .updateTable('sync_job_locks')
            .set({ expires_at: until })
            .where('job_id', 'in', chunk)
            .execute();
        }
      }
    });
  }

  promoteDueRetries(now: number): Promise<number> {
    return this.#write((trx) => promoteRetries(trx, now));
  }

  takeForDispatch(request: {
    readonly queues: readonly SyncJobQueue[];
    readonly now: number;
    readonly limit: number;
    readonly redispatchAfterMs: number;
    readonly recover?: boolean;
  }): Promise<DispatchItem[]> {
    const { now, queues, limit, recover = true } = request;
    const staleBefore = now - request.redispatchAfterMs;
    return this.#write(async (trx) => {
      // Three reads, each a range of an index, rather than one that goes through every Queued job (those
      // handed over stay Queued until claimed): first what BullMQ may have lost, then what it never had.
      const waiting = trx
        .selectFrom('sync_jobs')
        .select(['id'])
        .where('queue', 'in', [...queues])
        .where((eb) => queuedAndReady(eb, now));
      // In the order of the index that holds them (by ready time, SQLite would read every Queued job).
      const stale = recover
        ? await waiting
            .where('dispatched_at', '<', staleBefore)
            .orderBy('dispatched_at')
            .limit(limit)
            .execute()
        : [];
      const dead = recover
        ? await trx
            .selectFrom('sync_jobs')
            .select(['id'])
            .where('queue', 'in', [...queues])
            // A running job whose worker died and whose delivery BullMQ may have lost: hand it over again.
            .where((eb) => hasStatus(eb, 'Started'))
            .where('lease_expires_at', '<', now)
            .where((eb) =>
              eb.or([eb('dispatched_at', 'is', null), eb('dispatched_at', '<', eb.ref('lease_expires_at'))]),
            )
            .orderBy('lease_expires_at')
            .limit(limit - stale.length)
            .execute()
        : [];
      const fresh =
        stale.length + dead.length >= limit
          ? []
          : await waiting
              .where('dispatched_at', 'is', null)
              .orderBy('ready_at')
              .limit(limit - stale.length - dead.length)
              .execute();
      const rows = [...stale, ...dead, ...fresh];
      if (rows.length === 0) return [];
      const items: DispatchItem[] = [];
      for (const chunk of chunks(rows.map((row) => row.id))) {
        const marked = await trx
          .updateTable('sync_jobs')
          .set({ dispatched_at: now })
          .where('id', 'in', chunk)
          .returning(['id', 'queue', 'retry_count'])
          .execute();
        for (const row of marked)
          items.push({ jobId: row.id, queue: row.queue, retryCount: Number(row.retry_count) });
      }
      return items;
    });
  }

  async nextReadyAt(queues: readonly SyncJobQueue[]): Promise<number | null> {
    const db = this.#db;
    const [queued, retries, leases] = await Promise.all([
      db
        .selectFrom('sync_jobs')
        .select(
          sql<
            number | null
          >`min(case when lease_expires_at is not null and lease_expires_at > ready_at then lease_expires_at else ready_at end)`.as(
            'at',
          ),
        )
        .where((eb) => hasStatus(eb, 'Queued'))
        .where('queue', 'in', [...queues])
        .executeTakeFirst(),
      db
        .selectFrom('sync_jobs')
        .select((eb) => eb.fn.min('retry_after').as('at'))
        .where((eb) => hasStatus(eb, 'Failed'))
        .where('retry_after', 'is not', null)
        .where('queue', 'in', [...queues])
        .executeTakeFirst(),
      db
        .selectFrom('sync_jobs')
        .select((eb) => eb.fn.min('lease_expires_at').as('at'))
        .where((eb) => hasStatus(eb, 'Started'))
        .where('queue', 'in', [...queues])
        .executeTakeFirst(),
    ]);
    const times = [queued?.at, retries?.at, leases?.at]
      .filter((at) => at !== null && at !== undefined)
      .map(Number);
    return times.length === 0 ? null : Math.min(...times);
  }
}

interface TenantContext {
  readonly schema: CompiledSchema;
  readonly types: JobTypeRegistry | null;
  readonly now: () => number;
  readonly clock: HybridClock;
  readonly groupCommit: GroupCommit;
  /** Enqueues of the same moment (a burst of API calls) share one write and one insert. */
  readonly jobInserts: SharedWrite<JobsToInsert, Outcome>;
  /** Type settings reads in flight, by tenant: reads asked for meanwhile share them. */
  readonly settingsReads: Map<string, Promise<Map<string, SettingsOverrides>>>;
}

class SqlTenantJobStore implements TenantJobStore {
  readonly tenantId: string;
  readonly rows: RowReader;
  readonly #engine: SqlEngine;
  readonly #context: TenantContext;

  constructor(engine: SqlEngine, tenantId: string, context: TenantContext) {
    this.#engine = engine;
    this.tenantId = tenantId;
    this.#context = context;
    this.rows = new SqlRowReader(() => engine.db, engine.dialect, tenantId);
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
    const row = {
      tenant_id: this.tenantId,
      name,
      settings: JSON.stringify(settings),
      updated_at: this.#context.now(),
    };
    await this.#db
      .insertInto('sync_job_type_settings')
      .values(row)
      .onConflict((conflict) =>
        conflict
          .columns(['tenant_id', 'name'])
          .doUpdateSet({ settings: row.settings, updated_at: row.updated_at }),
      )
      .execute();
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

  transaction<T>(work: (tx: JobTransaction) => Promise<T>): Promise<T> {
    return this.#context.groupCommit.run((trx) =>
      work(new SqlJobTransaction(trx.withTables<JobTables>(), this.#engine, this.tenantId, this.#context)),
    );
  }
}

class SqlJobTransaction implements JobTransaction {
  readonly rows: RowReader;
  readonly #trx: Kysely<JobsDatabase>;
  readonly #engine: SqlEngine;
  readonly #tenantId: string;
  readonly #context: TenantContext;
  #tenantLocked = false;

  constructor(trx: Kysely<JobsDatabase>, engine: SqlEngine, tenantId: string, context: TenantContext) {
    this.#trx = trx;
    this.#engine = engine;
    this.#tenantId = tenantId;
    this.#context = context;
    this.rows = new SqlRowReader(() => withServerTables(trx), engine.dialect, tenantId);
  }

  async insertJobs(records: readonly NewJobRecord[]): Promise<void> {
    await insertJobs(this.#trx, this.#tenantId, records);
  }

  async updateClaimed(claim: JobClaim, from: readonly SyncJobStatus[], patch: JobPatch): Promise<boolean> {
    const result = await this.#trx
      .updateTable('sync_jobs')
      .set(toJobUpdate(patch))
      .where('id', '=', claim.jobId)
      .where('tenant_id', '=', this.#tenantId)
      .where('attempt', '=', claim.attempt)
      .where('lease_owner', '=', claim.workerId)
      .where('status', 'in', [...from])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async writeTarget(write: TargetWrite): Promise<TargetWriteResult> {
    // A tenant's rows take sequence numbers in commit order (PostgreSQL locks the tenant; SQLite has one writer).
    if (!this.#tenantLocked) {
      await this.#engine.lockTenant(withServerTables(this.#trx), this.#tenantId);
      this.#tenantLocked = true;
    }
    return writeTarget(
      {
        trx: this.#trx,
        tenantId: this.#tenantId,
        schema: this.#context.schema,
        clock: this.#context.clock,
        now: this.#context.now,
        types: this.#context.types,
      },
      write,
    );
  }

  async releaseLocks(jobId: string): Promise<void> {
    await this.#trx.deleteFrom('sync_job_locks').where('job_id', '=', jobId).execute();
  }
}

/** The tenant's live rows, read from the stored JSON. */
class SqlRowReader implements RowReader {
  readonly #db: () => Kysely<Database>;
  readonly #dialect: SqlDialect;
  readonly #tenantId: string;

  constructor(db: () => Kysely<Database>, dialect: SqlDialect, tenantId: string) {
    this.#db = db;
    this.#dialect = dialect;
    this.#tenantId = tenantId;
  }

  async get(table: string, id: string): Promise<TableRow | null> {
    const row = await this.#db()
      .selectFrom('sync_rows')
      .select(['data', 'updated_at'])
      .where('tenant_id', '=', this.#tenantId)
      .where('tbl', '=', table)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && row.data !== null
      ? { table, id, values: JSON.parse(row.data) as RowValues, updatedAt: row.updated_at }
      : null;
  }

  async find(table: string, query: RowQuery = {}): Promise<TableRow[]> {
    let select = this.#db()
      .selectFrom('sync_rows')
      .select(['id', 'data', 'updated_at'])
      .where('tenant_id', '=', this.#tenantId)
      .where('tbl', '=', table)
      .where('deleted', '=', 0);
    for (const [column, condition] of Object.entries(query.where ?? {})) {
      if (column !== 'id' && !/^[a-z][a-z0-9_]{0,62}$/.test(column)) {
        throw new Error(`"${column}" is not a column name`);
      }
      if (condition === null) {
        select = select.where(this.#field(column, true), 'is', null);
      } else if (typeof condition === 'object') {
        for (const [op, bound] of Object.entries(condition) as Array<[string, string | number | undefined]>) {
          if (bound === undefined) continue;
          const operator = ({ gt: '>', gte: '>=', lt: '<', lte: '<=' } as const)[op as 'gt'];
          if (!operator) throw new Error(`"${op}" is not a range bound (gt, gte, lt, lte)`);
          select = select.where(
            (eb) => eb(this.#field(column), operator, this.#value(bound)) as Expression<SqlBool>,
          );
        }
      } else {
        select = select.where(
          (eb) => eb(this.#field(column), '=', this.#value(condition)) as Expression<SqlBool>,
        );
      }
    }
    const rows = await select
      .orderBy('id')
      .limit(query.limit ?? 10_000)
      .execute();
    return rows.map((row) => ({
      table,
      id: row.id,
      values: JSON.parse(row.data ?? '{}') as RowValues,
      updatedAt: row.updated_at,
    }));
  }

  /** A column of the stored JSON: SQLite's json_extract gives SQL values; PostgreSQL compares jsonb with jsonb. */
  #field(column: string, asText = false) {
    return column === 'id' ? sql<unknown>`id` : this.#dialect.jsonField(column, asText);
  }

  #value(value: string | number) {
    return this.#dialect.jsonValue(value);
  }
}

export async function readTypeSettings(
  db: Kysely<JobsDatabase>,
  tenantId: string,
): Promise<Map<string, SettingsOverrides>> {
  const rows = await db
    .selectFrom('sync_job_type_settings')
    .select(['name', 'settings'])
    .where('tenant_id', '=', tenantId)
    .execute();
  return new Map(rows.map((row) => [row.name, JSON.parse(row.settings) as SettingsOverrides]));
}

/**
 * Inserts jobs, all or none: on PostgreSQL in one statement whatever their number, on SQLite in a few of
 * fixed sizes (see {@link valuesGroups}) inside a savepoint.
 */
export async function insertJobs(
  db: Kysely<JobsDatabase>,
  tenantId: string,
  records: readonly NewJobRecord[],
): Promise<void> {
  if (records.length === 0) return;
  if (records.some((record) => record.tenantId !== tenantId)) throw new Error('a job of another tenant');
  const rows: Array<Record<string, unknown>> = records.map(toJobRow);
  const columns = Object.keys(rows[0] ?? {});
  const groups = dialectOf(db).valuesGroups(rows);
  const insert = async (): Promise<void> => {
    for (const group of groups) {
      const table = rowsTable(
        db,
        group.map((row) => columns.map((column) => row[column] ?? null)),
      );
      const names = columns.map((column) => `"${column}"`).join(', ');
      const items = columns.map((column, position) => table.item(column, position)).join(', ');
      await db.executeQuery(
        CompiledQuery.raw(
          `insert into sync_jobs (${names}) select ${items} from ${table.from} where true`,
          table.parameters,
        ),
      );
    }
  };
  if (groups.length === 1) return insert();
  await sql`savepoint insert_jobs`.execute(db);
  try {
    await insert();
  } catch (error) {
    await sql`rollback to insert_jobs`.execute(db);
    throw error;
  } finally {
    await sql`release insert_jobs`.execute(db);
  }
}

/**
 * Rows of values as a table, for the statements that take many jobs at once (see {@link SqlDialect.rowsTable});
 * on SQLite give it rows in groups (see {@link SqlDialect.valuesGroups}), or, for a statement that may see a
 * row twice (an update joined to the table), `padded`.
 */
function rowsTable(
  db: Kysely<JobsDatabase>,
  rows: ReadonlyArray<readonly unknown[]>,
  { padded = false } = {},
): RowsTable {
  return dialectOf(db).rowsTable(rows, { padded, columnType: jobColumnType });
}

/** The SQL type of a column of sync_jobs, or of any other value a statement takes (text). */
function jobColumnType(column: string): string {
  return isJobColumn(column) ? JOB_COLUMN_TYPES[column] : 'text';
}

function isJobColumn(column: string): column is keyof typeof JOB_COLUMN_TYPES {
  return Object.hasOwn(JOB_COLUMN_TYPES, column);
}

/** Jobs one caller enqueues. */
interface JobsToInsert {
  readonly tenantId: string;
  readonly records: readonly NewJobRecord[];
}

/**
 * Inserts what several callers enqueue, an outcome each: all in one statement, or, should that fail, each
 * caller's in a statement of its own, so one caller's bad job fails only its own enqueue.
 */
async function insertJobsAsked(db: Kysely<JobsDatabase>, asked: readonly JobsToInsert[]): Promise<Outcome[]> {
  const together = asked.length > 1 && new Set(asked.map((insert) => insert.tenantId)).size === 1;
  if (together) {
    try {
      await insertJobs(
        db,
        asked[0]?.tenantId ?? '',
        asked.flatMap((insert) => insert.records),
      );
      return asked.map(() => ({ ok: true, value: undefined }));
    } catch {
      // A statement that fails changes nothing: each caller's jobs are tried on their own below.
    }
  }
  const outcomes: Outcome[] = [];
  for (const { tenantId, records } of asked) {
    try {
      await insertJobs(db, tenantId, records);
      outcomes.push({ ok: true, value: undefined });
    } catch (error) {
      outcomes.push({ ok: false, error });
    }
  }
  return outcomes;
}

/**
 * `status = <status>`, the status written into the SQL: the indexes that find the jobs to run each hold the
 * jobs of one status (migration 0007), and a planner only reads such an index for a condition it can see
 * is the index's own.
 */
function hasStatus(
  eb: ExpressionBuilder<JobsDatabase, 'sync_jobs'>,
  status: 'Queued' | 'Started' | 'Failed',
): Expression<SqlBool> {
  return eb('status', '=', sql.lit(status));
}

/** A `Queued` job whose time has come and that no live lease holds (a deferred job's lease is its wait). */
function queuedAndReady(eb: ExpressionBuilder<JobsDatabase, 'sync_jobs'>, now: number): Expression<SqlBool> {
  return eb.and([
    hasStatus(eb, 'Queued'),
    eb('ready_at', '<=', now),
    eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]),
  ]);
}

/** Failed jobs whose `retryAfter` has come are queued again, as a new run. */
async function promoteRetries(trx: Kysely<JobsDatabase>, now: number): Promise<number> {
  const result = await trx
    .updateTable('sync_jobs')
    .set((eb) => ({
      status: 'Queued',
      retry_count: eb('retry_count', '+', 1),
      retry_after: null,
      error_message: null,
      error_stack: null,
      started_at: null,
      ended_at: null,
      duration_ms: null,
      ready_at: now,
      dispatched_at: null,
    }))
    .where((eb) => hasStatus(eb, 'Failed'))
    .where('retry_after', 'is not', null)
    .where('retry_after', '<=', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** A claim of one job by id. */
interface ClaimByIdAsked {
  readonly jobId: string;
  readonly request: Omit<ClaimRequest, 'limit' | 'queues'>;
}

/**
 * Claims jobs by id, an answer per claim asked for, in a few statements for all of them. Most jobs take no
 * lock of a shared target, and are free to run: those are leased by one update that checks they may be
 * (see {@link leaseFreeJobs}). The others are read, judged one by one and leased with {@link leaseJobs}. A job
 * asked for twice is claimed once; the other claim hears `later`, like any claim of a job whose lease is live.
 */
async function claimByIds(
  trx: Kysely<JobsDatabase>,
  asked: readonly ClaimByIdAsked[],
  engine: SqlEngine,
): Promise<ClaimByIdResult[]> {
  const first = asked[0];
  if (!first) return [];
  // The asks of one write are one worker's, with one lease length (see SqlJobStore.claimById); the lease
  // counts from the latest of their moments.
  const request = asked.reduce(
    (latest, claim) => (claim.request.now > latest.now ? claim.request : latest),
    first.request,
  );
  const free = await leaseFreeJobs(trx, [...new Set(asked.map((claim) => claim.jobId))], request, engine);
  const leased = new Map(
    free.map((row) => [row.id, claimedJob(row, request.workerId, row.lock_key !== null)]),
  );
  const results: Array<ClaimByIdResult | undefined> = [];
  const rest: Array<{ readonly claim: ClaimByIdAsked; readonly index: number }> = [];
  const answered = new Set<string>();
  asked.forEach((claim, index) => {
    const job = leased.get(claim.jobId);
    if (!job) {
      rest.push({ claim, index });
    } else if (answered.has(claim.jobId)) {
      results[index] = { kind: 'later', at: soonAfter(claim.request.now) };
    } else {
      answered.add(claim.jobId);
      results[index] = { kind: 'claimed', job };
    }
  });
  if (rest.length > 0) {
    const judged = await claimJudgedByIds(
      trx,
      rest.map(({ claim }) => claim),
      request,
      engine,
    );
    rest.forEach(({ index }, position) => {
      results[index] = judged[position];
    });
  }
  return asked.map((_, index) => results[index] ?? { kind: 'none' });
}

/**
 * Leases, in one update per chunk, those of the jobs that are free to run now, and starts those whose lock
 * is their own; returns them whole. Free to run: queued and ready, or started under a lease that ran out
 * (its worker died), and taking no lock of a shared target (its lock key is unknown yet, or its own:
 * {@link ownLockKey}, `@type#id`, written out here: were the two to differ, such jobs would only take the
 * slower way of the others). PostgreSQL first locks the rows, skipping those another transaction holds (its
 * claim, its end, a cancel: the read that follows judges them), so a claim never waits on another and two
 * claims never wait on each other in a cycle. The ids are listed in the update itself, so that each job is
 * read by its key: joined to a locking subquery instead, PostgreSQL scanned every job of a young table, whose
 * statistics were not gathered yet.
 */
async function leaseFreeJobs(
  trx: Kysely<JobsDatabase>,
  ids: readonly string[],
  request: ClaimByIdAsked['request'],
  engine: SqlEngine,
): Promise<JobRow[]> {
  const { now, workerId, leaseMs } = request;
  const rows: JobRow[] = [];
  for (const listed of chunks(ids)) {
    const chunk = await engine.dialect.lockIdsSkipLocked(trx, 'sync_jobs', listed);
    if (chunk.length === 0) continue;
    const query = sql<JobRow>`update sync_jobs set ${leaseAssignments(workerId, now, now + leaseMs)}
      where id in (${sql.join(paddedToPowerOfTwo(chunk))}) and status in ('Queued', 'Started')
        and (lease_expires_at is null or lease_expires_at < ${now})
        and (status = 'Started' or ready_at is null or ready_at <= ${now})
        and (lock_key is null or lock_key = '@' || type || '#' || id)
      returning ${JOB_RETURNING}`.compile(trx);
    rows.push(...(await queryRows(engine, trx, query, (arrays) => arrays.map(toJobRowFromValues))));
  }
  return rows;
}

/**
 * Claims jobs by id that were not free to run (see {@link leaseFreeJobs}): one read of the jobs, an answer
 * for each, then {@link leaseJobs}, which takes their locks. `request`: the worker's, as in {@link claimByIds}.
 */
async function claimJudgedByIds(
  trx: Kysely<JobsDatabase>,
  asked: readonly ClaimByIdAsked[],
  request: ClaimByIdAsked['request'],
  engine: SqlEngine,
): Promise<ClaimByIdResult[]> {
  const ids = [...new Set(asked.map((claim) => claim.jobId))];
  const rows = new Map<string, JobRow>();
  for (const chunk of chunks(ids)) {
    const found = await readJobRows(
      trx,
      engine,
      trx
        .selectFrom('sync_jobs')
        .select(JOB_COLUMNS)
        .where('id', 'in', chunk)
        // PostgreSQL: the rows stay as read until the claim commits; one another transaction holds is skipped.
        .$call((query) => engine.dialect.lockForUpdateSkipLocked(query)),
    );
    for (const row of found) rows.set(row.id, row);
  }
  const results: Array<ClaimByIdResult | undefined> = asked.map(() => undefined);
  const skipped = ids.filter((id) => !rows.has(id));
  if (engine.dialect.skipsLockedRows && skipped.length > 0) {
    // Held by another transaction (its claim or its end) rather than missing: asked again in a moment.
    const held = new Set<string>();
    for (const chunk of chunks(skipped)) {
      const found = await trx.selectFrom('sync_jobs').select('id').where('id', 'in', chunk).execute();
      for (const row of found) held.add(row.id);
    }
    asked.forEach((claim, index) => {
      if (held.has(claim.jobId)) results[index] = { kind: 'later', at: soonAfter(claim.request.now) };
    });
  }
  const indexes = new Map<string, number>();
  asked.forEach((claim, index) => {
    if (results[index]) return;
    const { now } = claim.request;
    const row = rows.get(claim.jobId);
    if (!row || (row.status !== 'Queued' && row.status !== 'Started')) {
      results[index] = { kind: 'none' };
      return;
    }
    const leaseEnds = row.lease_expires_at === null ? null : Number(row.lease_expires_at);
    if (leaseEnds !== null && leaseEnds >= now) {
      results[index] = { kind: 'later', at: leaseEnds + 1 };
      return;
    }
    if (row.status === 'Queued' && row.ready_at !== null && Number(row.ready_at) > now) {
      results[index] = { kind: 'later', at: Number(row.ready_at) };
      return;
    }
    if (indexes.has(claim.jobId)) {
      results[index] = { kind: 'later', at: soonAfter(now) };
      return;
    }
    indexes.set(claim.jobId, index);
  });
  const candidates = [...indexes.keys()]
    .map((id) => rows.get(id))
    .filter((row): row is JobRow => row !== undefined)
    .sort(byLockKey);
  for (const job of await leaseJobs(trx, candidates, request, candidates.length)) {
    const index = indexes.get(job.record.id);
    if (index !== undefined) results[index] = { kind: 'claimed', job };
  }
  // Not leased (another worker was first) or its lock busy: asked again in a moment.
  for (const index of indexes.values()) {
    results[index] ??= { kind: 'later', at: soonAfter(request.now) };
  }
  return results.map((result) => result ?? { kind: 'none' });
}

/** An end of a claimed job that writes nothing else. */
interface EndAsked {
  readonly claim: JobClaim;
  readonly from: readonly SyncJobStatus[];
  readonly patch: JobPatch;
  readonly signal: AbortSignal | null;
}

/**
 * Ends claimed jobs, an answer per end: false for a claim that is no longer current, `aborted` for one whose
 * signal was aborted before its write. Ends that set the same columns (every end a worker writes does)
 * take one update for all of them, each row's values from one bound JSON array and each row's claim checked
 * in the same statement, then one delete of their locks.
 */
async function endClaimedJobs(
  trx: Kysely<JobsDatabase>,
  asked: readonly EndAsked[],
): Promise<Array<boolean | 'aborted'>> {
  const answers: Array<boolean | 'aborted'> = asked.map((end) => (end.signal?.aborted ? 'aborted' : false));
  const alike = new Map<string, Array<{ end: EndAsked; index: number; update: Record<string, unknown> }>>();
  asked.forEach((end, index) => {
    if (answers[index] === 'aborted') return;
    const update: Record<string, unknown> = toJobUpdate(end.patch);
    const key = `${end.from.join(',')}|${Object.keys(update).join(',')}`;
    const sameColumns = alike.get(key);
    if (sameColumns) sameColumns.push({ end, index, update });
    else alike.set(key, [{ end, index, update }]);
  });
  for (const ends of alike.values()) {
    const first = ends[0];
    if (!first) continue;
    const columns = Object.keys(first.update);
    // Rows in the order of their ids: two writers that lock rows of one table lock them in one order.
    ends.sort((a, b) => byCodeUnits(a.end.claim.jobId, b.end.claim.jobId));
    for (const chunk of chunks(ends)) {
      const { from } = first.end;
      const table = rowsTable(
        trx,
        chunk.map(({ end: { claim }, update }) => [
          claim.jobId,
          claim.tenantId,
          claim.attempt,
          claim.workerId,
          ...from,
          ...columns.map((column) => update[column] ?? null),
        ]),
        { padded: true },
      );
      // The statuses come from the rows too: bound as plain values, SQLite would read the jobs by status
      // (thousands queued) rather than each by its id.
      const statuses = from.map((_, position) => table.item('status', position + 4)).join(', ');
      const assignments = columns
        .map((column, position) => `"${column}" = ${table.item(column, position + 4 + from.length)}`)
        .join(', ');
      const { rows } = await trx.executeQuery<{ id: string; type: string; lock_key: string | null }>(
        CompiledQuery.raw(
          `update sync_jobs set ${assignments} from ${table.from}
          where sync_jobs.id = ${table.item('id', 0)} and sync_jobs.tenant_id = ${table.item('tenant_id', 1)}
            and sync_jobs.attempt = ${table.item('attempt', 2)}
            and sync_jobs.lease_owner = ${table.item('lease_owner', 3)} and sync_jobs.status in (${statuses})
          returning sync_jobs.id, sync_jobs.type, sync_jobs.lock_key`,
          table.parameters,
        ),
      );
      const ended = new Set(rows.map((row) => row.id));
      for (const { end, index } of chunk) answers[index] = ended.has(end.claim.jobId);
      // A job with a lock key of its own took no lock; any other may hold some (one without a known key
      // takes its target's when it starts).
      const locking = rows
        .filter((row) => row.lock_key !== ownLockKey(row.type, row.id))
        .map((row) => row.id);
      if (locking.length > 0) await trx.deleteFrom('sync_job_locks').where('job_id', 'in', locking).execute();
    }
  }
  return answers;
}

/** Locks are taken in one order by every claimer, so two of them never wait on each other in a cycle. */
function byLockKey(a: JobRow, b: JobRow): number {
  return byCodeUnits(a.lock_key ?? '\uffff', b.lock_key ?? '\uffff');
}

/** Strings in the order of their UTF-16 code units: one order for every writer, without the cost of a locale. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Leases candidate jobs to a worker, at most `limit`, in a few statements for the whole batch: one insert
 * of the locks of the jobs whose lock is known (the job is ours, so taking over a lock its dead worker held
 * is safe), one that lets go of those whose lock is busy, to wait a moment, and one update that leases the
 * others and starts those holding their lock. The candidates must have been read in this transaction, which
 * holds them (see {@link leaseReady}), so two workers that picked the same job never both get it. A job whose
 * lock is not known is leased only: it starts once its controller has found its target.
 */
async function leaseJobs(
  trx: Kysely<JobsDatabase>,
  candidates: readonly JobRow[],
  request: Omit<ClaimRequest, 'limit' | 'queues'>,
  limit: number,
): Promise<ClaimedJob[]> {
  const { now, workerId, leaseMs } = request;
  const until = now + leaseMs;
  const picked: JobRow[] = [];
  const seenLocks = new Set<string>();
  for (const row of candidates) {
    if (picked.length >= limit) break;
    if (row.lock_key !== null) {
      // Two candidates on one target: only the first may start now.
      const lock = `${row.tenant_id}\n${row.lock_key}`;
      if (seenLocks.has(lock)) continue;
      seenLocks.add(lock);
    }
    picked.push(row);
  }
  // The candidates stay as read until this transaction ends (SQLite: it is the one writer; PostgreSQL: their
  // rows were selected for update), so their locks are taken first, and each job is leased and, holding
  // its lock, started, in one update. A lock key of the job's own is nobody else's: no lock to take.
  const locking = picked.filter(
    (row) => row.lock_key !== null && row.lock_key !== ownLockKey(row.type, row.id),
  );
  const taken = await takeLocks(
    trx,
    null,
    locking.map((row) => ({ key: row.lock_key ?? '', jobId: row.id, tenantId: row.tenant_id })),
    now,
    until,
  );
  const busy = new Set(
    locking.filter((row) => !taken.has(`${row.tenant_id}\n${row.lock_key ?? ''}`)).map((row) => row.id),
  );
  for (const chunk of chunks([...busy])) {
    const retryAt = Math.round(soonAfter(now));
    await trx
      .updateTable('sync_jobs')
      // A lease that ends soon, owned by nobody: a Queued job waits until then, and a Started one (taken
      // over from a dead worker) is claimable again then.
      .set({ lease_owner: null, lease_expires_at: retryAt, ready_at: retryAt })
      .where('id', 'in', chunk)
      .execute();
  }
  const leased = await leaseReady(
    trx,
    picked.filter((row) => !busy.has(row.id)),
    workerId,
    now,
    until,
  );
  return leased.map((row) => claimedJob(row, workerId, row.lock_key !== null));
}

/**
 * What a lease returns of each job: the columns a claim changes, and those that may have changed since the
 * candidate was read (its other columns stay as they were while the job waits to run).
 */
const LEASE_COLUMNS = [
  'id',
  'status',
  'attempt',
  'recoveries',
  'lease_owner',
  'lease_expires_at',
  'ready_at',
  'started_at',
  'retry_count',
  'lock_key',
  'dispatched_at',
] as const;
const LEASE_RETURNING = sql.join(LEASE_COLUMNS.map((column) => sql.ref(column)));
type LeasedColumns = Pick<JobRow, (typeof LEASE_COLUMNS)[number]>;

/**
 * What a lease sets: the worker and the end of its lease, one more attempt (and one more recovery for a job
 * taken over from a dead worker). A job whose lock is known starts with its lease: the lock is its own, or
 * was taken before.
 */
function leaseAssignments(workerId: string, now: number, until: number): RawBuilder<unknown> {
  return sql`lease_owner = ${workerId}, lease_expires_at = ${until}, attempt = attempt + 1,
    recoveries = case when status = 'Started' then recoveries + 1 else recoveries end,
    status = case when lock_key is null then status else 'Started' end,
    started_at = case when lock_key is null then started_at else coalesce(started_at, ${now}) end`;
}

/**
 * Leases jobs in one update per chunk, by id alone. The rows must be held by this transaction since they
 * were read and found claimable (SQLite: it is the one writer; PostgreSQL: they were selected for update),
 * so no other worker can have leased them meanwhile. Checking their state again in the update would let
 * SQLite read them through a status index, every waiting job, instead of each by its id. Returns the
 * leased rows in the order given.
 */
async function leaseReady(
  trx: Kysely<JobsDatabase>,
  rows: readonly JobRow[],
  workerId: string,
  now: number,
  until: number,
): Promise<JobRow[]> {
  const leased = new Map<string, LeasedColumns>();
  for (const chunk of chunks(rows.map((row) => row.id))) {
    // A raw statement rather than Kysely's builder, which would build and compile it inside the write lock
    // each time; its list of ids padded, so that SQLite keeps the statement prepared.
    const { rows: updated } =
      await sql<LeasedColumns>`update sync_jobs set ${leaseAssignments(workerId, now, until)}
      where id in (${sql.join(paddedToPowerOfTwo(chunk))})
      returning ${LEASE_RETURNING}`.execute(trx);
    for (const row of updated) leased.set(row.id, row);
  }
  return rows.flatMap((row) => {
    const done = leased.get(row.id);
    return done ? [{ ...row, ...done }] : [];
  });
}

/** Every column of sync_jobs, in the order {@link JOB_COLUMN_TYPES} names them. */
const JOB_COLUMNS = Object.keys(JOB_COLUMN_TYPES) as ReadonlyArray<keyof JobRow>;
const JOB_RETURNING = sql.join(JOB_COLUMNS.map((column) => sql.ref(column)));

/**
 * Runs a select of {@link JOB_COLUMNS} inside a transaction. SQLite answers its rows as arrays, which cost
 * far less to make than objects of 47 values: a claim reads its candidates while it holds the write lock.
 */
function readJobRows(
  trx: Kysely<JobsDatabase>,
  engine: SqlEngine,
  query: Compilable<JobRow>,
): Promise<JobRow[]> {
  return queryRows(engine, trx, query.compile(), (arrays) => arrays.map(toJobRowFromValues));
}

/** A row of sync_jobs read as an array of values in the order of {@link JOB_COLUMNS}. */
function toJobRowFromValues(values: unknown[]): JobRow {
  const row: Record<string, unknown> = {};
  JOB_COLUMNS.forEach((column, index) => {
    row[column] = values[index];
  });
  // The values are those of the columns named, as the database keeps them.
  return row as JobRow;
}

function claimedJob(row: JobRow, workerId: string, started: boolean): ClaimedJob {
  const record = toJobRecord(row);
  return {
    record,
    claim: { jobId: record.id, tenantId: record.tenantId, workerId, attempt: record.attempt },
    started,
  };
}

/**
 * Takes locks, each for its job: a lock is free when nobody holds it, its holder's lease ran out, or the
 * same job holds it (a job taken over from a dead worker). Returns the keys (`tenant\nkey`) taken.
 */
async function takeLocks(
  trx: Kysely<JobsDatabase>,
  tenantId: string | null,
  locks: ReadonlyArray<{ key: string; jobId: string; tenantId?: string }>,
  now: number,
  until: number,
): Promise<Set<string>> {
  const taken = new Set<string>();
  for (const chunk of chunks([...locks], 100)) {
    if (chunk.length === 0) continue;
    const rows = await trx
      .insertInto('sync_job_locks')
      .values(
        chunk.map((lock) => ({
          tenant_id: lock.tenantId ?? tenantId ?? '',
          lock_key: lock.key,
          job_id: lock.jobId,
          expires_at: until,
        })),
      )
      .onConflict((conflict) =>
        conflict
          .columns(['tenant_id', 'lock_key'])
          .doUpdateSet((eb) => ({
            job_id: eb.ref('excluded.job_id'),
            expires_at: eb.ref('excluded.expires_at'),
          }))
          .where((eb) =>
            eb.or([
              eb('sync_job_locks.expires_at', '<', now),
              eb('sync_job_locks.job_id', '=', eb.ref('excluded.job_id')),
            ]),
          ),
      )
      .returning(['tenant_id', 'lock_key'])
      .execute();
    for (const row of rows) taken.add(tenantId === null ? `${row.tenant_id}\n${row.lock_key}` : row.lock_key);
  }
  return taken;
}

async function releaseLocks(
  trx: Kysely<JobsDatabase>,
  jobId: string,
  keys: readonly string[],
): Promise<void> {
  if (keys.length === 0) return;
  await trx
    .deleteFrom('sync_job_locks')
    .where('job_id', '=', jobId)
    .where('lock_key', 'in', [...keys])
    .execute();
}

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
}

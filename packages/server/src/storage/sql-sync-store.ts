import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type RawBuilder, type Selectable } from 'kysely';
import {
  addToChecksum,
  formatChecksum,
  parseChecksum,
  type RowValues,
  type StoredChange,
  type TableChecksum,
} from '@tillsync/protocol';
import type { NewJobRecord, SettingsOverrides } from '@tillsync/jobs';
import type { Database } from './database.js';
import { dialectOf } from './sql-dialect.js';
import { jsonElements, queryRows, type SqlEngine } from './sql-engine.js';
import { chunks as inChunks } from './sql-values.js';
import { checksumChanges, type SyncRowValues } from './sync-rows-sql.js';
import { PendingRowWrites } from './pending-row-writes.js';
import type { WriteBatch } from './tenant-write-batches.js';
import {
  rowKey,
  type ConflictFilter,
  type ColumnStamps,
  type ConflictRecord,
  type DeletedRowState,
  type PulledRow,
  type PullPage,
  type PushStart,
  type PushStartRead,
  type PushTransaction,
  uniqueKeyId,
  type RowWrite,
  type SnapshotKey,
  type RowWriteTransaction,
  type StoredConflict,
  type StoredRow,
  type SyncStore,
  type TenantSyncStore,
} from './sync-store.js';

/** Statements stay well under SQLite's and PostgreSQL's limits on bound values. */
const CHUNK = 1000;

/** What a write of synced rows changes in the sync jobs' tables, in the write's own transaction. */
export type JobTableWrites = Pick<
  RowWriteTransaction,
  'keepDeletedRows' | 'readJobTypeSettings' | 'insertJobs'
>;

/** Builds the {@link JobTableWrites} of one tenant on a write transaction. */
export type JobTablesOn = (trx: Kysely<Database>, tenantId: string) => JobTableWrites;

/** What a caller passes to {@link SqlSyncStore}. */
export interface SqlSyncStoreOptions {
  /** Times what is kept for a while (tombstones, push answers). @defaultValue `Date.now` */
  readonly now?: () => number;
  readonly jobTables: JobTablesOn;
}

/** What a {@link SqlPushTransaction} needs besides its transaction and tenant. */
export interface PushTransactionContext {
  readonly now: () => number;
  readonly jobTables: JobTablesOn;
}

/** The synced rows on any {@link SqlEngine}. */
export class SqlSyncStore implements SyncStore {
  readonly #engine: SqlEngine;
  readonly #now: () => number;
  readonly #jobTables: JobTablesOn;

  /**
   * `now` times what is kept for a while (tombstones, push answers), so their retention is measured on the
   * same clock as the purge that ends it. `jobTables` is what a write changes in the sync jobs' tables (the
   * jobs side supplies it: storage knows nothing of jobs).
   */
  constructor(engine: SqlEngine, options: SqlSyncStoreOptions) {
    this.#engine = engine;
    this.#now = options.now ?? Date.now;
    this.#jobTables = options.jobTables;
  }

  forTenant(tenantId: string): TenantSyncStore {
    return new SqlTenantSyncStore(this.#engine, tenantId, { now: this.#now, jobTables: this.#jobTables });
  }

  async purgeTombstones(storedBefore: number): Promise<number> {
    return this.#engine.write(async (trx) => {
      const purgedRows = await trx
        .selectFrom('sync_rows')
        .select(['tenant_id', (eb) => eb.fn.max('seq').as('max_seq'), (eb) => eb.fn.countAll().as('count')])
        .where('deleted', '=', 1)
        .where('stored_at', '<', storedBefore)
        .groupBy('tenant_id')
        .execute();
      // Evictions are a store's tombstones of the rows that left it: kept, and purged, alike.
      const purgedEvictions = await trx
        .selectFrom('sync_evictions')
        .select(['tenant_id', (eb) => eb.fn.max('seq').as('max_seq'), (eb) => eb.fn.countAll().as('count')])
        .where('stored_at', '<', storedBefore)
        .groupBy('tenant_id')
        .execute();
      const purged = [...purgedRows, ...purgedEvictions];
      let total = 0;
      for (const tenant of purged) {
        const maxSeq = Number(tenant.max_seq);
        await trx
          .updateTable('tenants')
          // Only ever forward: written as CASE, which both engines have (SQLite's max(a, b) is not PostgreSQL's).
          .set({
            purged_seq: sql<number>`case when purged_seq < ${maxSeq} then ${maxSeq} else purged_seq end`,
          })
          .where('id', '=', tenant.tenant_id)
          .execute();
        total += Number(tenant.count);
      }
      await trx
        .deleteFrom('sync_rows')
        .where('deleted', '=', 1)
        .where('stored_at', '<', storedBefore)
        .execute();
      await trx.deleteFrom('sync_evictions').where('stored_at', '<', storedBefore).execute();
      return total;
    });
  }

  async purgePushAnswers(createdBefore: number): Promise<number> {
    const result = await this.#engine.db
      .deleteFrom('push_answers')
      .where('created_at', '<', createdBefore)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

class SqlTenantSyncStore implements TenantSyncStore {
  readonly #engine: SqlEngine;
  readonly #tenantId: string;
  readonly #context: PushTransactionContext;

  constructor(engine: SqlEngine, tenantId: string, context: PushTransactionContext) {
    this.#engine = engine;
    this.#tenantId = tenantId;
    this.#context = context;
  }

  push<T>(
    work: (tx: PushTransaction) => Promise<T>,
    signal?: AbortSignal,
    start?: PushStartRead,
  ): Promise<T> {
    // The pushes of the tenant that arrive while its last write runs share the next transaction and turn of
    // its lock, each judged after the one before it (see `TenantWriteBatches`), and read what they start
    // from in one statement.
    return this.#engine.tenantWrite(
      this.#tenantId,
      (trx, batch) => work(new SqlPushTransaction(trx, this.#tenantId, this.#context, batch)),
      { ...(signal ? { signal } : {}), ...(start ? { reads: { key: PUSH_STARTS, value: start } } : {}) },
    );
  }

  async pull(
    sinceSeq: number,
    limit: number,
    snapshotFloor = 0,
    deviceId?: string,
    snapshotEnd?: number,
  ): Promise<PullPage> {
    // A device's pull from its cursor, as every cycle makes, in one statement when it can be.
    if (deviceId !== undefined && sinceSeq > 0 && sinceSeq >= (snapshotEnd ?? 0)) {
      const page = await this.#devicePull(sinceSeq, limit, snapshotFloor, deviceId, snapshotEnd ?? 0);
      if (page !== null) return page;
    }
    return this.#engine.read(async (trx) => {
      const state = await this.#pullState(trx, deviceId);
      return this.#pullBySeq(trx, state, { sinceSeq, limit, snapshotFloor, deviceId, snapshotEnd });
    });
  }

  /**
   * A device's pull from its cursor (past any snapshot's end, so the rows it holds are left out) in ONE
   * statement, which reads one snapshot on either engine: the tenant's sequence, the device's store, the
   * page and the checksums together, where {@link pull}'s read transaction takes five round trips (begin,
   * state, page, checksums, commit), and an idle cycle of every till is one of these. Null when the page's
   * rows were all the device's own with more after them: the transaction reads on past them.
   */
  async #devicePull(
    sinceSeq: number,
    limit: number,
    snapshotFloor: number,
    deviceId: string,
    snapshotEnd: number,
  ): Promise<PullPage | null> {
    const db = this.#engine.db;
    const query = devicePullQuery(this.#tenantId, deviceId, sinceSeq, limit + 1).compile(db);
    // On the connection held for it: SQLite's one connection may be inside a write transaction between two
    // of its statements, whose writes a read beside it would see before they commit (or roll back).
    const read = await db
      .connection()
      .execute((connection) => queryRows(this.#engine, connection, query, toDevicePullRows));
    const state = read.find((row) => row.kind === 'state');
    if (!state) throw new Error(`there is no tenant ${this.#tenantId}`);
    const goodFrom = Math.max(Number(state.purged_seq), Number(state.scope_seq ?? 0));
    if (Math.max(sinceSeq, snapshotFloor) < goodFrom) return { resyncRequired: true };
    const found: ReadRow[] = read
      .filter((row) => row.kind === 'row')
      .map((row) => ({
        table: row.table!,
        id: row.id!,
        valuesJson: row.valuesJson,
        updatedAt: row.updatedAt!,
        seq: Number(row.seq),
        evicted: Number(row.evicted),
        held: Number(row.held),
      }))
      .sort((a, b) => a.seq - b.seq);
    const rows: PulledRow[] = [];
    const index = fillPage(found, rows, limit);
    const cursorSeq = Number(found[index - 1]?.seq ?? sinceSeq);
    const hasMore = index < found.length;
    if (!hasMore && found.length > limit) return null;
    const storeId = state.store_id ?? null;
    const page = { resyncRequired: false, rows, hasMore, snapshotFloor, snapshotEnd, storeId } as const;
    if (hasMore) return { ...page, cursorSeq };
    const sums = read.filter((row) => row.kind === 'sum');
    return {
      ...page,
      cursorSeq: Number(state.last_seq),
      checksums: addChecksums(
        sums.map((row) => ({ tbl: row.table!, row_count: row.row_count, sum: row.sum! })),
      ),
    };
  }

  /** {@link pull} inside its read transaction, against the state {@link #pullState} read in it. */
  async #pullBySeq(
    trx: Kysely<Database>,
    state: PullState,
    from: {
      readonly sinceSeq: number;
      readonly limit: number;
      readonly snapshotFloor: number;
      readonly deviceId: string | undefined;
      readonly snapshotEnd: number | undefined;
    },
  ): Promise<PullPage> {
    const { lastSeq, goodFrom, storeId } = state;
    const { sinceSeq, limit, deviceId } = from;
    // A fresh snapshot (since 0) needs no tombstones purged before it began, on any of its pages.
    const floor = sinceSeq === 0 ? goodFrom : from.snapshotFloor;
    if (sinceSeq > 0 && Math.max(sinceSeq, floor) < goodFrom) return { resyncRequired: true };
    // A fresh snapshot hands out every row stored when it began, even those the device pushed: its file may
    // be new (paired again, restored, or repairing a table). Past that point it skips what the device holds.
    const end = from.snapshotEnd ?? (sinceSeq === 0 ? lastSeq : 0);
    const heldBy = deviceId !== undefined && sinceSeq >= end ? deviceId : undefined;
    const read = await readPage(this.#engine, trx, {
      tenantId: this.#tenantId,
      storeId,
      sinceSeq,
      limit,
      heldBy,
    });
    return this.#page(trx, {
      rows: read.rows,
      hasMore: read.hasMore,
      cursorSeq: read.lastSeq,
      storeId,
      lastSeq,
      snapshotFloor: floor,
      snapshotEnd: end,
    });
  }

  pullSnapshot(
    from: { readonly mark: number; readonly key: SnapshotKey } | null,
    limit: number,
    options: { readonly tableOrder: readonly string[]; readonly deviceId?: string },
  ): Promise<PullPage> {
    return this.#engine.read(async (trx) => {
      const state = await this.#pullState(trx, options.deviceId);
      const { lastSeq, goodFrom, storeId } = state;
      // A device of one store among several that hold rows (a chain, PROTOCOL.md §7) takes its snapshot in
      // sequence order, by its scopes' index: a range of keys would read every store's rows of a per-store
      // table to hand out its own.
      if (from === null && (await otherScopesHoldRows(trx, this.#tenantId, scopesOf(storeId))))
        return this.#pullBySeq(trx, state, {
          sinceSeq: 0,
          limit,
          snapshotFloor: 0,
          deviceId: options.deviceId,
          snapshotEnd: undefined,
        });
      const mark = from?.mark ?? lastSeq;
      // The changes after the mark are what the snapshot's end needs: a purge or a move past it loses some.
      if (mark < goodFrom) return { resyncRequired: true };
      const wanted = limit + 1;
      const found: PulledRow[] = [];
      const scopes = scopesOf(storeId);
      const tables = tablesFrom(
        await tablesHeld(trx, this.#tenantId, scopes),
        options.tableOrder,
        from?.key.table,
      );
      for (const table of tables) {
        const afterId = from !== null && table === from.key.table ? from.key.afterId : null;
        const query = keyOrderQuery({
          tenantId: this.#tenantId,
          table,
          afterId,
          mark,
          scopes,
          limit: wanted - found.length,
        }).compile(trx);
        for (const row of await queryRows(this.#engine, trx, query, toPulledRows)) found.push(row);
        if (found.length >= wanted) break;
      }
      const keyed = found.length;
      if (found.length < wanted)
        for (const row of await this.#changesAfter(trx, storeId, mark, wanted - found.length))
          found.push(row);
      const last = found[limit - 1];
      // A page that ends among the rows stored up to the mark goes on from its last key.
      if (found.length > limit && keyed >= limit && last !== undefined)
        return {
          resyncRequired: false,
          rows: found.slice(0, limit),
          hasMore: true,
          cursorSeq: mark,
          snapshotFloor: 0,
          snapshot: { table: last.table, afterId: last.id },
          ...(storeId === undefined ? {} : { storeId }),
        };
      const hasMore = found.length > limit;
      const rows = hasMore ? found.slice(0, limit) : found;
      return this.#page(trx, {
        rows,
        hasMore,
        cursorSeq: Number(rows[rows.length - 1]?.seq ?? mark),
        storeId,
        lastSeq,
        snapshotFloor: 0,
      });
    });
  }

  /**
   * What a pull page is read against, in its own read transaction: the tenant's last sequence number, the
   * point from which a cursor is good (the purged tombstones, the device's last move, whichever is later),
   * and the device's store (see {@link scopesOf}). The store is read in the same snapshot as the rows, so a
   * move either happened before this page (and the cursor answers for it) or after it.
   */
  async #pullState(trx: Kysely<Database>, deviceId: string | undefined): Promise<PullState> {
    // One statement: a page's reads are what an idle cycle costs the server.
    const state = await trx
      .selectFrom('tenants')
      .leftJoin('devices', (join) =>
        join.onRef('devices.tenant_id', '=', 'tenants.id').on('devices.id', '=', deviceId ?? null),
      )
      .select(['tenants.last_seq', 'tenants.purged_seq', 'devices.store_id', 'devices.scope_seq'])
      .where('tenants.id', '=', this.#tenantId)
      .executeTakeFirstOrThrow();
    return {
      lastSeq: Number(state.last_seq),
      goodFrom: Math.max(Number(state.purged_seq), Number(state.scope_seq ?? 0)),
      storeId: deviceId === undefined ? undefined : (state.store_id ?? null),
    };
  }

  /**
   * The changes after `sinceSeq` a reader of `storeId` receives, at most `limit`, in sequence order, those
   * the device holds too: a snapshot's end, whose device may have pushed them while it paged.
   */
  #changesAfter(
    trx: Kysely<Database>,
    storeId: string | null | undefined,
    sinceSeq: number,
    limit: number,
  ): Promise<PulledRow[]> {
    const query = pullQuery(this.#tenantId, storeId, sinceSeq, limit, undefined).compile(trx);
    // A page is thousands of rows: where the engine can answer them as arrays, they cost much less to read.
    return queryRows(this.#engine, trx, query, toPulledRows);
  }

  /**
   * A page of `rows`: with more to come, its cursor is `cursorSeq` (the last row read); the last page's is the
   * tenant's last sequence number, with the checksums at it.
   */
  async #page(
    trx: Kysely<Database>,
    page: {
      readonly rows: PulledRow[];
      readonly hasMore: boolean;
      readonly cursorSeq: number;
      readonly storeId: string | null | undefined;
      readonly lastSeq: number;
      readonly snapshotFloor: number;
      readonly snapshotEnd?: number;
    },
  ): Promise<PullPage> {
    const { rows, hasMore, storeId, snapshotFloor } = page;
    const scope = storeId === undefined ? {} : { storeId };
    const end = page.snapshotEnd === undefined ? {} : { snapshotEnd: page.snapshotEnd };
    if (hasMore)
      return {
        resyncRequired: false,
        rows,
        hasMore,
        cursorSeq: page.cursorSeq,
        snapshotFloor,
        ...end,
        ...scope,
      };
    // Read in the same snapshot as the rows, so the checksums describe the state at the cursor.
    const checksums = await readChecksums(trx, this.#tenantId, storeId);
    return {
      resyncRequired: false,
      rows,
      hasMore,
      cursorSeq: page.lastSeq,
      snapshotFloor,
      ...end,
      checksums,
      ...scope,
    };
  }

  checksums(storeId?: string | null): Promise<Record<string, TableChecksum>> {
    return readChecksums(this.#engine.db, this.#tenantId, storeId);
  }

  readRows(keys: ReadonlyArray<{ table: string; id: string }>): Promise<Map<string, StoredRow>> {
    return this.#engine.read((trx) =>
      new SqlPushTransaction(trx, this.#tenantId, this.#context).getRows(keys),
    );
  }

  async conflicts(table: string, id: string): Promise<ConflictRecord[]> {
    const rows = await this.#engine.db
      .selectFrom('sync_conflicts')
      .selectAll()
      .where('tenant_id', '=', this.#tenantId)
      .where('tbl', '=', table)
      .where('row_id', '=', id)
      .orderBy('at')
      .execute();
    return rows.map(toConflict);
  }

  async listConflicts(filter: ConflictFilter): Promise<StoredConflict[]> {
    let query = this.#engine.db
      .selectFrom('sync_conflicts')
      .selectAll()
      .where('tenant_id', '=', this.#tenantId);
    if (filter.table !== undefined) query = query.where('tbl', '=', filter.table);
    if (filter.id !== undefined) query = query.where('row_id', '=', filter.id);
    const rows = await query.orderBy('at', 'desc').limit(filter.limit).execute();
    return rows.map((row) => ({ ...toConflict(row), at: row.at }));
  }
}

function toConflict(row: Selectable<Database['sync_conflicts']>): ConflictRecord {
  return {
    table: row.tbl,
    id: row.row_id,
    column: row.col,
    winner: JSON.parse(row.winner) as StoredChange,
    loser: JSON.parse(row.loser) as StoredChange,
    winnerDeviceId: row.winner_device_id,
    loserDeviceId: row.loser_device_id,
  };
}

/** The kind of what pushes read first, as they tell a shared transaction (`TenantWriteOptions.reads`). */
const PUSH_STARTS = Object.freeze({ reads: 'push starts' });
/** Where a shared transaction keeps what its pushes start from, read once for all of them. */
const PUSH_STARTS_READ = Object.freeze({ slot: 'push starts read' });

/** What {@link SqlPushTransaction.readPushStart} read for one push or several at once. */
interface StartsRead {
  /** The devices whose pushes asked. */
  readonly askedDevices: ReadonlySet<string>;
  readonly rows: Map<string, StoredRow>;
  readonly answers: Array<{ readonly pushId: string; readonly deviceId: string; readonly answer: string }>;
  /** The asking devices that are the tenant's, and their stores. */
  readonly devices: Map<string, string | null>;
  /** The holders of the unique keys asked for, by `uniqueKeyId` (keys no row holds are absent). */
  readonly uniqueHolders: Map<string, string>;
}

/** A push's transaction; sync jobs write their target rows through it too (`jobs/target-writer.ts`). */
export class SqlPushTransaction implements PushTransaction {
  readonly #trx: Kysely<Database>;
  readonly #tenantId: string;
  readonly #now: () => number;
  readonly #jobTablesOn: JobTablesOn;
  /** Made on first use: most pushes delete no row and trigger no job. */
  #jobTableWrites: JobTableWrites | null = null;
  /** The writes this push leaves to the end of its transaction, shared with the pushes beside it. */
  readonly #deferred: DeferredPushWrites | null;
  /** The tenant's write transaction this push shares with others, if it does. */
  readonly #batch: WriteBatch | undefined;

  /**
   * `batch`: the tenant's write transaction this push shares with others (`SqlEngine.tenantWrite`): its
   * rows, its answer and the jobs it triggers are written once for all of them at the end, and the job
   * settings read once, so a push costs its read and no more round trips under the tenant's lock. Its reads
   * see the rows the pushes before it wrote (`PendingRowWrites`).
   */
  constructor(trx: Kysely<Database>, tenantId: string, context: PushTransactionContext, batch?: WriteBatch) {
    this.#trx = trx;
    this.#tenantId = tenantId;
    this.#now = context.now;
    this.#jobTablesOn = context.jobTables;
    this.#batch = batch;
    this.#deferred =
      batch === undefined
        ? null
        : batch.slot(DeferredPushWrites, () => {
            const deferred = new DeferredPushWrites();
            batch.beforeCommit(() => deferred.write(trx, this.#jobTables, (rows) => this.#storeRows(rows)));
            return deferred;
          });
  }

  get tenantId(): string {
    return this.#tenantId;
  }

  get #jobTables(): JobTableWrites {
    this.#jobTableWrites ??= this.#jobTablesOn(this.#trx, this.#tenantId);
    return this.#jobTableWrites;
  }

  keepDeletedRows(rows: readonly DeletedRowState[]): Promise<void> {
    return this.#jobTables.keepDeletedRows(rows);
  }

  readJobTypeSettings(): Promise<Map<string, SettingsOverrides>> {
    if (this.#deferred === null) return this.#jobTables.readJobTypeSettings();
    this.#deferred.settings ??= this.#jobTables.readJobTypeSettings();
    return this.#deferred.settings;
  }

  async insertJobs(jobs: readonly NewJobRecord[]): Promise<void> {
    if (this.#deferred === null) return this.#jobTables.insertJobs(jobs);
    this.#deferred.jobs.push(...jobs);
  }

  async findPushAnswers(
    deviceId: string,
    pushId: string,
  ): Promise<Array<{ deviceId: string; answer: string }>> {
    const waiting = this.#deferred?.answersTo(pushId) ?? [];
    const rows = await this.#trx
      .selectFrom('push_answers')
      .select(['device_id', 'answer'])
      .where('push_id', '=', pushId)
      .where((where) =>
        where.or([
          where('device_id', '=', deviceId),
          where(
            'device_id',
            'in',
            where.selectFrom('devices').select('id').where('tenant_id', '=', this.#tenantId),
          ),
        ]),
      )
      .execute();
    return [...waiting, ...rows.map((row) => ({ deviceId: row.device_id, answer: row.answer }))];
  }

  async readPushStart(start: PushStartRead): Promise<PushStart> {
    // The pushes sharing this transaction said what they read first: the first of them to get here reads
    // it for all of them, in one statement. What the pushes between it and this one wrote is read through
    // their pending writes, as any later read is.
    const batch = this.#batch;
    const together = batch?.readsOf<PushStartRead>(PUSH_STARTS) ?? [];
    const reads =
      batch && together.length > 1 && together.includes(start)
        ? await batch.slot(PUSH_STARTS_READ, () => ({ read: this.#readStarts(together) })).read
        : await this.#readStarts([start]);
    return this.#startOf(start, reads);
  }

  /**
   * One statement, one round trip inside the tenant's lock, for what these pushes start from: the stored
   * rows (as `getRows` reads them), the pushes' earlier answers (as `findPushAnswers`), the devices' stores
   * (as `deviceStore`) and the holders of the unique keys they claim, told apart by `kind`. An answer's push
   * and device come in `id` and `device_id`; a device's id and store in `id` and `scope`; a holder's table,
   * row id, rule and key in `tbl`, `id`, `device_id` and `data`.
   */
  async #readStarts(starts: readonly PushStartRead[]): Promise<StartsRead> {
    // A row a push before them in this transaction wrote is read from its pending write, not the table.
    const keys = new Map<string, [string, string]>();
    for (const start of starts)
      for (const [id, key] of this.#pendingOrWanted(start.keys).wanted) keys.set(id, key);
    const uniqueKeys = new Map<string, [string, string, string]>();
    for (const start of starts)
      for (const key of start.uniqueKeys ?? [])
        uniqueKeys.set(uniqueKeyId(key), [key.table, key.column, key.value]);
    const pushIds = [...new Set(starts.map((start) => start.pushId))];
    const deviceIds = [...new Set(starts.map((start) => start.deviceId))];
    const unique =
      uniqueKeys.size === 0
        ? sql``
        : sql`union all
        select 'unique', u.tbl, u.row_id, u.value, null, null, u.col, null, null, null
        from ${jsonElements(this.#trx, JSON.stringify([...uniqueKeys.values()]))}
        ${dialectOf(this.#trx).crossJoinLookup({
          table: 'sync_unique_values',
          alias: 'u',
          where: sql`u.tenant_id = ${this.#tenantId} and u.tbl = e.value ->> 0 and u.col = e.value ->> 1
            and u.value = e.value ->> 2`,
        })}`;
    const { rows } = await sql<StoredRowRecord & { kind: 'row' | 'answer' | 'device' | 'unique' }>`
      select 'row' as kind, r.tbl, r.id, r.data, r.updated_at, r.seq, r.device_id, r.stamps, r.scope, r.held_by
      from ${jsonElements(this.#trx, JSON.stringify([...keys.values()]))}
      ${dialectOf(this.#trx).crossJoinLookup({
        table: 'sync_rows',
        alias: 'r',
        where: sql`r.tenant_id = ${this.#tenantId} and r.tbl = e.value ->> 0 and r.id = e.value ->> 1`,
      })}
      union all
      select 'answer', null, a.push_id, a.answer, null, null, a.device_id, null, null, null
      from push_answers a
      where a.push_id in (${sql.join(pushIds)}) and (a.device_id in (${sql.join(deviceIds)})
        or a.device_id in (select id from devices where tenant_id = ${this.#tenantId}))
      union all
      select 'device', null, d.id, null, null, null, null, null, d.store_id, null
      from devices d where d.tenant_id = ${this.#tenantId} and d.id in (${sql.join(deviceIds)})
      ${unique}`.execute(this.#trx);
    const read: StartsRead = {
      askedDevices: new Set(deviceIds),
      rows: new Map(),
      answers: [],
      devices: new Map(),
      uniqueHolders: new Map(),
    };
    for (const row of rows) {
      if (row.kind === 'row') read.rows.set(rowKey(row.tbl, row.id), toStoredRow(row));
      else if (row.kind === 'answer')
        read.answers.push({ pushId: row.id, deviceId: row.device_id ?? '', answer: row.data ?? '' });
      else if (row.kind === 'device') read.devices.set(row.id, row.scope);
      else
        read.uniqueHolders.set(
          uniqueKeyId({ table: row.tbl, column: row.device_id ?? '', value: row.data ?? '' }),
          row.id,
        );
    }
    return read;
  }

  /** What one push starts from, out of what was read for it (and the pushes beside it). */
  #startOf(start: PushStartRead, read: StartsRead): PushStart {
    const pending = this.#deferred?.rows;
    const { found, wanted } = this.#pendingOrWanted(start.keys);
    for (const [id] of wanted) {
      const stored = read.rows.get(id);
      if (stored) found.set(id, stored);
    }
    // A push's earlier answer given in this same transaction (its retry waited beside it) is not stored yet.
    const answers: Array<{ deviceId: string; answer: string }> = [
      ...(this.#deferred?.answersTo(start.pushId) ?? []),
    ];
    for (const answer of read.answers)
      // Another device's answer counts when that device is the tenant's (a till paired again).
      if (
        answer.pushId === start.pushId &&
        (answer.deviceId === start.deviceId ||
          read.devices.has(answer.deviceId) ||
          !read.askedDevices.has(answer.deviceId))
      )
        answers.push({ deviceId: answer.deviceId, answer: answer.answer });
    const uniqueHolders = new Map<string, string | null>();
    for (const key of start.uniqueKeys ?? []) {
      const id = uniqueKeyId(key);
      const stored = read.uniqueHolders.get(id) ?? null;
      uniqueHolders.set(id, pending ? pending.holder(key, stored) : stored);
    }
    const storeId = start.withStore ? (read.devices.get(start.deviceId) ?? null) : null;
    return { answers, rows: found, storeId, uniqueHolders };
  }

  async getRows(keys: ReadonlyArray<{ table: string; id: string }>): Promise<Map<string, StoredRow>> {
    const { found, wanted } = this.#pendingOrWanted(keys);
    if (wanted.size === 0) return found;
    // One statement for the whole push: each wanted key is looked up by the primary key.
    const wantedKeys = [...wanted.values()];
    const { rows } = await sql<StoredRowRecord>`
      select r.tbl, r.id, r.data, r.updated_at, r.seq, r.device_id, r.stamps, r.scope, r.held_by
      from ${jsonElements(this.#trx, JSON.stringify(wantedKeys))}
      ${dialectOf(this.#trx).crossJoinLookup({
        table: 'sync_rows',
        alias: 'r',
        where: sql`r.tenant_id = ${this.#tenantId} and r.tbl = e.value ->> 0 and r.id = e.value ->> 1`,
      })}`.execute(this.#trx);
    for (const row of rows) found.set(rowKey(row.tbl, row.id), toStoredRow(row));
    return found;
  }

  /**
   * The rows of `keys` a push before this one in its batch wrote (their pending states, in `found`), and the
   * others, to be read from the database (`wanted`, each as its table and id), both by {@link rowKey}.
   */
  #pendingOrWanted(keys: ReadonlyArray<{ readonly table: string; readonly id: string }>): {
    found: Map<string, StoredRow>;
    wanted: Map<string, [string, string]>;
  } {
    const pending = this.#deferred?.rows;
    const found = new Map<string, StoredRow>();
    const wanted = new Map<string, [string, string]>();
    for (const key of keys) {
      const id = rowKey(key.table, key.id);
      const written = pending?.state(id);
      if (written) found.set(id, written);
      else wanted.set(id, [key.table, key.id]);
    }
    return { found, wanted };
  }

  async findReferencingRows(
    table: string,
    column: string,
    targets: readonly string[],
  ): Promise<Array<{ id: string; target: string; scope: string }>> {
    const found: Array<{ id: string; target: string; scope: string }> = [];
    const field = dialectOf(this.#trx).jsonField(column, true);
    for (const chunk of chunks([...new Set(targets)])) {
      // No index holds references: the tenant's rows of the one table are read by the key's prefix and their
      // JSON looked at. Only a push that deletes a referenced table's rows pays for it, once per table.
      const { rows } = await sql<{ id: string; target: string; scope: string }>`
        select id, ${field} as target, scope from sync_rows
        where tenant_id = ${this.#tenantId} and tbl = ${table} and deleted = 0
          and ${field} in (${sql.join(chunk)})`.execute(this.#trx);
      found.push(...rows);
    }
    return this.#deferred?.rows.referencing(table, column, targets, found) ?? found;
  }

  async findUniqueHolders(
    table: string,
    column: string,
    values: readonly string[],
  ): Promise<Map<string, string>> {
    const holders = new Map<string, string>();
    for (const chunk of chunks([...new Set(values)])) {
      const rows = await this.#trx
        .selectFrom('sync_unique_values')
        .select(['value', 'row_id'])
        .where('tenant_id', '=', this.#tenantId)
        .where('tbl', '=', table)
        .where('col', '=', column)
        .where('value', 'in', chunk)
        .execute();
      for (const row of rows) holders.set(row.value, row.row_id);
    }
    const pending = this.#deferred?.rows;
    if (!pending) return holders;
    const held = new Map<string, string>();
    for (const value of values) {
      const holder = pending.holder({ table, column, value }, holders.get(value) ?? null);
      if (holder !== null) held.set(value, holder);
    }
    return held;
  }

  async writeRows(rows: readonly RowWrite[]): Promise<void> {
    if (this.#deferred) this.#deferred.rows.add(rows);
    else await this.#storeRows(rows);
  }

  /** Stores rows' new states, in order (see {@link writeRows}). */
  async #storeRows(rows: readonly RowWrite[]): Promise<void> {
    if (rows.length === 0) return;
    const storedAt = this.#now();
    // Rows the server did not hold are inserted; the others replace theirs. The tenant is locked (or the
    // database has one writer) since they were read, so neither kind can have changed meanwhile, and a plain
    // insert costs the database less than an insert that must look for a conflict first.
    const fresh: SyncRowValues[] = [];
    const replacing: SyncRowValues[] = [];
    rows.forEach((row, index) => {
      const values: SyncRowValues = [
        row.table,
        row.id,
        row.values === null ? null : JSON.stringify(row.values),
        row.updatedAt,
        row.values === null ? 1 : 0,
        index + 1,
        row.deviceId,
        row.values === null || row.stamps === null ? null : JSON.stringify(row.stamps),
        row.scope,
        row.heldBy ?? null,
      ];
      (row.previous === undefined ? fresh : replacing).push(values);
    });
    await dialectOf(this.#trx).writeSyncRows(this.#trx, {
      tenantId: this.#tenantId,
      fresh,
      replacing,
      storedAt,
      checksums: checksumChanges(rows),
      uniqueValues: await this.#replaceUniqueValues(rows),
    });
    const moved = rows.filter((row) => row.previous !== undefined && row.previous.scope !== row.scope);
    if (moved.length > 0) await this.#writeEvictions(moved, storedAt);
  }

  /**
   * Rows that moved to another scope (a sync job changed their store): the store each left keeps an
   * eviction at the move's sequence number, so its devices drop the row once; a row back in a store it left
   * before has that store's old eviction taken away, its state now being in the store's rows again. Moves
   * are rare, so their sequence numbers are read back rather than threaded through the engines' writes.
   */
  async #writeEvictions(moved: readonly RowWrite[], storedAt: number): Promise<void> {
    const written = await this.getRows(moved);
    for (const row of moved) {
      await this.#trx
        .deleteFrom('sync_evictions')
        .where('tenant_id', '=', this.#tenantId)
        .where('scope', '=', row.scope)
        .where('tbl', '=', row.table)
        .where('id', '=', row.id)
        .execute();
      const left = row.previous?.scope ?? '';
      const seq = written.get(rowKey(row.table, row.id))?.seq;
      if (left === '' || seq === undefined) continue;
      await this.#trx
        .insertInto('sync_evictions')
        .values({
          tenant_id: this.#tenantId,
          scope: left,
          tbl: row.table,
          id: row.id,
          updated_at: row.updatedAt,
          seq,
          stored_at: storedAt,
        })
        .onConflict((conflict) =>
          conflict
            .columns(['tenant_id', 'scope', 'tbl', 'id'])
            .doUpdateSet({ updated_at: row.updatedAt, seq, stored_at: storedAt }),
        )
        .execute();
    }
  }

  /**
   * Deletes the entries under unique rules of the rows whose keys change, and answers the entries to add
   * (written with the rows, `SyncRowsWrite.uniqueValues`).
   */
  async #replaceUniqueValues(
    allRows: readonly RowWrite[],
  ): Promise<Array<readonly [string, string, string, string]>> {
    // A row whose keys stay as they were keeps its entries: a counter's delta or a new total of a day's row
    // writes none.
    const rows = allRows.filter((row) => row.keepsUniqueValues !== true);
    // Every old entry goes before any new one is added, so two rows may swap values within one push.
    const replaced = rows.filter((row) => row.previous !== undefined && row.previous.values !== null);
    const idsByTable = new Map<string, string[]>();
    for (const row of replaced) idsByTable.set(row.table, [...(idsByTable.get(row.table) ?? []), row.id]);
    for (const [table, ids] of idsByTable) {
      for (const chunk of chunks(ids)) {
        await this.#trx
          .deleteFrom('sync_unique_values')
          .where('tenant_id', '=', this.#tenantId)
          .where('tbl', '=', table)
          .where('row_id', 'in', chunk)
          .execute();
      }
    }
    return rows.flatMap((row) =>
      row.values === null
        ? []
        : row.uniqueValues.map((unique) => [row.table, unique.column, unique.value, row.id] as const),
    );
  }

  async deviceStore(deviceId: string): Promise<string | null> {
    const device = await this.#trx
      .selectFrom('devices')
      .select('store_id')
      .where('tenant_id', '=', this.#tenantId)
      .where('id', '=', deviceId)
      .executeTakeFirst();
    return device?.store_id ?? null;
  }

  async addConflicts(conflicts: readonly ConflictRecord[]): Promise<void> {
    const at = new Date(this.#now()).toISOString();
    for (const chunk of chunks([...conflicts])) {
      await this.#trx
        .insertInto('sync_conflicts')
        .values(
          chunk.map((conflict) => ({
            id: randomUUID(),
            tenant_id: this.#tenantId,
            tbl: conflict.table,
            row_id: conflict.id,
            col: conflict.column,
            winner: JSON.stringify(conflict.winner),
            loser: JSON.stringify(conflict.loser),
            winner_device_id: conflict.winnerDeviceId,
            loser_device_id: conflict.loserDeviceId,
            at,
          })),
        )
        .execute();
    }
  }

  async savePushAnswer(deviceId: string, pushId: string, answer: string): Promise<void> {
    const row = { device_id: deviceId, push_id: pushId, answer, created_at: this.#now() };
    if (this.#deferred) this.#deferred.answers.push(row);
    else await this.#trx.insertInto('push_answers').values(row).execute();
  }
}

/**
 * What the pushes of one transaction leave to its end (see {@link SqlPushTransaction}): their rows, their
 * answers, the jobs they trigger (all written before the commit, so they commit together or not at all), and
 * the job settings, read by the first push that needs them.
 */
class DeferredPushWrites {
  readonly rows = new PendingRowWrites();
  readonly answers: Array<{ device_id: string; push_id: string; answer: string; created_at: number }> = [];
  readonly jobs: NewJobRecord[] = [];
  settings: Promise<Map<string, SettingsOverrides>> | null = null;

  /** The answers given to `pushId` in this transaction, as {@link SqlPushTransaction.findPushAnswers} answers. */
  answersTo(pushId: string): Array<{ deviceId: string; answer: string }> {
    return this.answers
      .filter((row) => row.push_id === pushId)
      .map((row) => ({ deviceId: row.device_id, answer: row.answer }));
  }

  async write(
    trx: Kysely<Database>,
    jobTables: JobTableWrites,
    storeRows: (rows: readonly RowWrite[]) => Promise<void>,
  ): Promise<void> {
    if (!this.rows.empty) await storeRows(this.rows.take());
    if (this.jobs.length > 0) await jobTables.insertJobs(this.jobs);
    for (const chunk of chunks(this.answers)) await trx.insertInto('push_answers').values(chunk).execute();
  }
}

/**
 * The table checksums of what a device of `storeId` holds: the tenant's rows and its store's (null: the
 * tenant's only; undefined: every row of the tenant). A table's rows may lie in several scopes (the stores'
 * sums of a per-store table, for the owner's view): their counts and sums add up.
 */
async function readChecksums(
  db: Kysely<Database>,
  tenantId: string,
  storeId: string | null | undefined,
): Promise<Record<string, TableChecksum>> {
  let query = db.selectFrom('sync_checksums').selectAll().where('tenant_id', '=', tenantId);
  if (storeId !== undefined) query = query.where('scope', 'in', storeId === null ? [''] : ['', storeId]);
  return addChecksums(await query.execute());
}

/** The checksums of the tables whose scopes' sums these are: the counts and sums of a table's scopes add up. */
function addChecksums(
  scopes: ReadonlyArray<{
    readonly tbl: string;
    readonly row_count: number | string | null;
    readonly sum: string;
  }>,
): Record<string, TableChecksum> {
  const sums = new Map<string, { count: number; sum: bigint }>();
  for (const row of scopes) {
    const before = sums.get(row.tbl) ?? { count: 0, sum: 0n };
    sums.set(row.tbl, {
      count: before.count + Number(row.row_count),
      sum: addToChecksum(before.sum, parseChecksum(row.sum)),
    });
  }
  return Object.fromEntries(
    [...sums].map(([table, { count, sum }]) => [table, { count, sum: formatChecksum(sum) }]),
  );
}

/** What a pull page is read against (see `SqlTenantSyncStore.#pullState`). */
interface PullState {
  readonly lastSeq: number;
  readonly goodFrom: number;
  readonly storeId: string | null | undefined;
}

/** The scopes a reader of `storeId` receives (see `TenantSyncStore.pull`); undefined: every scope. */
function scopesOf(storeId: string | null | undefined): readonly string[] | undefined {
  if (storeId === undefined) return undefined;
  return storeId === null ? [''] : ['', storeId];
}

/** The tables that hold live rows in `scopes` (every scope when undefined), from their kept checksums. */
async function tablesHeld(
  db: Kysely<Database>,
  tenantId: string,
  scopes: readonly string[] | undefined,
): Promise<string[]> {
  let query = db
    .selectFrom('sync_checksums')
    .select('tbl')
    .distinct()
    .where('tenant_id', '=', tenantId)
    .where('row_count', '>', 0);
  if (scopes !== undefined) query = query.where('scope', 'in', scopes);
  return (await query.execute()).map((row) => row.tbl);
}

/** Whether live rows are kept in scopes other than `scopes` (never, for a reader of every scope). */
async function otherScopesHoldRows(
  db: Kysely<Database>,
  tenantId: string,
  scopes: readonly string[] | undefined,
): Promise<boolean> {
  if (scopes === undefined) return false;
  const found = await db
    .selectFrom('sync_checksums')
    .select('tbl')
    .where('tenant_id', '=', tenantId)
    .where('scope', 'not in', scopes)
    .where('row_count', '>', 0)
    .limit(1)
    .executeTakeFirst();
  return found !== undefined;
}

/**
 * The tables a snapshot's rows come from, in its order: those `order` names in that order, then any other
 * by name; only `from` and the tables after it, when a page before ended in `from`. The order depends on
 * nothing but the names, so a table emptied or filled between two pages cannot move the others.
 */
function tablesFrom(held: readonly string[], order: readonly string[], from: string | undefined): string[] {
  const rank = (table: string): [number, string] => {
    const index = order.indexOf(table);
    return [index === -1 ? order.length : index, table];
  };
  const compare = (a: string, b: string): number => {
    const [rankA, nameA] = rank(a);
    const [rankB, nameB] = rank(b);
    return rankA !== rankB ? rankA - rankB : nameA < nameB ? -1 : nameA > nameB ? 1 : 0;
  };
  const sorted = [...held].sort(compare);
  return from === undefined ? sorted : sorted.filter((table) => compare(table, from) >= 0);
}

/**
 * A snapshot's live rows of one table stored up to its mark, after `afterId`, by key: a range of the primary
 * key `(tenant_id, tbl, id)`, read in its order, so the page costs the same whatever order the rows were
 * written in. A row stored after the mark is left to the changes after it.
 */
function keyOrderQuery(query: {
  readonly tenantId: string;
  readonly table: string;
  readonly afterId: string | null;
  readonly mark: number;
  readonly scopes: readonly string[] | undefined;
  readonly limit: number;
}): RawBuilder<PulledRow> {
  const after = query.afterId === null ? sql`` : sql`and id > ${query.afterId}`;
  const scoped = query.scopes === undefined ? sql`` : sql`and scope in (${sql.join(query.scopes)})`;
  return sql<PulledRow>`select tbl as "table", id, data as "valuesJson", updated_at as "updatedAt", seq,
      0 as evicted
    from sync_rows
    where tenant_id = ${query.tenantId} and tbl = ${query.table} ${after}
      and seq <= ${query.mark} and deleted = 0 ${scoped}
    order by id limit ${query.limit}`;
}

/** What {@link readPage} reads. */
interface PageRead {
  readonly tenantId: string;
  readonly storeId: string | null | undefined;
  readonly sinceSeq: number;
  readonly limit: number;
  /** The device whose held rows are left out ({@link RowWrite.heldBy}); undefined: none are. */
  readonly heldBy: string | undefined;
}

/**
 * How many rows a page may read, as a multiple of its limit, while it leaves out the rows the device holds:
 * a bulk import on one device costs its next pull a few pages that read on past its own rows, rather than a
 * page per `limit` of them, and no page reads much longer than a page of rows handed out takes to send.
 */
const HELD_READ_PAGES = 20;

/**
 * One page of a pull: at most `limit` rows in sequence order, whether more follow, and the sequence number
 * the next page starts after (the last one read). Rows `heldBy` holds are read but not handed out, and the
 * page reads on past them, at `limit + 1` rows a statement, until it is full, the changes end, or it has
 * read {@link HELD_READ_PAGES} times its limit. Without `heldBy` it is one statement, as every page was.
 */
async function readPage(
  engine: SqlEngine,
  trx: Kysely<Database>,
  read: PageRead,
): Promise<{ rows: PulledRow[]; hasMore: boolean; lastSeq: number }> {
  const { limit } = read;
  const rows: PulledRow[] = [];
  let lastSeq = read.sinceSeq;
  for (let readRows = 0; ;) {
    const query = pullQuery(read.tenantId, read.storeId, lastSeq, limit + 1, read.heldBy).compile(trx);
    // A page is thousands of rows: where the engine can answer them as arrays, they cost much less to read.
    const found = await queryRows(engine, trx, query, toPulledRows);
    const index = fillPage(found, rows, limit);
    lastSeq = Number(found[index - 1]?.seq ?? lastSeq);
    readRows += index;
    // The page is full with rows still to come, or every change was read.
    if (index < found.length) return { rows, hasMore: true, lastSeq };
    if (found.length <= limit) return { rows, hasMore: false, lastSeq };
    if (readRows >= limit * HELD_READ_PAGES) return { rows, hasMore: true, lastSeq };
  }
}

/**
 * Adds the rows of `found` (in sequence order) to `rows` until it holds `limit`, leaving out the rows the
 * device holds; answers how many of `found` it read.
 */
function fillPage(found: readonly ReadRow[], rows: PulledRow[], limit: number): number {
  let index = 0;
  for (; index < found.length && rows.length < limit; index++) {
    const row = found[index]!;
    if (Number(row.held ?? 0) === 0) rows.push(row);
  }
  return index;
}

/**
 * The changes after `sinceSeq` that a device of `storeId` receives, at most `limit`, in sequence order: the
 * tenant's rows, its store's rows and its store's evictions, each read by its own index on `(tenant_id,
 * scope, seq)` from the cursor on, so a page costs what it hands out whatever the other stores hold. Every
 * change of its scope after the cursor is in one of the three, so merging them by sequence skips none.
 * Without a store (null) the tenant's rows only; undefined: every row of the tenant (the owner's view).
 */
function pullQuery(
  tenantId: string,
  storeId: string | null | undefined,
  sinceSeq: number,
  limit: number,
  heldBy: string | undefined,
): RawBuilder<ReadRow> {
  // A row the device holds is marked `held`, without its values: they are not sent.
  const columns =
    heldBy === undefined
      ? sql`tbl as "table", id, data as "valuesJson", updated_at as "updatedAt", seq, 0 as evicted`
      : sql`tbl as "table", id, case when held_by = ${heldBy} then null else data end as "valuesJson",
          updated_at as "updatedAt", seq, 0 as evicted, case when held_by = ${heldBy} then 1 else 0 end as held`;
  if (storeId === undefined)
    return sql<ReadRow>`select ${columns} from sync_rows
      where tenant_id = ${tenantId} and seq > ${sinceSeq} order by seq limit ${limit}`;
  const rowsOf = (scope: string): RawBuilder<unknown> => sql`select * from (
      select ${columns} from sync_rows
      where tenant_id = ${tenantId} and scope = ${scope} and seq > ${sinceSeq} order by seq limit ${limit}
    ) as ${sql.raw(scope === '' ? 'tenant_rows' : 'store_rows')}`;
  if (storeId === null) return sql<ReadRow>`${rowsOf('')} order by seq limit ${limit}`;
  return sql<ReadRow>`${rowsOf('')} union all ${rowsOf(storeId)} union all select * from (
      select tbl as "table", id, null as "valuesJson", updated_at as "updatedAt", seq, 1 as evicted
        ${heldBy === undefined ? sql`` : sql`, 0 as held`}
      from sync_evictions
      where tenant_id = ${tenantId} and scope = ${storeId} and seq > ${sinceSeq} order by seq limit ${limit}
    ) as evictions
    order by seq limit ${limit}`;
}

/**
 * A row of {@link devicePullQuery}: `kind` says which of its columns it fills. `state`: the tenant's
 * `last_seq` and `purged_seq`, the device's `store_id` and `scope_seq` (null when it is not the tenant's);
 * `sum`: one scope's checksum of a table (`table`, `row_count`, `sum`); `row`: a change of the page, as
 * {@link ReadRow}.
 */
interface DevicePullRow {
  readonly kind: 'state' | 'sum' | 'row';
  readonly table: string | null;
  readonly id: string | null;
  readonly valuesJson: string | null;
  readonly updatedAt: string | null;
  readonly seq: number | string | null;
  readonly evicted: number | null;
  readonly held: number | null;
  readonly last_seq: number | string | null;
  readonly purged_seq: number | string | null;
  readonly store_id: string | null;
  readonly scope_seq: number | string | null;
  readonly row_count: number | string | null;
  readonly sum: string | null;
}

/**
 * A device's pull page in one statement (see `SqlTenantSyncStore.#devicePull`): the state its page is read
 * against, the checksums of what the device receives, and the changes after `sinceSeq` of the tenant's rows,
 * its store's rows and its store's evictions, each by its index on `(tenant_id, scope, seq)` as
 * {@link pullQuery} reads them. The device's store is read in the statement, so a move of the device is
 * either before all of it or after.
 */
function devicePullQuery(
  tenantId: string,
  deviceId: string,
  sinceSeq: number,
  limit: number,
): RawBuilder<DevicePullRow> {
  const store = sql`(select store_id from devices where id = ${deviceId} and tenant_id = ${tenantId})`;
  const rowsOf = (scope: RawBuilder<unknown>, name: string): RawBuilder<unknown> => sql`select * from (
      select tbl as "table", id, case when held_by = ${deviceId} then null else data end as "valuesJson",
        updated_at as "updatedAt", seq, 0 as evicted, case when held_by = ${deviceId} then 1 else 0 end as held
      from sync_rows
      where tenant_id = ${tenantId} and scope = ${scope} and seq > ${sinceSeq} order by seq limit ${limit}
    ) as ${sql.raw(name)}`;
  const nothing = (count: number): RawBuilder<unknown> => sql.raw(Array(count).fill('null').join(', '));
  // Typed in the first branch: PostgreSQL types a chain of unions pair by pair, and two untyped nulls
  // would make a column text.
  return sql<DevicePullRow>`select 'state' as kind, cast(null as text) as "table", cast(null as text) as id,
      cast(null as text) as "valuesJson", cast(null as text) as "updatedAt", cast(null as bigint) as seq,
      cast(null as integer) as evicted, cast(null as integer) as held, t.last_seq, t.purged_seq, d.store_id,
      d.scope_seq, cast(null as bigint) as row_count, cast(null as text) as sum
    from tenants t left join devices d on d.tenant_id = t.id and d.id = ${deviceId}
    where t.id = ${tenantId}
    union all
    select 'sum', tbl, ${nothing(10)}, row_count, sum
    from sync_checksums where tenant_id = ${tenantId} and scope in ('', ${store})
    union all
    select 'row', page.*, ${nothing(6)} from (
      ${rowsOf(sql`''`, 'tenant_rows')} union all ${rowsOf(store, 'store_rows')} union all select * from (
        select tbl as "table", id, null as "valuesJson", updated_at as "updatedAt", seq, 1 as evicted, 0 as held
        from sync_evictions
        where tenant_id = ${tenantId} and scope = ${store} and seq > ${sinceSeq} order by seq limit ${limit}
      ) as evictions
      order by seq limit ${limit}
    ) as page`;
}

/** {@link devicePullQuery}'s rows as the engine answers them in arrays, in the order it selects its columns. */
function toDevicePullRows(arrays: unknown[][]): DevicePullRow[] {
  return arrays.map((values) => ({
    kind: values[0] as DevicePullRow['kind'],
    table: values[1] as string | null,
    id: values[2] as string | null,
    valuesJson: values[3] as string | null,
    updatedAt: values[4] as string | null,
    seq: values[5] as number | null,
    evicted: values[6] as number | null,
    held: values[7] as number | null,
    last_seq: values[8] as number | null,
    purged_seq: values[9] as number | null,
    store_id: values[10] as string | null,
    scope_seq: values[11] as number | null,
    row_count: values[12] as number | null,
    sum: values[13] as string | null,
  }));
}

/**
 * A pull page's rows as the engine answers them in arrays, in the order the pull selects its columns. Each
 * array is let go as soon as its row is made, so a collection in the middle of a page of thousands copies
 * no more than when the engine made the objects itself.
 */
function toPulledRows(arrays: unknown[][]): ReadRow[] {
  const rows: ReadRow[] = [];
  for (let index = 0; index < arrays.length; index++) {
    const values = arrays[index] ?? [];
    arrays[index] = NO_VALUES;
    rows.push({
      table: values[0] as string,
      id: values[1] as string,
      valuesJson: values[2] as string | null,
      updatedAt: values[3] as string,
      seq: values[4] as number,
      evicted: Number(values[5]),
      held: values[6] as number | undefined,
    });
  }
  return rows;
}

const NO_VALUES: unknown[] = [];

/** A row as a page reads it: with `held` 1 when it is the reading device's own ({@link readPage}). */
interface ReadRow extends PulledRow {
  readonly held?: number | undefined;
}

/** The columns of `sync_rows` a push reads. */
type StoredRowRecord = Pick<
  Selectable<Database['sync_rows']>,
  'tbl' | 'id' | 'data' | 'updated_at' | 'seq' | 'device_id' | 'stamps' | 'scope' | 'held_by'
>;

function toStoredRow(row: StoredRowRecord): StoredRow {
  return {
    table: row.tbl,
    id: row.id,
    values: row.data === null ? null : (JSON.parse(row.data) as RowValues),
    updatedAt: row.updated_at,
    seq: Number(row.seq),
    deviceId: row.device_id,
    stamps: row.data === null || row.stamps === null ? null : (JSON.parse(row.stamps) as ColumnStamps),
    scope: row.scope,
    heldBy: row.held_by,
  };
}

function chunks<T>(items: readonly T[]): T[][] {
  return inChunks(items, CHUNK);
}

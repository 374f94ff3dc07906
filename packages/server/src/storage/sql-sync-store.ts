import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import {
  addToChecksum,
  checksumTerm,
  formatChecksum,
  parseChecksum,
  type RowValues,
  type StoredChange,
  type TableChecksum,
} from '@tillsync/protocol';
import type { Database } from './database.js';
import type { SqlEngine } from './sql-engine.js';
import {
  rowKey,
  type ConflictRecord,
  type PullPage,
  type PushTransaction,
  type RowWrite,
  type StoredRow,
  type SyncStore,
  type TenantSyncStore,
} from './sync-store.js';

/** Statements stay well under SQLite's and PostgreSQL's limits on bound values. */
const CHUNK = 1000;

/** The synced rows on any {@link SqlEngine}. */
export class SqlSyncStore implements SyncStore {
  readonly #engine: SqlEngine;

  constructor(engine: SqlEngine) {
    this.#engine = engine;
  }

  forTenant(tenantId: string): TenantSyncStore {
    return new SqlTenantSyncStore(this.#engine, tenantId);
  }

  async purgeTombstones(storedBefore: number): Promise<number> {
    return this.#engine.write(async (trx) => {
      const purged = await trx
        .selectFrom('sync_rows')
        .select(['tenant_id', (eb) => eb.fn.max('seq').as('max_seq'), (eb) => eb.fn.countAll().as('count')])
        .where('deleted', '=', 1)
        .where('stored_at', '<', storedBefore)
        .groupBy('tenant_id')
        .execute();
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

  constructor(engine: SqlEngine, tenantId: string) {
    this.#engine = engine;
    this.#tenantId = tenantId;
  }

  push<T>(work: (tx: PushTransaction) => Promise<T>): Promise<T> {
    return this.#engine.write(async (trx) => {
      await this.#engine.lockTenant(trx, this.#tenantId);
      return work(new SqlPushTransaction(trx, this.#tenantId));
    });
  }

  pull(sinceSeq: number, limit: number): Promise<PullPage> {
    return this.#engine.read(async (trx) => {
      const tenant = await trx
        .selectFrom('tenants')
        .select(['last_seq', 'purged_seq'])
        .where('id', '=', this.#tenantId)
        .executeTakeFirstOrThrow();
      // A fresh snapshot (since 0) needs no tombstones, so it never has to resync.
      if (sinceSeq > 0 && sinceSeq < Number(tenant.purged_seq)) return { resyncRequired: true };
      const found = await trx
        .selectFrom('sync_rows')
        .select(['tbl as table', 'id', 'data as valuesJson', 'updated_at as updatedAt', 'seq'])
        .where('tenant_id', '=', this.#tenantId)
        .where('seq', '>', sinceSeq)
        .orderBy('seq')
        .limit(limit + 1)
        .execute();
      const hasMore = found.length > limit;
      const rows = hasMore ? found.slice(0, limit) : found;
      if (hasMore)
        return {
          resyncRequired: false,
          rows,
          hasMore,
          cursorSeq: Number(rows[rows.length - 1]?.seq ?? sinceSeq),
        };
      // Read in the same snapshot as the rows, so the checksums describe the state at the cursor.
      const checksums = await readChecksums(trx, this.#tenantId);
      return { resyncRequired: false, rows, hasMore, cursorSeq: Number(tenant.last_seq), checksums };
    });
  }

  checksums(): Promise<Record<string, TableChecksum>> {
    return readChecksums(this.#engine.db, this.#tenantId);
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
    return rows.map((row) => ({
      table: row.tbl,
      id: row.row_id,
      winner: JSON.parse(row.winner) as StoredChange,
      loser: JSON.parse(row.loser) as StoredChange,
      winnerDeviceId: row.winner_device_id,
      loserDeviceId: row.loser_device_id,
    }));
  }
}

class SqlPushTransaction implements PushTransaction {
  readonly #trx: Kysely<Database>;
  readonly #tenantId: string;

  constructor(trx: Kysely<Database>, tenantId: string) {
    this.#trx = trx;
    this.#tenantId = tenantId;
  }

  async findPushAnswer(deviceId: string, pushId: string): Promise<string | null> {
    const row = await this.#trx
      .selectFrom('push_answers')
      .select('answer')
      .where('device_id', '=', deviceId)
      .where('push_id', '=', pushId)
      .executeTakeFirst();
    return row?.answer ?? null;
  }

  async getRows(keys: ReadonlyArray<{ table: string; id: string }>): Promise<Map<string, StoredRow>> {
    const idsByTable = new Map<string, Set<string>>();
    for (const key of keys) {
      const ids = idsByTable.get(key.table) ?? new Set<string>();
      ids.add(key.id);
      idsByTable.set(key.table, ids);
    }
    const found = new Map<string, StoredRow>();
    for (const [table, ids] of idsByTable) {
      for (const chunk of chunks([...ids])) {
        const rows = await this.#trx
          .selectFrom('sync_rows')
          .selectAll()
          .where('tenant_id', '=', this.#tenantId)
          .where('tbl', '=', table)
          .where('id', 'in', chunk)
          .execute();
        for (const row of rows) found.set(rowKey(row.tbl, row.id), toStoredRow(row));
      }
    }
    return found;
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
    return holders;
  }

  async writeRows(rows: readonly RowWrite[]): Promise<void> {
    if (rows.length === 0) return;
    const tenant = await this.#trx
      .updateTable('tenants')
      .set((eb) => ({ last_seq: eb('last_seq', '+', rows.length) }))
      .where('id', '=', this.#tenantId)
      .returning('last_seq')
      .executeTakeFirstOrThrow();
    const firstSeq = Number(tenant.last_seq) - rows.length + 1;
    const storedAt = Date.now();

    for (const chunk of chunks(rows.map((row, index) => ({ row, seq: firstSeq + index })))) {
      await this.#trx
        .insertInto('sync_rows')
        .values(
          chunk.map(({ row, seq }) => ({
            tenant_id: this.#tenantId,
            tbl: row.table,
            id: row.id,
            data: row.values === null ? null : JSON.stringify(row.values),
            updated_at: row.updatedAt,
            deleted: row.values === null ? 1 : 0,
            seq,
            device_id: row.deviceId,
            stored_at: storedAt,
          })),
        )
        .onConflict((conflict) =>
          conflict.columns(['tenant_id', 'tbl', 'id']).doUpdateSet((eb) => ({
            data: eb.ref('excluded.data'),
            updated_at: eb.ref('excluded.updated_at'),
            deleted: eb.ref('excluded.deleted'),
            seq: eb.ref('excluded.seq'),
            device_id: eb.ref('excluded.device_id'),
            stored_at: eb.ref('excluded.stored_at'),
          })),
        )
        .execute();
    }
    await this.#writeUniqueValues(rows);
    await this.#updateChecksums(rows);
  }

  async #writeUniqueValues(rows: readonly RowWrite[]): Promise<void> {
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
    const entries = rows.flatMap((row) =>
      row.values === null
        ? []
        : row.uniqueValues.map((unique) => ({
            tenant_id: this.#tenantId,
            tbl: row.table,
            col: unique.column,
            value: unique.value,
            row_id: row.id,
          })),
    );
    for (const chunk of chunks(entries)) {
      await this.#trx.insertInto('sync_unique_values').values(chunk).execute();
    }
  }

  async #updateChecksums(rows: readonly RowWrite[]): Promise<void> {
    const changes = new Map<string, { count: number; sum: bigint }>();
    for (const row of rows) {
      const change = changes.get(row.table) ?? { count: 0, sum: 0n };
      const previous = row.previous;
      if (previous && previous.values !== null) {
        change.count -= 1;
        change.sum = addToChecksum(change.sum, -checksumTerm(previous.id, previous.updatedAt));
      }
      if (row.values !== null) {
        change.count += 1;
        change.sum = addToChecksum(change.sum, checksumTerm(row.id, row.updatedAt));
      }
      changes.set(row.table, change);
    }
    const current = await this.#trx
      .selectFrom('sync_checksums')
      .selectAll()
      .where('tenant_id', '=', this.#tenantId)
      .where('tbl', 'in', [...changes.keys()])
      .execute();
    const currentByTable = new Map(current.map((row) => [row.tbl, row]));
    for (const [table, change] of changes) {
      const before = currentByTable.get(table);
      const count = Number(before?.row_count ?? 0) + change.count;
      const sum = formatChecksum(addToChecksum(before ? parseChecksum(before.sum) : 0n, change.sum));
      await this.#trx
        .insertInto('sync_checksums')
        .values({ tenant_id: this.#tenantId, tbl: table, row_count: count, sum })
        .onConflict((conflict) =>
          conflict.columns(['tenant_id', 'tbl']).doUpdateSet({ row_count: count, sum }),
        )
        .execute();
    }
  }

  async addConflicts(conflicts: readonly ConflictRecord[]): Promise<void> {
    const at = new Date().toISOString();
    for (const chunk of chunks([...conflicts])) {
      await this.#trx
        .insertInto('sync_conflicts')
        .values(
          chunk.map((conflict) => ({
            id: randomUUID(),
            tenant_id: this.#tenantId,
            tbl: conflict.table,
            row_id: conflict.id,
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
    await this.#trx
      .insertInto('push_answers')
      .values({ device_id: deviceId, push_id: pushId, answer, created_at: Date.now() })
      .execute();
  }
}

async function readChecksums(db: Kysely<Database>, tenantId: string): Promise<Record<string, TableChecksum>> {
  const rows = await db.selectFrom('sync_checksums').selectAll().where('tenant_id', '=', tenantId).execute();
  return Object.fromEntries(rows.map((row) => [row.tbl, { count: Number(row.row_count), sum: row.sum }]));
}

function toStoredRow(row: Selectable<Database['sync_rows']>): StoredRow {
  return {
    table: row.tbl,
    id: row.id,
    values: row.data === null ? null : (JSON.parse(row.data) as RowValues),
    updatedAt: row.updated_at,
    seq: Number(row.seq),
    deviceId: row.device_id,
  };
}

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
}

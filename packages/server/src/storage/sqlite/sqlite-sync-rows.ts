import { CompiledQuery, type Kysely } from 'kysely';
import { addToChecksum, formatChecksum, parseChecksum } from '@tillsync/protocol';
import type { Database } from '../database.js';
import { valuesGroups, valuesPlaceholders } from '../sql-values.js';
import {
  INSERT_ROW,
  REPLACE_ROW,
  type ChecksumChange,
  type SyncRowValues,
  type SyncRowsWrite,
} from '../sync-rows-sql.js';

/**
 * A push's rows on SQLite: the sequence taken first, then the rows as multi-row VALUES statements of a few
 * fixed sizes (kept prepared), then each table's checksum read, added to and written back (one writer per
 * file, so nothing changes between the read and the write).
 */
export async function writeSqliteSyncRows(trx: Kysely<Database>, write: SyncRowsWrite): Promise<void> {
  const count = write.fresh.length + write.replacing.length;
  const tenant = await trx
    .updateTable('tenants')
    .set((eb) => ({ last_seq: eb('last_seq', '+', count) }))
    .where('id', '=', write.tenantId)
    .returning('last_seq')
    .executeTakeFirstOrThrow();
  const seqBase = Number(tenant.last_seq) - count;
  await insertRows(trx, write, write.fresh, seqBase, '');
  await insertRows(trx, write, write.replacing, seqBase, REPLACE_ROW);
  await updateChecksums(trx, write.tenantId, write.checksums);
  for (const group of valuesGroups(write.uniqueValues)) {
    const parameters: unknown[] = [];
    for (const [table, rule, key, rowId] of group) parameters.push(write.tenantId, table, rule, key, rowId);
    await trx.executeQuery(
      CompiledQuery.raw(
        `insert into sync_unique_values (tenant_id, tbl, col, value, row_id) values ${valuesPlaceholders(group.length, 5)}`,
        parameters,
      ),
    );
  }
}

/** Inserts rows as multi-row VALUES statements, followed by `onConflict`. */
async function insertRows(
  trx: Kysely<Database>,
  write: SyncRowsWrite,
  rows: readonly SyncRowValues[],
  seqBase: number,
  onConflict: string,
): Promise<void> {
  for (const group of valuesGroups(rows)) {
    const parameters: unknown[] = [];
    for (const [table, id, data, updatedAt, deleted, position, deviceId, stamps, scope, heldBy] of group)
      parameters.push(
        table,
        id,
        data,
        updatedAt,
        deleted,
        seqBase + position,
        deviceId,
        stamps,
        scope,
        write.tenantId,
        write.storedAt,
        heldBy,
      );
    await trx.executeQuery(
      CompiledQuery.raw(
        `${INSERT_ROW} values ${valuesPlaceholders(group.length, 12)} ${onConflict}`,
        parameters,
      ),
    );
  }
}

async function updateChecksums(
  trx: Kysely<Database>,
  tenantId: string,
  changes: readonly ChecksumChange[],
): Promise<void> {
  const current = await trx
    .selectFrom('sync_checksums')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('scope', 'in', [...new Set(changes.map((change) => change.scope))])
    .where('tbl', 'in', [...new Set(changes.map((change) => change.table))])
    .execute();
  const currentByKey = new Map(current.map((row) => [`${row.scope}\u0000${row.tbl}`, row]));
  for (const change of changes) {
    const before = currentByKey.get(`${change.scope}\u0000${change.table}`);
    const count = Number(before?.row_count ?? 0) + change.count;
    const sum = formatChecksum(addToChecksum(before ? parseChecksum(before.sum) : 0n, change.sum));
    await trx
      .insertInto('sync_checksums')
      .values({ tenant_id: tenantId, scope: change.scope, tbl: change.table, row_count: count, sum })
      .onConflict((conflict) =>
        conflict.columns(['tenant_id', 'scope', 'tbl']).doUpdateSet({ row_count: count, sum }),
      )
      .execute();
  }
}

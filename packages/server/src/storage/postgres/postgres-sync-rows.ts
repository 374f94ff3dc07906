import { sql, type Kysely, type RawBuilder } from 'kysely';
import { addToChecksum, formatChecksum } from '@tillsync/protocol';
import type { Database } from '../database.js';
import { jsonElements } from '../sql-engine.js';
import { INSERT_ROW, REPLACE_ROW, type SyncRowValues, type SyncRowsWrite } from '../sync-rows-sql.js';

/**
 * A stored checksum plus the change in `excluded.sum` (both 16 hex digits), modulo 2^64, as 16 hex digits:
 * each is read as a signed 64-bit integer, added as numeric, brought back into the signed range, and
 * written out by `to_hex`, which shows a negative bigint as its two's complement.
 */
const CHECKSUM_SUM = `lpad(to_hex((((
  ('x' || sync_checksums.sum)::bit(64)::bigint::numeric + ('x' || excluded.sum)::bit(64)::bigint::numeric
  + 9223372036854775808) % 18446744073709551616 + 18446744073709551616) % 18446744073709551616
  - 9223372036854775808)::bigint), 16, '0')`;

/**
 * A push's rows on PostgreSQL: the sequence numbers, the rows, the checksums and the new unique entries in
 * one statement, one round trip. The rows come as JSON arrays (PostgreSQL parses them faster than one text array per column), each
 * with its position in the push, added to the tenant's sequence as it stood; each table's checksum gets its
 * change added in SQL.
 */
export async function writePostgresSyncRows(trx: Kysely<Database>, write: SyncRowsWrite): Promise<void> {
  const { tenantId, storedAt } = write;
  const count = write.fresh.length + write.replacing.length;
  const selectRows = (rows: readonly SyncRowValues[]): RawBuilder<unknown> => sql`
    select e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, cast(e.value ->> 4 as integer),
      seq.base + cast(e.value ->> 5 as bigint), e.value ->> 6, e.value ->> 7, e.value ->> 8, ${tenantId},
      cast(${storedAt} as bigint), e.value ->> 9
    from seq, ${jsonElements(trx, JSON.stringify(rows))}`;
  const checksumRows = write.checksums.map((change) => [
    change.scope,
    change.table,
    change.count,
    formatChecksum(addToChecksum(0n, change.sum)),
  ]);
  const { rows } = await sql<{ base: number }>`
    with seq as (
      update tenants set last_seq = last_seq + ${count} where id = ${tenantId}
      returning last_seq - ${count} as base
    ), fresh as (
      ${sql.raw(INSERT_ROW)} ${selectRows(write.fresh)}
    ), replaced as (
      ${sql.raw(INSERT_ROW)} ${selectRows(write.replacing)} ${sql.raw(REPLACE_ROW)}
    ), checksums as (
      insert into sync_checksums (tenant_id, scope, tbl, row_count, sum)
      select ${tenantId}, e.value ->> 0, e.value ->> 1, cast(e.value ->> 2 as bigint), e.value ->> 3
      from ${jsonElements(trx, JSON.stringify(checksumRows))}
      on conflict (tenant_id, scope, tbl) do update set row_count = sync_checksums.row_count + excluded.row_count,
        sum = ${sql.raw(CHECKSUM_SUM)}
    )${
      write.uniqueValues.length === 0
        ? sql``
        : sql`, unique_values as (
      insert into sync_unique_values (tenant_id, tbl, col, value, row_id)
      select ${tenantId}, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3
      from ${jsonElements(trx, JSON.stringify(write.uniqueValues))}
    )`
    }
    select base from seq`.execute(trx);
  if (rows.length === 0) throw new Error(`there is no tenant ${tenantId} to write rows for`);
}

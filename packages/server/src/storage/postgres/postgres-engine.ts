import { Kysely, sql, type PostgresDialectConfig } from 'kysely';
import pg from 'pg';
import type { Database } from '../database.js';
import type { SqlEngine } from '../sql-engine.js';
import { TenantWriteBatches } from '../tenant-write-batches.js';
import { PostgresKyselyDialect, postgresDialect } from './postgres-dialect.js';

const INT8_OID = 20;

/** The advisory lock one process holds while it refreshes the tables' statistics (any fixed number). */
const STATISTICS_LOCK = 0x7153_7a75;

/**
 * The engine for several server processes: a `pg` pool on one PostgreSQL database. A tenant's writes are
 * serialised by locking its `tenants` row, so sequence numbers are handed out in commit order while other
 * tenants' pushes go on in parallel. Reads run in REPEATABLE READ, so a pull page and the checksums beside
 * it come from one snapshot.
 */
export function openPostgresEngine(databaseUrl: string, options: { poolSize?: number } = {}): SqlEngine {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    // Sequence numbers, counts and times in ms are int8; they stay far below 2^53, so numbers are exact.
    types: { getTypeParser: int8AsNumber },
  });
  // A connection the database ends while it sits idle in the pool (a restart, an administrator) is dropped by
  // the pool, and the next query opens a new one; without a listener, its 'error' event would end the process.
  pool.on('error', () => undefined);
  return postgresEngineOn(pool);
}

/** The PostgreSQL engine on any pool Kysely's dialect takes: a `pg` pool, or PGlite's one connection. */
export function postgresEngineOn(pool: PostgresDialectConfig['pool']): SqlEngine {
  const db = new Kysely<Database>({ dialect: new PostgresKyselyDialect({ pool }) });
  const write: SqlEngine['write'] = (work) => db.transaction().execute(work);
  const lockTenant: SqlEngine['lockTenant'] = async (trx, tenantId) => {
    // `for no key update`: writes of the tenant's rows wait for each other, but the rows that reference the
    // tenant (a device pairing, a pairing code, an owner's session, a store) need only a key-share lock on
    // it, and do not queue behind a busy chain's pushes as they would behind `for update`.
    await sql`select id from tenants where id = ${tenantId} for no key update`.execute(trx);
  };
  const tenantWrites = new TenantWriteBatches({ write, lockTenant });
  return {
    kind: 'postgres',
    db,
    dialect: postgresDialect,
    write,
    read: (work) => db.transaction().setIsolationLevel('repeatable read').execute(work),
    lockTenant,
    tenantWrite: (tenantId, work, options) => tenantWrites.run(tenantId, work, options),
    refreshStatistics: () => refreshStatistics(db),
    close: () => db.destroy(),
  };
}

/** `pg`'s type parsers, except that int8 becomes a number instead of a string. */
const int8AsNumber: typeof pg.types.getTypeParser = (oid: number, format?: 'text' | 'binary') =>
  oid === INT8_OID ? parseNumber : (pg.types.getTypeParser(oid, format) as unknown);

function parseNumber(value: string): number {
  return Number(value);
}

/**
 * `SqlEngine.refreshStatistics`: the rule is autovacuum's own with its default settings (more rows changed
 * since the last `ANALYZE` than 50 and a tenth of the table), so where autovacuum keeps up this finds
 * nothing to do, and where it is off or has not come round yet the tables are analysed all the same.
 */
async function refreshStatistics(db: Kysely<Database>): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    const lock = await sql<{
      locked: boolean;
    }>`select pg_try_advisory_xact_lock(${STATISTICS_LOCK}) as locked`.execute(trx);
    if (lock.rows[0]?.locked !== true) return [];
    const stale = await sql<{ relname: string }>`select relname from pg_stat_user_tables
      where schemaname = current_schema() and n_mod_since_analyze > 50 + 0.1 * n_live_tup
      order by relname`.execute(trx);
    for (const { relname } of stale.rows) await sql`analyze ${sql.id(relname)}`.execute(trx);
    return stale.rows.map((row) => row.relname);
  });
}

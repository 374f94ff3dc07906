import { Kysely, sql, type PostgresDialectConfig } from 'kysely';
import pg from 'pg';
import type { Database } from '../database.js';
import type { SqlEngine } from '../sql-engine.js';
import { TenantWriteBatches } from '../tenant-write-batches.js';
import { PostgresKyselyDialect, postgresDialect } from './postgres-dialect.js';

const INT8_OID = 20;

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
    close: () => db.destroy(),
  };
}

/** `pg`'s type parsers, except that int8 becomes a number instead of a string. */
const int8AsNumber: typeof pg.types.getTypeParser = (oid: number, format?: 'text' | 'binary') =>
  oid === INT8_OID ? parseNumber : (pg.types.getTypeParser(oid, format) as unknown);

function parseNumber(value: string): number {
  return Number(value);
}

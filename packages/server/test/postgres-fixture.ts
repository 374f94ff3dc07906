import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The machine's PostgreSQL (127.0.0.1:5432, trust auth) unless `TILLSYNC_TEST_PG_URL` names another admin
 * database. Each test gets a database of its own, dropped when it ends.
 */
const ADMIN_URL = process.env.TILLSYNC_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Whether a PostgreSQL server answers; the PostgreSQL suites say so and skip when none does. */
export async function postgresAnswers(): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A new empty database; `drop()` removes it (closing whatever connections are left). */
export async function freshPostgresDatabase(): Promise<{
  url: string;
  drop(): Promise<void>;
  /** Ends every connection to the database from the server's side, as a restart or an administrator would. */
  endConnections(): Promise<void>;
}> {
  const name = `tillsync_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => adminQuery(`drop database if exists ${name} with (force)`),
    endConnections: () =>
      adminQuery(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${name}'`),
  };
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

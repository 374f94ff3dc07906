import { createRequire } from 'node:module';
import os from 'node:os';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { Redis } from 'ioredis';
import { PG_ADMIN_URL, REDIS_URL } from './measure.js';

const require = createRequire(import.meta.url);

/** The version in an installed package's package.json. */
function packageVersion(name: string): string {
  return (require(`${name}/package.json`) as { version: string }).version;
}

async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await client.connect();
    const { rows } = await client.query<{ server_version: string }>('show server_version');
    return rows[0]?.server_version ?? 'unknown';
  } catch (error) {
    return `not reached (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function redisVersion(): Promise<string> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const info = await redis.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } catch (error) {
    return `not reached (${(error as Error).message})`;
  } finally {
    redis.disconnect();
  }
}

/** The processor the benchmarks run on, as each section of BENCHMARKS.md names it. */
export function processorLine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores`;
}

/** The machine and the versions of what the benchmarks ran on, as lines of BENCHMARKS.md. */
export async function machineLines(): Promise<string[]> {
  const memory = new BetterSqlite3(':memory:');
  const sqlite = (memory.prepare('select sqlite_version() as version').get() as { version: string }).version;
  memory.close();
  return [
    `Machine of the latest run (each section names the processor it was measured on): ${processorLine()}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB of memory, ${os.type()} ${os.release()}.`,
    `Versions: Node ${process.version}, better-sqlite3 ${packageVersion('better-sqlite3')} (SQLite ${sqlite}), PostgreSQL ${await postgresVersion()}, Redis ${await redisVersion()}, PouchDB ${packageVersion('pouchdb')} with express-pouchdb ${packageVersion('express-pouchdb')}.`,
  ];
}

import fs from 'node:fs';
import type { Storage, StorageLocation } from '@tillsync/server';
import { parsePgliteUrl } from '@tillsync/server/pglite-url';
import type { Command } from 'commander';
import { optionFor, readSetting, text, type Setting } from './settings.js';
import { UsageError } from './usage-error.js';

/** The server's database, named the same way by every command that opens it. */
export const DATABASE_SETTINGS = {
  db: {
    flag: '--db <file>',
    env: 'TILLSYNC_DB',
    description: 'the SQLite file of the embedded database (default ./data/cloud.db)',
    parse: text,
  },
  databaseUrl: {
    flag: '--database-url <url>',
    env: 'TILLSYNC_DATABASE_URL',
    description:
      'a postgres:// URL instead of the embedded database; or pglite:DIR (or pglite:memory) for PostgreSQL inside this one process',
    parse: (value: string, name: string): string => {
      if (/^postgres(ql)?:\/\//.test(value)) return value;
      try {
        if (parsePgliteUrl(value) !== null) return value;
      } catch (error) {
        throw new UsageError(`${name}: ${(error as Error).message}`);
      }
      throw new UsageError(`${name} must be a postgres:// or pglite: URL, not "${value}"`);
    },
  },
} satisfies Record<string, Setting<string>>;

/** Adds `--db` and `--database-url` to a command. */
export function addDatabaseOptions(command: Command): Command {
  return command
    .addOption(optionFor(DATABASE_SETTINGS.db))
    .addOption(optionFor(DATABASE_SETTINGS.databaseUrl));
}

/**
 * The database a command's flags (or `TILLSYNC_DB` / `TILLSYNC_DATABASE_URL`) name. `mustExist` refuses a
 * SQLite file that is not there, for commands that only make sense on a server's existing database.
 */
export function databaseFrom(
  flags: Record<string, unknown>,
  options: { mustExist: boolean; fallback?: string },
): StorageLocation {
  const dbPath = readSetting(DATABASE_SETTINGS.db, flags);
  const databaseUrl = readSetting(DATABASE_SETTINGS.databaseUrl, flags);
  if (dbPath !== undefined && databaseUrl !== undefined)
    throw new UsageError('give --db or --database-url, not both');
  if (databaseUrl !== undefined) return { databaseUrl };
  const file = dbPath ?? options.fallback;
  if (file === undefined)
    throw new UsageError('name the server database with --db FILE or --database-url URL');
  if (options.mustExist && !fs.existsSync(file)) throw new UsageError(`--db ${file}: there is no such file`);
  return { dbPath: file };
}

/** Opens the server database, runs `work`, closes it; errors the caller made become usage errors. */
export async function withServerDatabase(
  location: StorageLocation,
  work: (storage: Storage) => Promise<void>,
): Promise<void> {
  const { openStorage } = await import('@tillsync/server');
  const { ProtocolError } = await import('@tillsync/protocol');
  let storage: Storage;
  try {
    storage = await openStorage(location);
  } catch (error) {
    throw new UsageError(
      `cannot open the server database: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  try {
    await work(storage);
  } catch (error) {
    if (error instanceof ProtocolError && error.status < 500) throw new UsageError(error.message);
    throw error;
  } finally {
    await storage.close();
  }
}

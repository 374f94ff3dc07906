import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openPgliteEngine, storageOn, type Storage } from '@tillsync/server';
import { sql } from 'kysely';

/**
 * One PGlite database for a whole test file, emptied between tests. Starting PGlite on an empty folder runs
 * `initdb`, which takes many seconds, and opening a folder one or two, so a fresh database per test (as on
 * a PostgreSQL server) would make a suite take minutes.
 */
export class SharedPgliteDatabase {
  readonly #dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-pglite-'));
  readonly #engine = openPgliteEngine({ dataDir: this.#dir });

  /** Storage on the database with every table emptied (the migrations stay); closing it leaves it open. */
  async emptied(): Promise<Storage> {
    const storage = await storageOn({ ...this.#engine, close: () => Promise.resolve() });
    const tables = await sql<{ tablename: string }>`
      select tablename from pg_tables where schemaname = 'public' and tablename not like 'kysely_%'`.execute(
      this.#engine.db,
    );
    const names = tables.rows.map((table) => `"${table.tablename}"`).join(', ');
    await sql.raw(`truncate table ${names} restart identity cascade`).execute(this.#engine.db);
    return storage;
  }

  async close(): Promise<void> {
    await this.#engine.close();
    fs.rmSync(this.#dir, { recursive: true, force: true });
  }
}

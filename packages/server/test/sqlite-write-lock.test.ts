import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommit } from '../src/jobs/group-commit.js';
import type { SqlEngine } from '../src/storage/sql-engine.js';
import { openSqliteEngine } from '../src/storage/sqlite/sqlite-engine.js';
import { tempDir } from './helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('the SQLite write lock shared with other processes', () => {
  let dir: string;
  let engine: SqlEngine;
  /** Another writer of the same file, as another process would be. */
  let other: BetterSqlite3.Database;

  beforeEach(async () => {
    dir = tempDir();
    const file = path.join(dir, 'cloud.db');
    engine = openSqliteEngine(file);
    await sql`create table notes (id integer primary key, text text not null)`.execute(engine.db);
    other = new BetterSqlite3(file);
    other.pragma('busy_timeout = 10000');
  });

  afterEach(async () => {
    other.close();
    await engine.close();
  });

  it("hears of another writer's commit at once, not when its wait runs out", async () => {
    const heard = engine.writeLockMayBeFree?.(60_000).then(() => 'heard' as const);
    other.prepare("insert into notes (text) values ('from elsewhere')").run();
    expect(await Promise.race([heard, sleep(5_000).then(() => 'not heard' as const)])).toBe('heard');
  });

  it('keeps the writes asked for while another writer holds the lock, and commits them once it lets go', async () => {
    other.exec('begin immediate');
    other.prepare("insert into notes (text) values ('held')").run();
    const groupCommit = new GroupCommit(engine);
    const written = Promise.all(
      ['a', 'b', 'c'].map((text) =>
        groupCommit.run((trx) => sql`insert into notes (text) values (${text})`.execute(trx)),
      ),
    );
    await sleep(200);
    // Nothing of ours is in the file while the other writer holds the lock.
    expect(other.prepare('select count(*) from notes').pluck().get()).toBe(1);
    other.exec('commit');
    await written;
    const texts = other.prepare('select text from notes order by id').pluck().all();
    expect(texts).toEqual(['held', 'a', 'b', 'c']);
  });

  it('ends a wait when the database is closed', async () => {
    const wait = engine.writeLockMayBeFree?.(60_000).then(() => 'ended' as const);
    await engine.close();
    expect(await Promise.race([wait, sleep(5_000).then(() => 'still waiting' as const)])).toBe('ended');
    engine = openSqliteEngine(path.join(dir, 'cloud.db'));
  });
});

import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommit } from '../src/jobs/group-commit.js';
import { openPostgresEngine } from '../src/storage/postgres/postgres-engine.js';
import type { SqlEngine } from '../src/storage/sql-engine.js';
import { freshPostgresDatabase, postgresAnswers } from './postgres-fixture.js';

const hasPostgres = await postgresAnswers();

describe.skipIf(!hasPostgres)('the job store’s writes on PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let engine: SqlEngine;

  beforeEach(async () => {
    database = await freshPostgresDatabase();
    engine = openPostgresEngine(database.url);
    await sql`create table notes (id integer primary key, text text not null)`.execute(engine.db);
    await sql`insert into notes (id, text) values (1, 'one'), (2, 'two')`.execute(engine.db);
  });

  afterEach(async () => {
    await engine.close();
    await database.drop();
  });

  it('runs again a transaction the database ended to break a deadlock, so both writes are kept', async () => {
    const groupCommit = new GroupCommit(engine);
    // Each locks one row, waits until the other has locked its own, then asks for the other's: a deadlock,
    // which PostgreSQL breaks by ending one of the two.
    let locked = 0;
    const bothLocked = async (): Promise<void> => {
      locked++;
      while (locked < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    const runs = { a: 0, b: 0 };
    const crosswise = (name: 'a' | 'b', first: number, second: number) =>
      groupCommit.run(async (trx) => {
        runs[name]++;
        await sql`update notes set text = text || ${name} where id = ${first}`.execute(trx);
        if (runs[name] === 1) await bothLocked();
        await sql`update notes set text = text || ${name} where id = ${second}`.execute(trx);
      });
    await Promise.all([crosswise('a', 1, 2), crosswise('b', 2, 1)]);
    // One of the two ran twice: the first time it was ended, and nothing of that run was kept.
    expect(runs.a + runs.b).toBe(3);
    const rows = await sql<{ text: string }>`select text from notes order by id`.execute(engine.db);
    expect(rows.rows.map((row) => [...row.text.slice(3)].sort().join(''))).toEqual(['ab', 'ab']);
  });

  it('gives other errors to the caller at once, without running the work again', async () => {
    const groupCommit = new GroupCommit(engine);
    let runs = 0;
    const failing = groupCommit.run(async (trx) => {
      runs++;
      await sql`insert into notes (id, text) values (1, 'again')`.execute(trx);
    });
    await expect(failing).rejects.toThrow(/duplicate key/);
    expect(runs).toBe(1);
  });
});

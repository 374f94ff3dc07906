// The insert of new jobs (enqueues, and the jobs a write of rows triggers), all of a caller's or none.
import { CompiledQuery, sql, type Kysely } from 'kysely';
import type { NewJobRecord } from '@tillsync/jobs';
import { dialectOf } from '../../storage/sql-dialect.js';
import type { Outcome } from '../group-commit.js';
import { toJobRow, type JobsDatabase } from '../job-tables.js';
import { rowsTable } from './job-rows.js';

/**
 * Inserts jobs, all or none: on PostgreSQL in one statement whatever their number, on SQLite in a few of
 * fixed sizes (see `SqlDialect.valuesGroups`) inside a savepoint.
 */
export async function insertJobs(
  db: Kysely<JobsDatabase>,
  tenantId: string,
  records: readonly NewJobRecord[],
): Promise<void> {
  if (records.length === 0) return;
  if (records.some((record) => record.tenantId !== tenantId)) throw new Error('a job of another tenant');
  const rows: Array<Record<string, unknown>> = records.map(toJobRow);
  const columns = Object.keys(rows[0] ?? {});
  const groups = dialectOf(db).valuesGroups(rows);
  const insert = async (): Promise<void> => {
    for (const group of groups) {
      const table = rowsTable(
        db,
        group.map((row) => columns.map((column) => row[column] ?? null)),
      );
      const names = columns.map((column) => `"${column}"`).join(', ');
      const items = columns.map((column, position) => table.item(column, position)).join(', ');
      await db.executeQuery(
        CompiledQuery.raw(
          `insert into sync_jobs (${names}) select ${items} from ${table.from} where true`,
          table.parameters,
        ),
      );
    }
  };
  if (groups.length === 1) return insert();
  await sql`savepoint insert_jobs`.execute(db);
  try {
    await insert();
  } catch (error) {
    await sql`rollback to insert_jobs`.execute(db);
    throw error;
  } finally {
    await sql`release insert_jobs`.execute(db);
  }
}

/** Jobs one caller enqueues. */
export interface JobsToInsert {
  readonly tenantId: string;
  readonly records: readonly NewJobRecord[];
}

/**
 * Inserts what several callers enqueue, an outcome each: all in one statement, or, should that fail, each
 * caller's in a statement of its own, so one caller's bad job fails only its own enqueue.
 */
export async function insertJobsAsked(
  db: Kysely<JobsDatabase>,
  asked: readonly JobsToInsert[],
): Promise<Outcome[]> {
  const together = asked.length > 1 && new Set(asked.map((insert) => insert.tenantId)).size === 1;
  if (together) {
    try {
      await insertJobs(
        db,
        asked[0]?.tenantId ?? '',
        asked.flatMap((insert) => insert.records),
      );
      return asked.map(() => ({ ok: true, value: undefined }));
    } catch {
      // A statement that fails changes nothing: each caller's jobs are tried on their own below.
    }
  }
  const outcomes: Outcome[] = [];
  for (const { tenantId, records } of asked) {
    try {
      await insertJobs(db, tenantId, records);
      outcomes.push({ ok: true, value: undefined });
    } catch (error) {
      outcomes.push({ ok: false, error });
    }
  }
  return outcomes;
}

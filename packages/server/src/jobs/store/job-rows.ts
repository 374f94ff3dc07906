// The pieces every transition of the job store shares: how jobs are read, chunked, ordered and matched.
import {
  sql,
  type Compilable,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type SqlBool,
} from 'kysely';
import type { ClaimedJob } from '@tillsync/jobs';
import { dialectOf, type RowsTable } from '../../storage/sql-dialect.js';
import { queryRows, type SqlEngine } from '../../storage/sql-engine.js';
import { chunks as inChunks } from '../../storage/sql-values.js';
import { JOB_COLUMN_TYPES, toJobRecord, type JobRow, type JobsDatabase } from '../job-tables.js';

/** Statements stay well under the engines' limits on bound values. */
const CHUNK = 500;

/** Every column of sync_jobs, in the order {@link JOB_COLUMN_TYPES} names them. */
export const JOB_COLUMNS = Object.keys(JOB_COLUMN_TYPES) as ReadonlyArray<keyof JobRow>;
/** {@link JOB_COLUMNS} as a `returning` list. */
export const JOB_RETURNING = sql.join(JOB_COLUMNS.map((column) => sql.ref(column)));

/**
 * Runs a select of {@link JOB_COLUMNS} inside a transaction. SQLite answers its rows as arrays, which cost
 * far less to make than objects of 47 values: a claim reads its candidates while it holds the write lock.
 */
export function readJobRows(
  trx: Kysely<JobsDatabase>,
  engine: SqlEngine,
  query: Compilable<JobRow>,
): Promise<JobRow[]> {
  return queryRows(engine, trx, query.compile(), (arrays) => arrays.map(toJobRowFromValues));
}

/** A row of sync_jobs read as an array of values in the order of {@link JOB_COLUMNS}. */
export function toJobRowFromValues(values: unknown[]): JobRow {
  const row: Record<string, unknown> = {};
  JOB_COLUMNS.forEach((column, index) => {
    row[column] = values[index];
  });
  // The values are those of the columns named, as the database keeps them.
  return row as JobRow;
}

/** A leased row as the claim a worker gets: `started` when it holds its lock (or needs none). */
export function claimedJob(row: JobRow, workerId: string, started: boolean): ClaimedJob {
  const record = toJobRecord(row);
  return {
    record,
    claim: { jobId: record.id, tenantId: record.tenantId, workerId, attempt: record.attempt },
    started,
  };
}

/** Locks are taken in one order by every claimer, so two of them never wait on each other in a cycle. */
export function byLockKey(a: JobRow, b: JobRow): number {
  return byCodeUnits(a.lock_key ?? '\uffff', b.lock_key ?? '\uffff');
}

/** Strings in the order of their UTF-16 code units: one order for every writer, without the cost of a locale. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * `status = <status>`, the status written into the SQL: the indexes that find the jobs to run each hold the
 * jobs of one status (migration 0007), and a planner only reads such an index for a condition it can see
 * is the index's own.
 */
export function hasStatus(
  eb: ExpressionBuilder<JobsDatabase, 'sync_jobs'>,
  status: 'Queued' | 'Started' | 'Failed',
): Expression<SqlBool> {
  return eb('status', '=', sql.lit(status));
}

/** A `Queued` job whose time has come and that no live lease holds (a deferred job's lease is its wait). */
export function queuedAndReady(
  eb: ExpressionBuilder<JobsDatabase, 'sync_jobs'>,
  now: number,
): Expression<SqlBool> {
  return eb.and([
    hasStatus(eb, 'Queued'),
    eb('ready_at', '<=', now),
    eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]),
  ]);
}

/**
 * Rows of values as a table, for the statements that take many jobs at once (see {@link SqlDialect.rowsTable});
 * on SQLite give it rows in groups (see {@link SqlDialect.valuesGroups}), or, for a statement that may see a
 * row twice (an update joined to the table), `padded`.
 */
export function rowsTable(
  db: Kysely<JobsDatabase>,
  rows: ReadonlyArray<readonly unknown[]>,
  { padded = false } = {},
): RowsTable {
  return dialectOf(db).rowsTable(rows, { padded, columnType: jobColumnType });
}

/** The SQL type of a column of sync_jobs, or of any other value a statement takes (text). */
function jobColumnType(column: string): string {
  return isJobColumn(column) ? JOB_COLUMN_TYPES[column] : 'text';
}

function isJobColumn(column: string): column is keyof typeof JOB_COLUMN_TYPES {
  return Object.hasOwn(JOB_COLUMN_TYPES, column);
}

/** Items in chunks of {@link CHUNK}, or of `size`, one statement each. */
export function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  return inChunks(items, size);
}

import type Database from 'better-sqlite3';

/**
 * The capture log (`_sync_captured`) folded into the outbox (`_sync_pending`).
 *
 * A captured write appends one entry to the log: the next rowid, so always the table's last leaf page, which
 * the commit writes anyway. Upserting the outbox's entry of the row instead, as the triggers did before,
 * inserted into a B-tree ordered by random ids: another page read and written per sale, and a page split
 * every few writes, which made a sale's stock UPDATE cost 1.7 times the bare write.
 *
 * The sync folds the log into the outbox at the start of each of its write transactions
 * (`LocalStore.write`), and before it reads the outbox outside one, so everything that reads `_sync_pending`
 * sees every write made before. Entries fold in the order they were written, with the same rules the
 * triggers applied when they wrote the outbox themselves: the row's entry takes the write's op, a stamp
 * later than both the write's and its own, one more revision, and the columns set OR-ed; the counters' base
 * is the first write's. A delete of a row the server has never had, and that is not on the wire, forgets the
 * entry; otherwise the delete is pending like any change. The server-row test reads `_sync_rows` at fold
 * time rather than at the write's, which is the same: only the sync changes `_sync_rows`, and it folds first.
 */

/** The log's table, made by bookkeeping migration 7. */
export const CAPTURE_LOG_SQL = `
  -- Captured writes not yet folded into _sync_pending (capture/fold.ts): appended by the capture triggers,
  -- emptied by the sync. One entry per write, in order.
  CREATE TABLE IF NOT EXISTS _sync_captured (
    seq INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    id TEXT NOT NULL,
    op TEXT NOT NULL,
    hlc INTEGER NOT NULL,
    base TEXT,
    cols INTEGER NOT NULL,
    gone TEXT
  );`;

type Prepare = (sql: string) => Database.Statement;

/** The upserts of the log between two entries, each on the row's outbox entry in turn. */
const FOLD_UPSERTS = `INSERT INTO _sync_pending (tbl, id, op, hlc, revision, base, cols)
  SELECT tbl, id, 'upsert', hlc, 1, base, cols FROM _sync_captured WHERE seq > ? AND seq < ? AND op = 'upsert' ORDER BY seq
  ON CONFLICT (tbl, id) DO UPDATE SET op = excluded.op, hlc = max(excluded.hlc, hlc + 1), revision = revision + 1, cols = cols | excluded.cols`;

const ON_SERVER = 'EXISTS (SELECT 1 FROM _sync_rows AS r WHERE r.tbl = c.tbl AND r.id = c.id)';

/** A delete of a row never on the server and not on the wire: its entry is forgotten. */
const FORGET_UNSENT = `DELETE FROM _sync_pending
  WHERE in_push = 0 AND (tbl, id) IN (SELECT tbl, id FROM _sync_captured AS c WHERE c.seq = ? AND NOT ${ON_SERVER})`;

/** Otherwise a delete is pending: the row is on the server, or its insert is on the wire. */
const FOLD_DELETE = `INSERT INTO _sync_pending (tbl, id, op, hlc, revision, base, cols, gone)
  SELECT tbl, id, 'delete', hlc, 1, base, 0, gone FROM _sync_captured AS c
  WHERE c.seq = ? AND (${ON_SERVER} OR EXISTS (SELECT 1 FROM _sync_pending AS p WHERE p.tbl = c.tbl AND p.id = c.id))
  ON CONFLICT (tbl, id) DO UPDATE SET op = excluded.op, hlc = max(excluded.hlc, hlc + 1), revision = revision + 1, gone = excluded.gone`;

/** Whether the log holds any entry: the test each write transaction of the sync makes first. */
export const ANY_CAPTURED_SQL = 'SELECT 1 FROM _sync_captured LIMIT 1';

/**
 * Folds every entry of the log into the outbox and empties the log. Call it inside a write transaction.
 * Runs of upserts fold in one statement each; deletes, which are few, one at a time between them.
 */
export function foldCaptured(prepare: Prepare): void {
  const last = prepare('SELECT max(seq) FROM _sync_captured').pluck().get() as number | null;
  if (last === null) return;
  const deletes = prepare("SELECT seq FROM _sync_captured WHERE op = 'delete' ORDER BY seq")
    .pluck()
    .all() as number[];
  let from = 0;
  for (const seq of deletes) {
    prepare(FOLD_UPSERTS).run(from, seq);
    prepare(FORGET_UNSENT).run(seq);
    prepare(FOLD_DELETE).run(seq);
    from = seq;
  }
  prepare(FOLD_UPSERTS).run(from, last + 1);
  prepare('DELETE FROM _sync_captured WHERE seq <= ?').run(last);
}

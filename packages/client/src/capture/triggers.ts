import type { SchemaTable } from '@tillsync/protocol';
import type Database from 'better-sqlite3';
import { columnBit, fullMask } from './column-mask.js';

/**
 * Change capture: SQLite triggers on each synced table record every insert, update and delete, whoever makes
 * them (this library, another program, the `sqlite3` shell), in the capture log (`_sync_captured`), which
 * the sync folds into the outbox (`_sync_pending`, see `fold.ts`). They skip the sync's own writes
 * (`_sync_apply_flag`), stamp each write with the hybrid logical clock kept in `_sync_clock`, and note per
 * counter column the base value the next push computes its delta from. Each notes which synced columns it
 * set (`cols`, a mask: see `column-mask.ts`), OR-ed over the writes of a pending row when folded: an INSERT
 * sets every column, an UPDATE the columns whose value changed, so the push sends only those for a row the
 * server has, and never a column the schema added after the write.
 *
 * They are the hot path of every sale, so each does the least it can: one append to the log, its stamp an
 * integer computed in place; no stamp is formatted here.
 */

/**
 * The stamp of a local write, in the clock's integer form `ms * 65536 + counter`, read from `_sync_clock`:
 * the wall clock (counter 0), or one step past the clock's floor when that is ahead. A counter past 0xffff
 * carries into the next millisecond by itself.
 *
 * The triggers read the clock and never write it: writing it on every captured write cost a third of a
 * bare write (one more page per commit). The floor holds every stamp the device has received or pushed
 * (the sync raises it), and a pending row's own stamp only grows (see the fold), so every row's
 * writes are stamped in order, and later than anything the device has seen or sent. Writes to different
 * rows in one millisecond may share a stamp, which last-write-wins never compares.
 *
 * The triggers run in whichever program writes the file, with its own SQLite: `julianday('now')` works in
 * every version (`unixepoch(…, 'subsec')` needs 3.42, newer than many a system's), and rounds to the exact
 * millisecond (SQLite keeps 'now' in whole milliseconds; the double's error is far below one).
 */
export const NEXT_HLC_SQL =
  "max(hlc + 1, CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER) * 65536)";

const APPLYING = '(SELECT applying FROM _sync_apply_flag) = 0';

/** A SQL identifier in double quotes. Schema names are already restricted to `[a-z][a-z0-9_]*`. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A SQL string literal. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The names of a table's capture triggers, to drop them before the schema changes. */
export function captureTriggerNames(tableName: string): string[] {
  return ['insert', 'replace', 'update', 'rekey', 'delete'].map(
    (kind) => `_sync_capture_${tableName}_${kind}`,
  );
}

/** (Re)creates a table's capture triggers; call it inside the write transaction that changes the schema. */
export function installCaptureTriggers(db: Database.Database, table: SchemaTable): void {
  for (const trigger of captureTriggerNames(table.name))
    db.exec(`DROP TRIGGER IF EXISTS ${quoteIdentifier(trigger)}`);
  for (const statement of captureTriggerStatements(table)) db.exec(statement);
}

/** The `CREATE TRIGGER` statements that capture a table's writes. */
export function captureTriggerStatements(table: SchemaTable): string[] {
  const t = quoteIdentifier(table.name);
  const name = quoteLiteral(table.name);
  const trigger = (kind: string): string => quoteIdentifier(`_sync_capture_${table.name}_${kind}`);
  const hasCounters = table.counterColumns.length > 0;
  // The base of counter columns: the row's values before this write, the server's as far as this device
  // knows when the row was clean. Kept as it is when the row is pending already.
  const baseOf = (prefix: 'OLD.' | ''): string =>
    hasCounters
      ? `json_object(${table.counterColumns.map((c) => `${quoteLiteral(c.name)}, ${prefix}${quoteIdentifier(c.name)}`).join(', ')})`
      : 'NULL';
  // Each write appends its entry to the capture log, folded into the outbox by the sync (fold.ts).
  const logWrite = (row: 'OLD' | 'NEW', op: 'upsert' | 'delete', base: string, cols: string): string => {
    // A delete of a row with counters notes their values as it goes (`gone`): with the base, they make the
    // delta of the writes before it, which the delete still carries (PROTOCOL.md §5: deltas always count).
    const gone = op === 'delete' && hasCounters ? base : 'NULL';
    return `INSERT INTO _sync_captured (tbl, id, op, hlc, base, cols, gone)
    SELECT ${name}, ${row}.id, '${op}', ${NEXT_HLC_SQL}, ${base}, ${cols}, ${gone} FROM _sync_clock`;
  };

  const statements: string[] = [];

  if (hasCounters) {
    // INSERT OR REPLACE deletes the old row without firing delete triggers; note its counters first, as
    // the base of the write that replaces it.
    statements.push(`CREATE TRIGGER ${trigger('replace')} BEFORE INSERT ON ${t}
  WHEN ${APPLYING} AND EXISTS (SELECT 1 FROM ${t} WHERE id = NEW.id)
  BEGIN
    INSERT OR REPLACE INTO _sync_replaced (tbl, id, base)
    SELECT ${name}, id, ${baseOf('')} FROM ${t} WHERE id = NEW.id;
  END`);
  }

  statements.push(`CREATE TRIGGER ${trigger('insert')} AFTER INSERT ON ${t}
  WHEN ${APPLYING}
  BEGIN
    ${logWrite(
      'NEW',
      'upsert',
      hasCounters ? `(SELECT base FROM _sync_replaced WHERE tbl = ${name} AND id = NEW.id)` : 'NULL',
      String(fullMask(table.columns.length)),
    )};
    ${hasCounters ? `DELETE FROM _sync_replaced WHERE tbl = ${name} AND id = NEW.id;` : ''}
  END`);

  // An update that changes no synced column (SET x = x, or a column the schema does not sync) is not a
  // change: pushing it would only override other devices' newer edits with this device's older values.
  const changed = [
    'OLD.id IS NOT NEW.id',
    ...table.columns.map((c) => `OLD.${quoteIdentifier(c.name)} IS NOT NEW.${quoteIdentifier(c.name)}`),
  ].join(' OR ');
  // The columns this update set, one CASE per column: a few comparisons of values already in hand.
  const setColumns =
    table.columns.length === 0
      ? '0'
      : table.columns
          .map((c, index) => {
            const q = quoteIdentifier(c.name);
            return `(CASE WHEN OLD.${q} IS NOT NEW.${q} THEN ${columnBit(index)} ELSE 0 END)`;
          })
          .join(' | ');
  statements.push(`CREATE TRIGGER ${trigger('update')} AFTER UPDATE ON ${t}
  WHEN ${APPLYING} AND (${changed})
  BEGIN
    ${logWrite('NEW', 'upsert', baseOf('OLD.'), setColumns)};
  END`);

  // Ids never change (PROTOCOL.md §1); if a program changes one anyway, the old id is deleted.
  const captureDelete = `${logWrite('OLD', 'delete', baseOf('OLD.'), '0')};`;
  statements.push(`CREATE TRIGGER ${trigger('rekey')} AFTER UPDATE OF id ON ${t}
  WHEN ${APPLYING} AND OLD.id IS NOT NEW.id
  BEGIN
    ${captureDelete}
  END`);

  statements.push(`CREATE TRIGGER ${trigger('delete')} AFTER DELETE ON ${t}
  WHEN ${APPLYING}
  BEGIN
    ${captureDelete}
  END`);

  return statements;
}

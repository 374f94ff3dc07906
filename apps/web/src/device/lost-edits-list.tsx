import { useEffect, useState, type ReactNode } from 'react';
import { messageOf } from '../shared/http.js';
import { formatCents } from '../shared/money.js';
import { Notice } from '../shared/notice.js';
import { columnLabel, rowText, tableWord } from '../shared/shop-words.js';
import { TableHead } from '../shared/table.js';
import { dateTime } from '../shared/time.js';
import { deviceApi } from './device-api.js';
import { useDevice } from './device-context.js';
import type { CellValue, ConflictRow, LostEdit } from './types.js';

/**
 * "Edits that lost": this device's own edits that a later write, made without knowing them, overrode
 * (PROTOCOL.md §5), newest first, each with the row's name where it has one, the value written here and the
 * one that won.
 */
export function LostEditsList(): ReactNode {
  const { lastCycle } = useDevice();
  const [edits, setEdits] = useState<readonly LostEdit[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let current = true;
    deviceApi
      .lostEdits()
      .then((answer) => current && setEdits(answer))
      .catch((failure: unknown) => current && setError(messageOf(failure)));
    return () => {
      current = false;
    };
  }, [lastCycle]);
  return (
    <section aria-label="Edits that lost">
      <p className="muted">
        Edits made on this device that another device overrode with a later change made without seeing them,
        newest first. The row now holds the winning value everywhere.
      </p>
      {error && <Notice kind="error">{error}</Notice>}
      {edits?.length === 0 && <p>No edit of this device has lost.</p>}
      {edits && edits.length > 0 && (
        <div className="table-scroll">
          <table className="table">
            <TableHead columns={['When', 'Row', 'What', 'Written here', 'Now']} />
            <tbody>
              {edits.map((edit) => (
                <tr key={edit.id}>
                  <td className="nowrap">{dateTime(edit.at)}</td>
                  <td>{rowLabel({ table: edit.table, id: edit.rowId, name: edit.rowName })}</td>
                  <td>{whatLost(edit)}</td>
                  <td>{edit.kind === 'my-delete' ? 'deleted' : shownValue(edit.column, edit.mine)}</td>
                  <td>{nowText(edit)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** A row as a person knows it: its table's word and its name, or the start of its id ("product Apple"). */
export function rowLabel(row: ConflictRow): string {
  return row.name ? `${tableWord(row.table)} ${row.name}` : rowText(row);
}

function whatLost(edit: LostEdit): string {
  if (edit.kind === 'my-delete') return 'Your delete (the row was changed later elsewhere)';
  if (edit.kind === 'their-delete') return 'Your change (the row was deleted later elsewhere)';
  if (edit.kind === 'moved-away') return 'Your change (the row moved to another store before it was sent)';
  return edit.column === null ? '' : columnLabel(edit.column);
}

/** What the row holds now, as far as this device can tell. */
function nowText(edit: LostEdit): string {
  if (edit.kind === 'their-delete') return 'deleted';
  if (edit.kind === 'moved-away') return 'in another store';
  return shownValue(edit.column, edit.winning);
}

/** A value as the shop reads it: money as money, nothing as a dash. */
function shownValue(column: string | null, value: CellValue): string {
  if (value === null) return '—';
  if (typeof value === 'number' && column?.endsWith('_cents')) return formatCents(value);
  return String(value);
}

import type { ReactNode } from 'react';
import type { CellValue, DeviceRow } from './types.js';

/**
 * A row's sync state where the person works on it: "Not synced" with the server's reason in words when the
 * server refused the row, "Waiting to sync" while it is only local. Synced rows show nothing.
 */
export function RowSyncBadge(props: { readonly row: DeviceRow<Record<string, CellValue>> }): ReactNode {
  const { row } = props;
  if (row.error) {
    return (
      <span className="row-sync">
        <span className="badge badge-red">Not synced</span>
        <span className="row-sync-error">{row.error.message}</span>
      </span>
    );
  }
  if (row.pending) return <span className="badge badge-grey">Waiting to sync</span>;
  return null;
}

/** How many of these rows the server refused, as a sentence, or null. */
export function rejectedSummary(
  rows: readonly DeviceRow<Record<string, CellValue>>[],
  noun: string,
): string | null {
  const count = rows.filter((row) => row.error).length;
  if (count === 0) return null;
  return count === 1
    ? `1 ${noun} was refused by the server and is not synced; see the row marked "Not synced".`
    : `${count} ${noun}s were refused by the server and are not synced; see the rows marked "Not synced".`;
}

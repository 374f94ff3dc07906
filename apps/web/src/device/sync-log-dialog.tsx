import { useEffect, useState, type ReactNode } from 'react';
import { Dialog } from '../shared/dialog.js';
import { messageOf } from '../shared/http.js';
import { Notice } from '../shared/notice.js';
import { rowText, tableWord } from '../shared/shop-words.js';
import { clockTime, duration } from '../shared/time.js';
import { deviceApi } from './device-api.js';
import { useDevice } from './device-context.js';
import { LostEditsList, rowLabel } from './lost-edits-list.js';
import type { SyncLogEntry } from './types.js';
import { TableHead } from '../shared/table.js';

const TRIGGER_NAMES: Readonly<Record<string, string>> = {
  auto: 'Schedule',
  force: 'Force sync',
  'force-pull': 'Force pull',
  startup: 'Start',
  live: 'Live notice',
  write: 'Local change',
  manual: 'Manual',
};

/**
 * The sync log overlay: the last 20 cycles, newest first, with what each moved and what went wrong; and,
 * one button away, the list of this device's edits that lost.
 */
export function SyncLogDialog(props: { readonly onClose: () => void }): ReactNode {
  const [showLost, setShowLost] = useState(false);
  if (showLost) {
    return (
      <Dialog title="Edits that lost" onClose={props.onClose} wide>
        <button type="button" className="link-button" onClick={() => setShowLost(false)}>
          Back to the sync log
        </button>
        <LostEditsList />
      </Dialog>
    );
  }
  return <SyncLogList onClose={props.onClose} onShowLost={() => setShowLost(true)} />;
}

function SyncLogList(props: { readonly onClose: () => void; readonly onShowLost: () => void }): ReactNode {
  const { lastCycle } = useDevice();
  const [entries, setEntries] = useState<readonly SyncLogEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let current = true;
    deviceApi
      .log(20)
      .then((answer) => current && setEntries(answer))
      .catch((failure: unknown) => current && setError(messageOf(failure)));
    return () => {
      current = false;
    };
  }, [lastCycle]);

  return (
    <Dialog title="Sync log" onClose={props.onClose} wide>
      <p className="muted">
        The last 20 sync cycles of this device, newest first.{' '}
        <button type="button" className="link-button" onClick={props.onShowLost}>
          Edits that lost
        </button>
      </p>
      {error && <Notice kind="error">{error}</Notice>}
      {entries?.length === 0 && <p>No sync cycle has run yet.</p>}
      {entries && entries.length > 0 && (
        <div className="table-scroll">
          <table className="table">
            <TableHead
              columns={[
                'Time',
                'Trigger',
                'Duration',
                { label: 'Pushed', numeric: true },
                { label: 'Pulled', numeric: true },
                { label: 'Conflicts', numeric: true },
                { label: 'Rejected', numeric: true },
                'Result',
              ]}
            />
            <tbody>
              {entries.map((entry, index) => (
                <SyncLogRow key={`${entry.startedAt}-${index}`} entry={entry} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Dialog>
  );
}

function SyncLogRow(props: { readonly entry: SyncLogEntry }): ReactNode {
  const { entry } = props;
  const trigger = TRIGGER_NAMES[entry.trigger] ?? entry.trigger;
  const mode =
    entry.mode === 'discard-local' ? ' (discard local)' : entry.mode === 'pull-only' ? ' (pull only)' : '';
  return (
    <tr className={entry.ok ? undefined : 'row-failed'}>
      <td className="nowrap">{clockTime(entry.startedAt)}</td>
      <td className="nowrap">
        {trigger}
        {mode}
      </td>
      <td className="nowrap">{duration(entry.durationMs)}</td>
      <td className="numeric">{entry.pushed}</td>
      <td className="numeric">{entry.pulled}</td>
      <td className="numeric">{entry.conflicts}</td>
      <td className="numeric">{entry.rejected.length}</td>
      <td>
        {entry.ok ? (
          <span className="text-good">OK</span>
        ) : (
          <span className="text-bad">{entry.error ?? entry.outcome}</span>
        )}
        {entry.conflictRows.length > 0 && (
          <ul className="compact-list">
            {entry.conflictRows.map((row) => (
              <li key={`${row.table}/${row.id}`}>Your edit lost: {rowLabel(row)}</li>
            ))}
          </ul>
        )}
        {entry.rejected.length > 0 && (
          <ul className="compact-list">
            {entry.rejected.map((row) => (
              <li key={`${row.table}/${row.id}`}>
                {rowText(row)}: {row.message}
              </li>
            ))}
          </ul>
        )}
        {entry.repairs.length > 0 && (
          <ul className="compact-list">
            {entry.repairs.map((repair) => (
              <li key={repair.table}>
                Repaired {tableWord(repair.table, 2)} ({repair.reason})
              </li>
            ))}
          </ul>
        )}
      </td>
    </tr>
  );
}

import type { ConflictInfo, ConflictVersion } from '@tillsync/protocol';
import { useMemo, useState, type FormEvent, type ReactNode } from 'react';
import { Notice } from '../shared/notice.js';
import { dateTime } from '../shared/time.js';
import { valueText } from './job-format.js';
import { useLoad } from './owner-session.js';
import { TableHead } from '../shared/table.js';

/**
 * "Where did my edit go?": every write that a later write overrode (last write wins), with both versions,
 * which one was kept, and the devices that wrote them.
 */
export function ConflictsScreen(): ReactNode {
  const [table, setTable] = useState('');
  const [rowId, setRowId] = useState('');
  const [filter, setFilter] = useState({ table: '', id: '' });
  const conflicts = useLoad(
    (api) => api.conflicts({ ...filter, limit: 100 }),
    `${filter.table}|${filter.id}`,
    10_000,
  );
  const devices = useLoad((api) => api.devices(), 'devices');
  const deviceNames = useMemo(
    () => new Map((devices.data ?? []).map((device) => [device.id, device.name])),
    [devices.data],
  );
  const apply = (event: FormEvent): void => {
    event.preventDefault();
    setFilter({ table: table.trim(), id: rowId.trim() });
  };

  return (
    <section aria-labelledby="conflicts-title" className="screen">
      <h1 id="conflicts-title">Conflicts</h1>
      <p className="muted">
        When two devices change the same row, the later write wins. The overridden version is kept here, so an
        edit that seems lost can be found.
      </p>
      <form className="filters" onSubmit={apply} aria-label="Find conflicts">
        <label>
          <span>Table</span>
          <input value={table} placeholder="products" onChange={(event) => setTable(event.target.value)} />
        </label>
        <label>
          <span>Row id</span>
          <input value={rowId} onChange={(event) => setRowId(event.target.value)} spellCheck={false} />
        </label>
        <button type="submit">Find</button>
      </form>
      {conflicts.error && <Notice kind="error">{conflicts.error}</Notice>}
      {conflicts.data?.length === 0 && (
        <p>No overridden writes{filter.table || filter.id ? ' match' : ' yet'}.</p>
      )}
      <ul className="conflict-list" aria-label="Overridden writes">
        {(conflicts.data ?? []).map((conflict, index) => (
          <li key={`${conflict.table}/${conflict.id}/${conflict.at}/${index}`}>
            <ConflictCard conflict={conflict} deviceNames={deviceNames} />
          </li>
        ))}
      </ul>
    </section>
  );
}

function ConflictCard(props: {
  readonly conflict: ConflictInfo;
  readonly deviceNames: ReadonlyMap<string, string>;
}): ReactNode {
  const { conflict, deviceNames } = props;
  const who = (version: ConflictVersion): string =>
    version.deviceId === null
      ? 'the server'
      : (deviceNames.get(version.deviceId) ?? `device ${version.deviceId.slice(0, 8)}…`);
  const fields = [
    ...new Set([...Object.keys(conflict.winner.values ?? {}), ...Object.keys(conflict.loser.values ?? {})]),
  ];
  const title = `${conflict.table} ${conflict.winner.values?.name ?? conflict.loser.values?.name ?? conflict.id.slice(0, 13)}`;
  return (
    <article className="card" aria-label={`Conflict on ${title}`}>
      <h2>
        {title} <span className="muted">· decided {dateTime(conflict.at)}</span>
      </h2>
      <p>
        <strong>{who(conflict.winner)}</strong>&apos;s write was kept; <strong>{who(conflict.loser)}</strong>
        &apos;s write was overridden.
      </p>
      <table className="table">
        <TableHead
          columns={['Field', `Kept (${who(conflict.winner)})`, `Overridden (${who(conflict.loser)})`]}
        />
        <tbody>
          <tr>
            <th scope="row">written at</th>
            <td>{stampTime(conflict.winner.updatedAt)}</td>
            <td>{stampTime(conflict.loser.updatedAt)}</td>
          </tr>
          {conflict.winner.op === 'delete' || conflict.loser.op === 'delete' ? (
            <tr>
              <th scope="row">operation</th>
              <td>{conflict.winner.op}</td>
              <td>{conflict.loser.op}</td>
            </tr>
          ) : null}
          {fields.map((field) => {
            const kept = conflict.winner.values?.[field];
            const lost = conflict.loser.values?.[field];
            const differs = valueText(kept) !== valueText(lost);
            return (
              <tr key={field} className={differs ? 'row-differs' : undefined}>
                <th scope="row">{field}</th>
                <td>{valueText(kept)}</td>
                <td>{valueText(lost)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </article>
  );
}

/** The wall-clock part of a hybrid-clock stamp (`<ISO time>-<counter>-<node>`), in the reader's time. */
function stampTime(stamp: string): string {
  const iso = stamp.slice(0, 24);
  return Number.isNaN(Date.parse(iso)) ? stamp : dateTime(iso);
}

import type { ConflictInfo, ConflictVersion } from '@tillsync/protocol';
import { useMemo, useState, type FormEvent, type ReactNode } from 'react';
import { formatCents } from '../shared/money.js';
import { Notice } from '../shared/notice.js';
import { columnLabel, tableWord } from '../shared/shop-words.js';
import { dateTime } from '../shared/time.js';
import { valueText } from './job-format.js';
import { useLoad } from './owner-session.js';
import { TableHead } from '../shared/table.js';

/**
 * "Where did my edit go?": every value a later write overrode without having seen it (last write wins, per
 * column), one card per column, with both values as the shop reads them, which one was kept, and the
 * devices that wrote them.
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
  const schema = useLoad((api) => api.schema(), 'schema');
  const tables = Object.keys(schema.data?.tables ?? {}).sort((a, b) =>
    tableWord(a, 2).localeCompare(tableWord(b, 2)),
  );
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
        When two devices change the same field of a row without seeing each other&apos;s change, the later
        write wins. The value that lost is kept here, so an edit that seems lost can be found. Edits to
        different fields are both kept, and are not listed.
      </p>
      <form className="filters" onSubmit={apply} aria-label="Find conflicts">
        <label>
          <span>Table</span>
          <select value={table} onChange={(event) => setTable(event.target.value)}>
            <option value="">All tables</option>
            {tables.map((name) => (
              <option key={name} value={name}>
                {capitalized(tableWord(name, 2))}
              </option>
            ))}
          </select>
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
  const rowName = conflict.rowName ?? conflict.id.slice(0, 13);
  const row = `${capitalized(tableWord(conflict.table))} ${rowName}`;
  const title = conflict.column === null ? row : `${row} · ${columnLabel(conflict.column)}`;
  const read = (version: ConflictVersion, field: string): string =>
    version.op === 'delete' ? '(deleted)' : shopValue(conflict, field, version.values?.[field]);
  return (
    <article className="card" aria-label={`Conflict on ${title}`}>
      <h2>
        {title} <span className="muted">· decided {dateTime(conflict.at)}</span>
      </h2>
      <p>
        <strong>{who(conflict.winner)}</strong>&apos;s {conflict.column === null ? 'write' : 'value'} was
        kept; <strong>{who(conflict.loser)}</strong>&apos;s{' '}
        {conflict.loser.op === 'delete' ? 'delete' : 'write'} lost.
      </p>
      <table className="table">
        <TableHead columns={['Field', `Kept (${who(conflict.winner)})`, `Lost (${who(conflict.loser)})`]} />
        <tbody>
          <tr>
            <th scope="row">Written at</th>
            <td>{stampTime(conflict.winner.updatedAt)}</td>
            <td>{stampTime(conflict.loser.updatedAt)}</td>
          </tr>
          {conflict.winner.op === 'delete' || conflict.loser.op === 'delete' ? (
            <tr>
              <th scope="row">Operation</th>
              <td>{conflict.winner.op}</td>
              <td>{conflict.loser.op}</td>
            </tr>
          ) : null}
          {fields.map((field) => {
            const kept = read(conflict.winner, field);
            const lost = read(conflict.loser, field);
            return (
              <tr key={field} className={kept !== lost ? 'row-differs' : undefined}>
                <th scope="row" title={field}>
                  {columnLabel(field)}
                </th>
                <td>{kept}</td>
                <td>{lost}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </article>
  );
}

/** A value as the shop reads it: cents as money, a 0/1 flag as yes/no, a referenced row by its name. */
function shopValue(conflict: ConflictInfo, field: string, value: unknown): string {
  if (value === null || value === undefined) return valueText(value);
  switch (conflict.display[field]) {
    case 'money':
      return typeof value === 'number' ? formatCents(value) : valueText(value);
    case 'flag':
      return value === 1 ? 'yes' : value === 0 ? 'no' : valueText(value);
    case 'reference':
      return typeof value === 'string' ? (conflict.names[value] ?? value) : valueText(value);
    default:
      return valueText(value);
  }
}

function capitalized(words: string): string {
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The wall-clock part of a hybrid-clock stamp (`<ISO time>-<counter>-<node>`), in the reader's time. */
function stampTime(stamp: string): string {
  const iso = stamp.slice(0, 24);
  return Number.isNaN(Date.parse(iso)) ? stamp : dateTime(iso);
}

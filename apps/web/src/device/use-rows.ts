import { useEffect, useState } from 'react';
import { messageOf } from '../shared/http.js';
import { deviceApi, rowQueryString } from './device-api.js';
import { useDevice } from './device-context.js';
import type { CellValue, DeviceRow, RowQuery } from './types.js';

/** A page of a synced table's rows, and how many there are. */
export interface Rows<V extends Record<string, CellValue>> {
  /** Null until the agent first answered. */
  readonly rows: readonly DeviceRow<V>[] | null;
  /** Rows in the table. */
  readonly total: number;
  /** Rows the search lets through; more than `rows.length` when the page holds only the first of them. */
  readonly matching: number;
  /** More rows match than `matching`, which stops counting at 10,000. */
  readonly matchingCapped: boolean;
  /** The table's columns on this device; null until the agent first answered. */
  readonly columns: readonly string[] | null;
  readonly error: string | null;
}

/**
 * A page of a synced table's rows, asked for as `query` says (the search runs in SQL over the whole table),
 * read again whenever the device's data may have changed; not asked for at all while `enabled` is false (a
 * table this device's schema may not have).
 */
export function useRows<V extends Record<string, CellValue>>(
  table: string,
  query: RowQuery = {},
  enabled = true,
): Rows<V> {
  const { dataVersion } = useDevice();
  const [page, setPage] = useState<Omit<Rows<V>, 'error'>>({
    rows: null,
    total: 0,
    matching: 0,
    matchingCapped: false,
    columns: null,
  });
  const [error, setError] = useState<string | null>(null);
  // The query as text: a new object with the same fields is the same query.
  const key = rowQueryString(query);
  useEffect(() => {
    if (!enabled) return undefined;
    let current = true;
    deviceApi
      .rows<V>(table, query)
      .then((answer) => {
        if (!current) return;
        setPage({ ...answer, matchingCapped: answer.matchingCapped ?? false });
        setError(null);
      })
      .catch((failure: unknown) => {
        if (current) setError(messageOf(failure));
      });
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `key` stands for `query`
  }, [table, key, dataVersion, enabled]);
  return { ...page, error };
}

/** `value`, once it has stayed the same for `ms` (a search typed letter by letter asks once). */
export function useSettled<T>(value: T, ms = 150): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

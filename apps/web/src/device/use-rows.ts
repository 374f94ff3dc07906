import { useEffect, useState } from 'react';
import { messageOf } from '../shared/http.js';
import { deviceApi } from './device-api.js';
import { useDevice } from './device-context.js';
import type { CellValue, DeviceRow } from './types.js';

/** The rows of a synced table, read again whenever the device's data may have changed. */
export function useRows<V extends Record<string, CellValue>>(
  table: string,
): { readonly rows: readonly DeviceRow<V>[] | null; readonly error: string | null } {
  const { dataVersion } = useDevice();
  const [rows, setRows] = useState<readonly DeviceRow<V>[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let current = true;
    deviceApi
      .rows<V>(table)
      .then((answer) => {
        if (!current) return;
        setRows(answer);
        setError(null);
      })
      .catch((failure: unknown) => {
        if (current) setError(messageOf(failure));
      });
    return () => {
      current = false;
    };
  }, [table, dataVersion]);
  return { rows, error };
}

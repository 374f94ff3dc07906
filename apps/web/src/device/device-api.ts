import { requestJson } from '../shared/http.js';
import type {
  CellValue,
  DeviceIdentity,
  DevicePairRequest,
  DevicePairResponse,
  DeviceRow,
  DeviceStatus,
  LostEdit,
  RowPage,
  RowQuery,
  Sale,
  SaleRequest,
  SyncLogEntry,
  SyncSummary,
} from './types.js';

/** The device agent's local API, on the origin that served this page. */
export const deviceApi = {
  status: (): Promise<DeviceStatus> => requestJson('/api/status'),
  identity: (): Promise<DeviceIdentity> => requestJson('/api/device'),
  log: async (limit = 20): Promise<SyncLogEntry[]> =>
    (await requestJson<{ entries: SyncLogEntry[] }>(`/api/log?limit=${limit}`)).entries,
  lostEdits: async (limit = 100): Promise<LostEdit[]> =>
    (await requestJson<{ edits: LostEdit[] }>(`/api/lost-edits?limit=${limit}`)).edits,
  startWorker: (): Promise<DeviceStatus> => requestJson('/api/worker/start', { method: 'POST' }),
  stopWorker: (): Promise<DeviceStatus> => requestJson('/api/worker/stop', { method: 'POST' }),
  syncNow: (): Promise<SyncSummary> => requestJson('/api/sync', { method: 'POST' }),
  pull: (discardLocal: boolean): Promise<SyncSummary> =>
    requestJson('/api/pull', { method: 'POST', body: { discardLocal } }),
  pair: (fields: DevicePairRequest & { serverUrl: string; name: string }): Promise<DevicePairResponse> =>
    requestJson('/api/pair', { method: 'POST', body: fields }),

  rows: <V extends Record<string, CellValue>>(table: string, query: RowQuery = {}): Promise<RowPage<V>> =>
    requestJson(`/api/rows/${encodeURIComponent(table)}${rowQueryString(query)}`),
  addRow: (table: string, values: Record<string, CellValue>): Promise<DeviceRow<Record<string, CellValue>>> =>
    requestJson(`/api/rows/${encodeURIComponent(table)}`, { method: 'POST', body: { values } }),
  updateRow: (
    table: string,
    id: string,
    values: Record<string, CellValue>,
  ): Promise<DeviceRow<Record<string, CellValue>>> =>
    requestJson(`/api/rows/${encodeURIComponent(table)}/${encodeURIComponent(id)}`, {
      method: 'PATCH',
      body: { values },
    }),
  recordSale: (sale: SaleRequest): Promise<Sale> => requestJson('/api/sales', { method: 'POST', body: sale }),
};

/** A list's query as the agent reads it: `?search=&order=&desc=1&limit=&where.<column>=`. */
export function rowQueryString(query: RowQuery): string {
  const params = new URLSearchParams();
  if (query.search !== undefined && query.search.trim() !== '') params.set('search', query.search.trim());
  if (query.order !== undefined) params.set('order', query.order);
  if (query.descending) params.set('desc', '1');
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  for (const [column, value] of Object.entries(query.equals ?? {}))
    params.set(`where.${column}`, String(value));
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

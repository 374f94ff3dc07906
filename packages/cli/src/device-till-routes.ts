import type { IncomingMessage, ServerResponse } from 'node:http';
import { DeviceRow, DeviceRowList, DeviceRowWrite, SaleRequest, type ApiOperation } from '@tillsync/protocol';
import { readStaticFile } from '@tillsync/server/static-files';
import { ApiError } from './api-error.js';
import { readJson, send } from './device-api.js';
import { DeviceRows, type RowQuery } from './device-rows.js';
import type { SyncClient } from '@tillsync/client';

/**
 * What the device agent serves besides its sync API (device-api.ts): the till's rows for the device's page,
 * and the page itself.
 *
 *   GET    /api/rows/:table        a page of the table's rows, each with `pending` and the server's `error`,
 *                                   with `total`, `matching` and `columns`; ?search= (its text columns), ?where.<col>=,
 *                                   ?order=<col>, ?desc=1, ?limit= (1 to 5,000)
 *   POST   /api/rows/:table        body {"values"}   → the new row (its id made here, a UUIDv7)
 *   PATCH  /api/rows/:table/:id    body {"values"}   → the row
 *   DELETE /api/rows/:table/:id                      → 204
 *   POST   /api/sales              body {"customerId", "items": [{"productId", "quantity"}]} → the sale row
 *   GET    any other path          the built page (`webRoot`), its index.html for the page's own screens
 *
 * Answers `true` when it handled the request, `false` to let the API answer 404.
 */
export type ExtraRoutes = (request: IncomingMessage, response: ServerResponse, url: URL) => Promise<boolean>;

/**
 * The till's routes as the agent's OpenAPI document lists them. Their bodies are judged by `DeviceRows`
 * against the device's own schema (unknown columns, value types), which answers its own codes.
 */
export const TILL_OPERATIONS: readonly ApiOperation[] = [
  {
    method: 'get',
    path: '/api/rows/{table}',
    summary:
      "A page of a synced table's rows: ?search= (its text columns, any case), ?where.<column>=, ?order=<column>, ?desc=1, ?limit= (1 to 5,000)",
    response: DeviceRowList,
  },
  {
    method: 'post',
    path: '/api/rows/{table}',
    summary: 'Adds a row (its id a new UUIDv7)',
    body: DeviceRowWrite,
    response: DeviceRow,
    status: 201,
  },
  {
    method: 'patch',
    path: '/api/rows/{table}/{id}',
    summary: 'Changes a row; a counter set here is sent as the difference',
    body: DeviceRowWrite,
    response: DeviceRow,
  },
  { method: 'delete', path: '/api/rows/{table}/{id}', summary: 'Deletes a row', status: 204 },
  {
    method: 'post',
    path: '/api/sales',
    summary: "Records a sale: its items at today's prices and the stock taken, in one transaction",
    body: SaleRequest,
    response: DeviceRow,
    status: 201,
  },
];

/** The list's query string as {@link RowQuery}; a value that reads as a number is compared as one. */
function rowQuery(params: URLSearchParams): RowQuery {
  const equals: Record<string, string | number> = {};
  for (const [key, value] of params) {
    if (!key.startsWith('where.')) continue;
    equals[key.slice('where.'.length)] =
      value !== '' && Number.isFinite(Number(value)) ? Number(value) : value;
  }
  const limit = params.get('limit');
  const order = params.get('order');
  return {
    search: params.get('search') ?? '',
    equals,
    ...(order === null ? {} : { order }),
    descending: params.get('desc') === '1',
    ...(limit === null ? {} : { limit: Number(limit) }),
  };
}

/** The till's routes over a device's client, and the page's files from `webRoot` when given. */
export function tillRoutes(client: SyncClient, webRoot: string | null): ExtraRoutes {
  const rows = new DeviceRows(client);
  return async (request, response, url) => {
    const method = request.method ?? 'GET';
    const path = url.pathname;
    if (path === '/api/sales') {
      if (method !== 'POST') throw new ApiError(405, 'METHOD_NOT_ALLOWED', 'use POST here');
      send(response, 201, rows.recordSale(await readJson(request)));
      return true;
    }
    const match = /^\/api\/rows\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (match) {
      const table = decodeURIComponent(match[1] ?? '');
      const id = match[2] === undefined ? null : decodeURIComponent(match[2]);
      if (id === null && method === 'GET') send(response, 200, rows.list(table, rowQuery(url.searchParams)));
      else if (id === null && method === 'POST')
        send(response, 201, rows.insert(table, await readJson(request)));
      else if (id !== null && method === 'PATCH')
        send(response, 200, rows.update(table, id, await readJson(request)));
      else if (id !== null && method === 'DELETE') {
        rows.remove(table, id);
        response.writeHead(204).end();
      } else {
        throw new ApiError(
          405,
          'METHOD_NOT_ALLOWED',
          id === null ? 'use GET or POST here' : 'use PATCH or DELETE here',
        );
      }
      return true;
    }
    if (webRoot !== null && (method === 'GET' || method === 'HEAD') && !/^\/api(\/|$)/.test(path)) {
      const file = await readStaticFile(webRoot, path);
      if (!file) return false;
      response.writeHead(200, { ...file.headers, 'content-length': file.body.length });
      response.end(method === 'HEAD' ? undefined : file.body);
      return true;
    }
    return false;
  };
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  OfflineError,
  PairingConflictError,
  pillText,
  toSummary,
  type SyncClient,
  type SyncLogEntry,
  type SyncWorker,
  type WorkerStatus,
} from '@tillsync/client';
import { ProtocolError } from '@tillsync/protocol';
import { ApiError } from './api-error.js';

/**
 * The device agent's local API (`tillsync device --port`), for the device's page: JSON on 127.0.0.1 only.
 *
 *   GET  /api/status           the worker's status, with the pill's text
 *   GET  /api/status/events    server-sent events: `status` on every change (the first at once), `cycle`
 *                              with each sync log entry
 *   GET  /api/device           who the device is and which server it syncs with
 *   GET  /api/log?limit=20     the last cycles, newest first
 *   POST /api/worker/start     "Start sync task"                       → the status
 *   POST /api/worker/stop      "Stop sync task"                        → the status
 *   POST /api/sync             "Force sync now"                        → the cycle's summary
 *   POST /api/pull             "Force pull", body {"discardLocal"}     → the cycle's summary
 *   POST /api/pair             body {"code", "serverUrl"?, "name"?}    → {"deviceId", "tenantId"}
 *
 * Errors are `{"error": {"code", "message"}}`, mapped from errors in one place ({@link errorAnswer}).
 */

/** What the API serves: the device and its worker. */
export interface DeviceApiTarget {
  readonly client: SyncClient;
  readonly worker: SyncWorker;
  /**
   * Serves the paths these routes do not (the till's rows and the device's page: device-till-routes.ts);
   * resolves `true` when it answered. Its errors are answered like the API's own.
   */
  readonly extraRoutes?: (request: IncomingMessage, response: ServerResponse, url: URL) => Promise<boolean>;
}

/** The status as the API answers it: the worker's, and the text of the header pill at answer time. */
export type ApiStatus = WorkerStatus & { readonly text: string };

interface ApiRequest {
  readonly url: URL;
  readonly body: unknown;
}

type Handler = (request: ApiRequest) => Promise<unknown>;

/** Bodies larger than this are refused: the API's bodies are a few short fields. */
const MAX_BODY_BYTES = 64 * 1024;
/** A comment on each status stream this often, so proxies and the page see the connection is alive. */
const KEEP_ALIVE_MS = 25_000;
/** How often the status is read again while a page listens, to show writes by the till's program. */
const STATUS_CHECK_MS = 1000;

/**
 * The request listener of the local API. Answers only requests addressed to the loopback host by name or
 * address, and refuses a browser request from another origin, so neither a web page elsewhere (cross-site
 * requests, DNS rebinding) nor the network can drive the till's sync.
 */
export class DeviceApi {
  readonly #target: DeviceApiTarget;
  readonly #routes: Record<string, Partial<Record<'GET' | 'POST', Handler>>>;
  /** The open status streams, each with the function that ends it. */
  readonly #streams = new Map<ServerResponse, () => void>();
  #statusCheck: ReturnType<typeof setInterval> | null = null;

  constructor(target: DeviceApiTarget) {
    this.#target = target;
    const { client, worker } = target;
    this.#routes = {
      '/api/status': { GET: () => Promise.resolve(this.#status()) },
      '/api/device': {
        GET: () =>
          Promise.resolve({
            paired: client.paired,
            ...client.identity,
            intervalMs: worker.config.intervalMs,
          }),
      },
      '/api/log': {
        GET: ({ url }) =>
          Promise.resolve({ entries: client.syncLog(limitOf(url.searchParams.get('limit'))) }),
      },
      '/api/worker/start': {
        POST: () => {
          worker.start();
          return Promise.resolve(this.#status());
        },
      },
      '/api/worker/stop': {
        POST: async () => {
          await worker.stop();
          return this.#status();
        },
      },
      '/api/sync': { POST: async () => summaryOf(await this.#paired(() => worker.syncNow())) },
      '/api/pull': {
        POST: async ({ body }) => {
          const { discardLocal } = fieldsOf(body, { discardLocal: 'boolean' });
          return summaryOf(await this.#paired(() => worker.pullNow({ discardLocal: discardLocal === true })));
        },
      },
      '/api/pair': {
        POST: async ({ body }) => {
          const fields = fieldsOf(body, { code: 'string', serverUrl: 'string', name: 'string' });
          if (typeof fields.code !== 'string' || fields.code.trim() === '') {
            throw new ApiError(
              400,
              'INVALID_REQUEST',
              'give the pairing code from the owner\'s dashboard as "code"',
            );
          }
          if (typeof fields.name === 'string' && (fields.name.trim() === '' || fields.name.length > 100)) {
            throw new ApiError(400, 'INVALID_REQUEST', '"name" must be 1 to 100 characters');
          }
          const paired = await client.pair(fields.code.trim(), {
            ...(typeof fields.serverUrl === 'string' ? { serverUrl: fields.serverUrl } : {}),
            ...(typeof fields.name === 'string' ? { name: fields.name.trim() } : {}),
          });
          // Pairing is how a person asks this device to sync (again, after an ended session).
          if (!worker.running) worker.start();
          return paired;
        },
      },
    };
  }

  /** The listener for `http.createServer`. */
  readonly listener = (request: IncomingMessage, response: ServerResponse): void => {
    this.#handle(request, response).catch((error: unknown) => send(response, ...errorAnswer(error)));
  };

  /** Ends every status stream (the agent is shutting down). */
  close(): void {
    for (const end of [...this.#streams.values()]) end();
    this.#stopStatusCheck();
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    checkCaller(request);
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const method = request.method ?? 'GET';
    if (url.pathname === '/api/status/events') {
      if (method !== 'GET') throw methodNotAllowed(['GET']);
      this.#openStatusStream(request, response);
      return;
    }
    const route = this.#routes[url.pathname];
    if (!route) {
      if (await this.#target.extraRoutes?.(request, response, url)) return;
      throw new ApiError(404, 'NOT_FOUND', `there is no ${url.pathname} here; see GET /api/status`);
    }
    const handler = method === 'GET' || method === 'POST' ? route[method] : undefined;
    if (!handler) throw methodNotAllowed(Object.keys(route));
    const body = method === 'POST' ? await readJson(request) : undefined;
    send(response, 200, await handler({ url, body }));
  }

  #status(): ApiStatus {
    const status = this.#target.worker.status;
    return { ...status, text: pillText(status, Date.now()) };
  }

  /** Runs a cycle the person asked for, once the device is paired. */
  #paired(run: () => Promise<SyncLogEntry>): Promise<SyncLogEntry> {
    if (!this.#target.client.paired) {
      throw new ApiError(
        409,
        'NOT_PAIRED',
        'this device is not paired yet: pair it with a code from the owner',
      );
    }
    return run();
  }

  #openStatusStream(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    // A page that went away mid-write is not an error of the agent's.
    response.on('error', () => {});
    const write = (text: string): void => {
      if (!response.writableEnded && !response.destroyed) response.write(text);
    };
    write('retry: 2000\n\n');
    const event = (name: string, data: unknown): void =>
      write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    event('status', this.#status());
    const { worker } = this.#target;
    const offStatus = worker.on('status', (status) =>
      event('status', { ...status, text: pillText(status, Date.now()) }),
    );
    const offCycle = worker.on('cycle', (entry) => event('cycle', entry));
    const keepAlive = setInterval(() => write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    const end = (): void => {
      if (!this.#streams.delete(response)) return;
      offStatus();
      offCycle();
      clearInterval(keepAlive);
      if (this.#streams.size === 0) this.#stopStatusCheck();
      response.end();
    };
    this.#streams.set(response, end);
    this.#startStatusCheck();
    request.once('close', end);
  }

  #startStatusCheck(): void {
    this.#statusCheck ??= setInterval(() => this.#target.worker.checkStatus(), STATUS_CHECK_MS);
  }

  #stopStatusCheck(): void {
    if (this.#statusCheck) clearInterval(this.#statusCheck);
    this.#statusCheck = null;
  }
}

/**
 * The answer for an error: the one mapping from errors to HTTP statuses and codes. The server's own
 * refusals (a pairing code it does not know) pass through with their code; the server being unreachable or
 * failing is a 502, since this API itself worked.
 */
export function errorAnswer(
  error: unknown,
): [status: number, body: { error: { code: string; message: string } }] {
  const answer = (status: number, code: string, message: string): ReturnType<typeof errorAnswer> => [
    status,
    { error: { code, message } },
  ];
  if (error instanceof ApiError) return answer(error.status, error.code, error.message);
  if (error instanceof ProtocolError) {
    return error.status >= 500
      ? answer(502, 'SERVER_ERROR', `the server failed: ${error.message}`)
      : answer(error.status === 401 ? 409 : error.status, error.code, error.message);
  }
  if (error instanceof OfflineError) return answer(502, 'SERVER_UNREACHABLE', error.message);
  if (error instanceof PairingConflictError) return answer(409, 'CONFLICT', error.message);
  // normalizeServerUrl's refusal of a server URL.
  if (error instanceof TypeError) return answer(400, 'INVALID_REQUEST', error.message);
  return answer(500, 'INTERNAL', error instanceof Error ? error.message : String(error));
}

/** Answers `body` as JSON with `status` (or just ends a response whose headers already went out). */
export function send(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/**
 * Refuses a request that did not come from this machine's own page or tools: its Host must name the
 * loopback (DNS rebinding sends another name), and a browser's Origin, when sent, must be this agent's.
 */
function checkCaller(request: IncomingMessage): void {
  const port = request.socket.localPort;
  const own = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const host = request.headers.host ?? '';
  if (!own.has(host)) {
    throw new ApiError(403, 'FORBIDDEN', `the device agent answers requests to 127.0.0.1:${port} only`);
  }
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== 'null' && !own.has(origin.replace(/^http:\/\//, ''))) {
    throw new ApiError(
      403,
      'FORBIDDEN',
      `requests from ${origin} are not accepted; use the agent's own page`,
    );
  }
  if (origin === 'null')
    throw new ApiError(403, 'FORBIDDEN', 'requests from an opaque origin are not accepted');
}

/**
 * Reads a request's JSON body (at most 64 KiB; an empty body is `{}`), or throws an {@link ApiError}
 * (`400 INVALID_REQUEST`, `413 PAYLOAD_TOO_LARGE`).
 */
export async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'PAYLOAD_TOO_LARGE', 'the body is larger than 64 KiB');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError(400, 'INVALID_REQUEST', 'the body is not valid JSON');
  }
}

/** Reads the named fields of a JSON object body, each of its type or absent; anything else is a 400. */
function fieldsOf<F extends Record<string, 'string' | 'boolean'>>(
  body: unknown,
  fields: F,
): { [K in keyof F]?: F[K] extends 'string' ? string : boolean } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'INVALID_REQUEST', 'the body must be a JSON object');
  }
  const values: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    const type = fields[name];
    if (type === undefined) {
      throw new ApiError(
        400,
        'INVALID_REQUEST',
        `unknown field "${name}"; expected ${Object.keys(fields).join(', ')}`,
      );
    }
    if (value === null || value === undefined) continue;
    if (typeof value !== type) throw new ApiError(400, 'INVALID_REQUEST', `"${name}" must be a ${type}`);
    values[name] = value;
  }
  return values as { [K in keyof F]?: F[K] extends 'string' ? string : boolean };
}

function limitOf(text: string | null): number {
  if (text === null) return 20;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > 20) {
    throw new ApiError(400, 'INVALID_REQUEST', 'limit must be a whole number from 1 to 20');
  }
  return limit;
}

function summaryOf(entry: SyncLogEntry): ReturnType<typeof toSummary> {
  return toSummary(entry);
}

function methodNotAllowed(allowed: readonly string[]): ApiError {
  return new ApiError(405, 'METHOD_NOT_ALLOWED', `use ${allowed.join(' or ')} here`);
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  OfflineError,
  PairingConflictError,
  pillText,
  toSummary,
  type SyncClient,
  type SyncWorker,
  type WorkerStatus,
} from '@tillsync/client';
import {
  DeviceIdentityResponse,
  DevicePairRequest,
  DevicePairResponse,
  DeviceStatus,
  ForcePullRequest,
  LostEditsQuery,
  LostEditsResponse,
  PROTOCOL_VERSION,
  ProtocolError,
  SyncLogQuery,
  SyncLogResponse,
  SyncSummary,
  openApiDocument,
  type ApiOperation,
  type SyncLogEntry,
} from '@tillsync/protocol';
import { ApiError } from './api-error.js';
import { route, type Route } from './device-api-route.js';

/**
 * The device agent's local API (`tillsync device --port`), for the device's page: JSON on 127.0.0.1 only.
 *
 *   GET  /api/status           the worker's status, with the pill's text
 *   GET  /api/status/events    server-sent events: `status` on every change (the first at once), `cycle`
 *                              with each sync log entry
 *   GET  /api/device           who the device is and which server it syncs with
 *   GET  /api/log?limit=20     the last cycles, newest first
 *   GET  /api/lost-edits?limit=100  this device's own edits that lost to a later write, newest first
 *   POST /api/worker/start     "Start sync task"                       → the status
 *   POST /api/worker/stop      "Stop sync task"                        → the status
 *   POST /api/sync             "Force sync now"                        → the cycle's summary
 *   POST /api/pull             "Force pull", body {"discardLocal"}     → the cycle's summary
 *   POST /api/pair             body {"code", "serverUrl"?, "name"?}    → {"deviceId", "tenantId"}
 *   GET  /api/openapi.json     this API as OpenAPI, made from the schemas it validates with
 *
 * Requests and answers are the schemas of `@tillsync/protocol` (device-agent-api.ts); a body or query they
 * refuse is a 400 before any handler runs. Each handler answers its schema's type, so the client's own
 * status, log entry and summary types are checked against the wire's by the compiler. Errors are `{"error": {"code", "message"}}`, mapped from errors in one place ({@link errorAnswer}).
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
  /** The routes `extraRoutes` answers, for the OpenAPI document. */
  readonly extraOperations?: readonly ApiOperation[];
}

/** The status as the API answers it: the worker's, and the text of the header pill at answer time. */
export type ApiStatus = DeviceStatus;

interface StatusStreamEvents {
  readonly status: DeviceStatus;
  readonly cycle: SyncLogEntry;
}

/** Bodies larger than this are refused: the API's bodies are a few short fields. */
const MAX_BODY_BYTES = 64 * 1024;
/** A comment on each status stream this often, so proxies and the page see the connection is alive. */
const KEEP_ALIVE_MS = 25_000;
/** How often the status is read again while a page listens, to show writes by the till's program. */
const STATUS_CHECK_MS = 1000;

/** The status stream, answered outside the route table, as the OpenAPI document lists it. */
const STATUS_EVENTS_OPERATION: ApiOperation = {
  method: 'get',
  path: '/api/status/events',
  summary: 'Server-sent events: "status" on every change (the first at once), "cycle" with each log entry',
};
const OPENAPI_OPERATION: ApiOperation = {
  method: 'get',
  path: '/api/openapi.json',
  summary: 'This document',
};

/**
 * The request listener of the local API. Answers only requests addressed to the loopback host by name or
 * address, and refuses a browser request from another origin, so neither a web page elsewhere (cross-site
 * requests, DNS rebinding) nor the network can drive the till's sync.
 */
export class DeviceApi {
  readonly #target: DeviceApiTarget;
  readonly #routes: Record<string, Partial<Record<'GET' | 'POST', Route>>> = {};
  /** The open status streams, each with the function that ends it. */
  readonly #streams = new Map<ServerResponse, () => void>();
  #statusCheck: ReturnType<typeof setInterval> | null = null;

  constructor(target: DeviceApiTarget) {
    this.#target = target;
    const { client, worker } = target;
    const routes: Route[] = [
      route({
        method: 'GET',
        path: '/api/status',
        summary: "The worker's status, with the pill's text",
        response: DeviceStatus,
        handle: () => Promise.resolve(this.#status()),
      }),
      route({
        method: 'GET',
        path: '/api/device',
        summary: 'Who the device is and which server it syncs with',
        response: DeviceIdentityResponse,
        handle: () =>
          Promise.resolve({
            paired: client.paired,
            // Before pairing: the server the agent was started with, for the pairing form.
            ...(client.serverUrl === null ? {} : { serverUrl: client.serverUrl }),
            ...client.identity,
            intervalMs: worker.config.intervalMs,
          }),
      }),
      route({
        method: 'GET',
        path: '/api/log',
        summary: 'The last cycles, newest first',
        query: SyncLogQuery,
        response: SyncLogResponse,
        handle: ({ query }) => Promise.resolve({ entries: client.syncLog(limitOf(query.limit)) }),
      }),
      route({
        method: 'GET',
        path: '/api/lost-edits',
        summary: "This device's own edits that lost to a later write made without knowing them, newest first",
        query: LostEditsQuery,
        response: LostEditsResponse,
        handle: ({ query }) =>
          Promise.resolve({ edits: client.lostEdits(limitOf(query.limit, LOST_EDITS_LIMITS)) }),
      }),
      route({
        method: 'POST',
        path: '/api/worker/start',
        summary: '"Start sync task"',
        response: DeviceStatus,
        handle: () => {
          worker.start();
          return Promise.resolve(this.#status());
        },
      }),
      route({
        method: 'POST',
        path: '/api/worker/stop',
        summary: '"Stop sync task", once nothing runs',
        response: DeviceStatus,
        handle: async () => {
          await worker.stop();
          return this.#status();
        },
      }),
      route({
        method: 'POST',
        path: '/api/sync',
        summary: '"Force sync now": the cycle\'s summary (a 200 also when it failed: `ok` says so)',
        response: SyncSummary,
        handle: async () => toSummary(await this.#paired(() => worker.syncNow())),
      }),
      route({
        method: 'POST',
        path: '/api/pull',
        summary: '"Force pull": the cycle\'s summary',
        body: ForcePullRequest,
        response: SyncSummary,
        handle: async ({ body }) =>
          toSummary(await this.#paired(() => worker.pullNow({ discardLocal: body.discardLocal === true }))),
      }),
      route({
        method: 'POST',
        path: '/api/pair',
        summary: 'Pairs the device with a code from the owner; the worker starts',
        body: DevicePairRequest,
        response: DevicePairResponse,
        messages: {
          code: 'give the pairing code from the owner\'s dashboard as "code"',
          name: '"name" must be 1 to 100 characters',
        },
        handle: async ({ body: { code, serverUrl, name } }) => {
          const paired = await client.pair(code.trim(), {
            ...(typeof serverUrl === 'string' ? { serverUrl } : {}),
            ...(typeof name === 'string' ? { name: name.trim() } : {}),
          });
          // Pairing is how a person asks this device to sync (again, after an ended session).
          if (!worker.running) worker.start();
          return paired;
        },
      }),
    ];
    const document = openApiDocument({
      title: 'Tillsync device agent',
      version: String(PROTOCOL_VERSION),
      description: "The device agent's local API on 127.0.0.1 (docs/device-agent.md)",
      bearer: false,
      operations: [
        ...routes.map((each) => each.operation),
        STATUS_EVENTS_OPERATION,
        ...(target.extraOperations ?? []),
        OPENAPI_OPERATION,
      ],
    });
    routes.push({
      operation: OPENAPI_OPERATION,
      handle: () => Promise.resolve(document),
    });
    for (const each of routes) {
      const method = each.operation.method === 'get' ? 'GET' : 'POST';
      (this.#routes[each.operation.path] ??= {})[method] = each;
    }
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
    send(response, 200, await handler.handle({ url, body }));
  }

  #status(): DeviceStatus {
    return withPillText(this.#target.worker.status);
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
    const event = <E extends keyof StatusStreamEvents>(name: E, data: StatusStreamEvents[E]): void =>
      write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    event('status', this.#status());
    const { worker } = this.#target;
    const offStatus = worker.on('status', (status) => event('status', withPillText(status)));
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

/** The `limit` of a list: its default and its largest value. */
interface ListLimits {
  readonly fallback: number;
  readonly max: number;
}
const LOG_LIMITS: ListLimits = { fallback: 20, max: 20 };
const LOST_EDITS_LIMITS: ListLimits = { fallback: 100, max: 500 };

/** `limit` of `GET /api/log` and the like: read as a number, as `Number` reads text (" 5", "5.0"). */
function limitOf(text: string | undefined, limits: ListLimits = LOG_LIMITS): number {
  if (text === undefined) return limits.fallback;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > limits.max) {
    throw new ApiError(400, 'INVALID_REQUEST', `limit must be a whole number from 1 to ${limits.max}`);
  }
  return limit;
}

/** A worker's status as the API answers it: with the text of the header pill at answer time. */
function withPillText(status: WorkerStatus): DeviceStatus {
  return { ...status, text: pillText(status, Date.now()) };
}

function methodNotAllowed(allowed: readonly string[]): ApiError {
  return new ApiError(405, 'METHOD_NOT_ALLOWED', `use ${allowed.join(' or ')} here`);
}

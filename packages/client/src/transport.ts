import {
  DEVICE_SCHEMA_VERSION_HEADER,
  DEVICE_APP_VERSION_HEADER,
  DEVICE_PENDING_HEADER,
  ErrorBody,
  HealthResponse,
  PairResponse,
  ProtocolError,
  type PullResponse,
  PushResponse,
  RefreshResponse,
  SyncSchema,
  type PairRequest,
} from '@tillsync/protocol';
import type { TSchema, Static } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { OfflineError } from './errors.js';
import { nodeHttpRequest, type HttpAnswer, type HttpRequest } from './node-http-request.js';
import { readPullPage } from './pull-page-reader.js';
import { readServerEvents, type ServerEvent } from './server-events.js';

/** What a device sends with each sync call besides the body: its token and its report for the devices panel. */
export interface DeviceCallContext {
  readonly accessToken: string;
  /** The device's count of unsent changes (`X-Device-Pending`). */
  readonly pendingChanges: number;
  /** The schema version the device's tables are at (`X-Device-Schema-Version`); absent before it has one. */
  readonly schemaVersion?: number | null;
  /**
   * Ends the call early (a worker being stopped); the call then throws the signal's reason, not an
   * {@link OfflineError}.
   */
  readonly signal?: AbortSignal;
}

/**
 * The calls a device makes to the server (PROTOCOL.md §2). An error answer is thrown as a `ProtocolError`
 * with its status and code; a server that cannot be reached, as an {@link OfflineError}.
 */
export interface Transport {
  health(signal?: AbortSignal): Promise<HealthResponse>;
  schema(context: DeviceCallContext): Promise<SyncSchema>;
  /** Sends a push; `body` is the exact JSON text of the request, so a retry resends the same bytes. */
  push(body: string, context: DeviceCallContext): Promise<PushResponse>;
  pull(since: string, limit: number, context: DeviceCallContext): Promise<PullResponse>;
  pair(request: PairRequest): Promise<PairResponse>;
  refresh(refreshToken: string): Promise<RefreshResponse>;
  /**
   * Opens the device's event stream (`GET /api/sync/events`); resolves once the server has accepted it. The
   * events end when the server closes the stream; a connection lost meanwhile throws an {@link OfflineError}.
   */
  events(context: DeviceCallContext): Promise<AsyncIterable<ServerEvent>>;
}

/** A `fetch` an {@link HttpTransport} can be given to make its calls with; tests wrap one to drop requests and answers. */
export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>;

/** Options for {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** The server's base URL, such as `http://127.0.0.1:8787`. */
  readonly serverUrl: string;
  /** The version of the app, sent as `X-Device-App-Version`. */
  readonly appVersion: string;
  /**
   * Makes every call with this `fetch` instead.
   * @defaultValue `node:http` with a keep-alive agent for the sync calls, `globalThis.fetch` for the event stream
   */
  readonly fetch?: FetchFunction;
  /**
   * How long health may take before the server counts as unreachable.
   * @defaultValue 5000
   */
  readonly healthTimeoutMs?: number;
  /**
   * How long any other call may take.
   * @defaultValue 60000
   */
  readonly requestTimeoutMs?: number;
}

/** What a call sends besides its method and path. */
interface CallOptions {
  readonly context?: DeviceCallContext;
  readonly body?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

const checks = {
  health: TypeCompiler.Compile(HealthResponse),
  schema: TypeCompiler.Compile(SyncSchema),
  push: TypeCompiler.Compile(PushResponse),
  pair: TypeCompiler.Compile(PairResponse),
  refresh: TypeCompiler.Compile(RefreshResponse),
  error: TypeCompiler.Compile(ErrorBody),
};

/** The {@link Transport} over HTTP: `node:http` (or the given `fetch`). */
export class HttpTransport implements Transport {
  readonly serverUrl: string;
  readonly #appVersion: string;
  readonly #fetch: FetchFunction;
  readonly #request: (url: string, request: HttpRequest) => Promise<HttpAnswer>;
  readonly #healthTimeoutMs: number;
  readonly #requestTimeoutMs: number;

  constructor(options: HttpTransportOptions) {
    this.serverUrl = normalizeServerUrl(options.serverUrl);
    this.#appVersion = options.appVersion;
    const { fetch } = options;
    this.#fetch = fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#request = fetch
      ? async (url, request) => {
          const response = await fetch(url, { ...request, headers: { ...request.headers } });
          return { status: response.status, text: await response.text() };
        }
      : nodeHttpRequest;
    this.#healthTimeoutMs = options.healthTimeoutMs ?? 5000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
  }

  health(signal?: AbortSignal): Promise<HealthResponse> {
    return this.#call('GET', '/api/sync/health', checks.health, {
      timeoutMs: this.#healthTimeoutMs,
      ...(signal ? { signal } : {}),
    });
  }

  schema(context: DeviceCallContext): Promise<SyncSchema> {
    return this.#call('GET', '/api/sync/schema', checks.schema, { context });
  }

  push(body: string, context: DeviceCallContext): Promise<PushResponse> {
    return this.#call('POST', '/api/sync/push', checks.push, { context, body });
  }

  async pull(since: string, limit: number, context: DeviceCallContext): Promise<PullResponse> {
    const query = new URLSearchParams({ since, limit: String(limit) });
    const path = `/api/sync/pull?${query.toString()}`;
    const text = await this.#answerText('GET', path, { context });
    return readPullPage(text, (detail) => invalidAnswer('GET', path, detail));
  }

  pair(request: PairRequest): Promise<PairResponse> {
    return this.#call('POST', '/api/devices/pair', checks.pair, { body: JSON.stringify(request) });
  }

  refresh(refreshToken: string): Promise<RefreshResponse> {
    return this.#call('POST', '/api/auth/refresh', checks.refresh, {
      body: JSON.stringify({ refreshToken }),
    });
  }

  async events(context: DeviceCallContext): Promise<AsyncIterable<ServerEvent>> {
    const path = '/api/sync/events';
    const url = this.serverUrl + path;
    // The stream stays open for hours; only the wait for its headers has a time limit.
    const connect = new AbortController();
    const timer = setTimeout(
      () => connect.abort(new DOMException('no answer', 'TimeoutError')),
      this.#requestTimeoutMs,
    );
    const signal = context.signal ? AbortSignal.any([context.signal, connect.signal]) : connect.signal;
    const headers = { ...this.#deviceHeaders(context), accept: 'text/event-stream' };
    let response: Response;
    try {
      response = await this.#fetch(url, { method: 'GET', headers, signal });
    } catch (error) {
      throw this.#networkError(url, error, this.#requestTimeoutMs, context.signal);
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok || !response.body) {
      const text = await response.text().catch(() => '');
      throw answerError('GET', path, response.status, text);
    }
    return this.#eventsOf(url, response.body, context.signal);
  }

  async *#eventsOf(
    url: string,
    body: ReadableStream<Uint8Array>,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<ServerEvent> {
    try {
      yield* readServerEvents(body);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw new OfflineError(
        url,
        `The event stream from ${this.serverUrl} was cut (${describeNetworkError(error)})`,
        { cause: error },
      );
    }
  }

  async #call<T extends TSchema>(
    method: 'GET' | 'POST',
    path: string,
    check: TypeCheck<T>,
    options: CallOptions,
  ): Promise<Static<T>> {
    const json = parseJson(await this.#answerText(method, path, options));
    if (!check.Check(json)) {
      const first = check.Errors(json).First();
      throw invalidAnswer(method, path, first ? `${first.path || '/'}: ${first.message}` : undefined);
    }
    return json;
  }

  /** Makes a call and returns the text of its answer; an answer that is not 2xx is thrown as its error. */
  async #answerText(method: 'GET' | 'POST', path: string, options: CallOptions): Promise<string> {
    const url = this.serverUrl + path;
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(options.context ? this.#deviceHeaders(options.context) : {}),
    };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
    const stop = options.signal ?? options.context?.signal;
    const timeout = AbortSignal.timeout(timeoutMs);
    const request: HttpRequest = {
      method,
      headers,
      signal: stop ? AbortSignal.any([stop, timeout]) : timeout,
      ...(options.body !== undefined ? { body: options.body } : {}),
    };

    let status: number;
    let text: string;
    try {
      ({ status, text } = await this.#request(url, request));
    } catch (error) {
      throw this.#networkError(url, error, timeoutMs, stop);
    }

    if (status < 200 || status > 299) throw answerError(method, path, status, text);
    return text;
  }

  /** The headers by which a device reports itself on every call, for the owner's devices panel. */
  #deviceHeaders(context: DeviceCallContext): Record<string, string> {
    return {
      authorization: `Bearer ${context.accessToken}`,
      [DEVICE_APP_VERSION_HEADER]: this.#appVersion,
      [DEVICE_PENDING_HEADER]: String(context.pendingChanges),
      ...(typeof context.schemaVersion === 'number'
        ? { [DEVICE_SCHEMA_VERSION_HEADER]: String(context.schemaVersion) }
        : {}),
    };
  }

  /** A failed fetch: the caller's own abort as it is, anything else as the server being unreachable. */
  #networkError(url: string, error: unknown, timeoutMs: number, stop: AbortSignal | undefined): unknown {
    if (stop?.aborted) return stop.reason as unknown;
    const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    return new OfflineError(
      url,
      timedOut
        ? `The server at ${this.serverUrl} did not answer within ${timeoutMs / 1000} s`
        : `The server at ${this.serverUrl} cannot be reached (${describeNetworkError(error)})`,
      { cause: error },
    );
  }
}

/** The error of a 2xx answer that is not what the protocol says; `detail` names its first fault. */
function invalidAnswer(method: string, path: string, detail: string | undefined): ProtocolError {
  return new ProtocolError(
    502,
    'INVALID_RESPONSE',
    `The server's answer to ${method} ${path} is not what the protocol says${detail ? ` (${detail})` : ''}`,
  );
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The error of an answer that is not 2xx: the server's own `{error}` when it sent one. */
function answerError(method: string, path: string, status: number, text: string): ProtocolError {
  const json = parseJson(text);
  if (checks.error.Check(json)) return new ProtocolError(status, json.error.code, json.error.message);
  return new ProtocolError(
    status,
    status >= 500 ? 'INTERNAL' : 'INVALID_RESPONSE',
    `The server answered ${method} ${path} with HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`,
  );
}

/** Checks and normalizes a server URL (http or https, no trailing slash), or throws a `TypeError`. */
export function normalizeServerUrl(serverUrl: string): string {
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch {
    throw new TypeError(`"${serverUrl}" is not a server URL; give one such as http://127.0.0.1:8787`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`"${serverUrl}" is not an http or https URL`);
  }
  if (url.search || url.hash)
    throw new TypeError(`"${serverUrl}": give the server's base URL, without a query`);
  return url.toString().replace(/\/+$/, '');
}

function describeNetworkError(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  // node:http's own errors carry their code themselves.
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code !== 'ABORT_ERR') return code;
  return error instanceof Error ? error.message : String(error);
}

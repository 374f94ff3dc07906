import http from 'node:http';
import { randomUUID } from 'node:crypto';
import {
  formatStamp,
  isCounterDelta,
  type Change,
  type PullResponse,
  type PushResponse,
} from '@tillsync/protocol';
import type { LoadStats, RowLedger } from './load-stats.js';

const PUSH_ATTEMPTS = 5;

/** An answer that is not a 2xx, or no answer: its code for the error table. */
class RequestFailure extends Error {
  override readonly name = 'RequestFailure';
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Keeps each device's connection open between its calls, as a till's HTTP client does; node:http rather than
 * fetch, because the devices share the server's cores and fetch costs several times the CPU per call.
 */
const agent = new http.Agent({ keepAlive: true, maxFreeSockets: Number.MAX_SAFE_INTEGER });

/** Sends one request and answers the JSON body; anything but 2xx throws a {@link RequestFailure}. */
export function sendJson<T>(
  url: string,
  init: { method: 'GET' | 'POST'; body?: unknown; token?: string; timeoutMs: number },
): Promise<T> {
  const body = init.body === undefined ? undefined : JSON.stringify(init.body);
  const headers: http.OutgoingHttpHeaders = {};
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = Buffer.byteLength(body);
  }
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  return new Promise<T>((resolve, reject) => {
    const request = http.request(url, { method: init.method, headers, agent }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('error', (error: NodeJS.ErrnoException) => reject(networkFailure(url, error)));
      response.on('end', () => {
        clearTimeout(timer);
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolve(JSON.parse(text) as T);
          return;
        }
        let code = '';
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '';
        } catch {
          // Not JSON: the status alone names it.
        }
        reject(new RequestFailure(`${status} ${code}`.trim(), `${url} answered ${status}: ${text}`));
      });
    });
    const timer = setTimeout(() => {
      request.destroy();
      reject(new RequestFailure('TIMEOUT', `${url}: no answer in ${init.timeoutMs} ms`));
    }, init.timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(networkFailure(url, error));
    });
    request.end(body);
  });
}

function networkFailure(url: string, error: NodeJS.ErrnoException): RequestFailure {
  return new RequestFailure(error.code ?? 'NETWORK', `${url}: ${error.message}`);
}

/** What a device writes in one push, its stamps from `stamp`. */
export type PushWrites = (stamp: () => string) => Change[];

/** `count` new customers: what a till of a shop writes in one push. */
export function newCustomers(count: number): PushWrites {
  return (stamp) =>
    Array.from({ length: count }, () => ({
      table: 'customers',
      id: randomUUID(),
      op: 'upsert',
      updatedAt: stamp(),
      values: { name: 'Load test customer', phone: null, email: null },
    }));
}

/**
 * A device of a chain's store: the store it belongs to, and the column naming the store in each per-store
 * table. Every change it pulls of such a table must name its store.
 */
export interface DeviceScope {
  readonly storeId: string;
  readonly storeColumns: ReadonlyMap<string, string>;
}

/** What a device needs to know of its server and of the run. */
export interface SimulatedDeviceConfig {
  readonly serverUrl: string;
  readonly tenantId: string;
  readonly accessToken: string;
  readonly writes: PushWrites;
  readonly pullLimit: number;
  readonly timeoutMs: number;
  readonly stats: LoadStats;
  readonly ledger: RowLedger;
  /** Where its first pull starts: '' for a fresh snapshot, or the cursor of a till that holds the rows. */
  readonly cursor?: string;
  /** In a chain: its store, checked on every pulled change. */
  readonly scope?: DeviceScope;
}

/**
 * A till as the server sees it: each cycle pushes a few new rows and pulls what changed to the end. A push
 * that gets no answer is sent again with the same pushId (the server answers a retry from what it stored),
 * so every row ends acknowledged, refused, or, after the last attempt, unresolved.
 */
export class SimulatedDevice {
  readonly #config: SimulatedDeviceConfig;
  readonly #nodeId = `load${randomUUID().slice(0, 8)}`;
  #cursor: string;
  #lastMs = 0;
  #counter = 0;

  constructor(config: SimulatedDeviceConfig) {
    this.#config = config;
    this.#cursor = config.cursor ?? '';
  }

  /** One sync cycle; failures are counted, never thrown. */
  async cycle(): Promise<void> {
    const { stats } = this.#config;
    const started = performance.now();
    const pushed = await this.#push();
    const pulled = await this.#pullToEnd();
    if (pushed && pulled) {
      stats.cycles += 1;
      stats.record('cycle', performance.now() - started);
    }
  }

  #stamp(): string {
    const now = Date.now();
    if (now > this.#lastMs) [this.#lastMs, this.#counter] = [now, 0];
    else this.#counter += 1;
    return formatStamp({ ms: this.#lastMs, counter: this.#counter, nodeId: this.#nodeId });
  }

  async #push(): Promise<boolean> {
    const { stats, ledger, tenantId } = this.#config;
    const changes = this.#config.writes(() => this.#stamp());
    const body = { pushId: randomUUID(), changes };
    for (let attempt = 1; attempt <= PUSH_ATTEMPTS; attempt++) {
      const started = performance.now();
      try {
        stats.requests += 1;
        const answer = await sendJson<PushResponse>(`${this.#config.serverUrl}/api/sync/push`, {
          method: 'POST',
          body,
          token: this.#config.accessToken,
          timeoutMs: this.#config.timeoutMs,
        });
        stats.record('push', performance.now() - started);
        answer.results.forEach((result, index) => {
          const change = changes[index];
          if (change) ledger.answered(tenantId, change, result.status);
          if (result.status === 'applied') stats.pushedRows += 1;
          // Tills of one store take stock from one stock_levels row: a change of it with an older stamp
          // is stale, and its delta is added all the same.
          else if (result.status !== 'stale' || !change || !hasDelta(change))
            stats.fail(
              `push result ${result.status}${result.status === 'rejected' ? ` ${result.error.code}` : ''}`,
            );
        });
        return true;
      } catch (error) {
        stats.fail(error instanceof RequestFailure ? error.code : String(error));
        // A refusal of the request itself will not change on a retry (a timeout or a busy server may).
        if (error instanceof RequestFailure && /^4(?!08|29)\d\d/.test(error.code)) break;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
    for (const change of changes) ledger.unanswered(tenantId, change);
    return false;
  }

  /** Counts every pulled change of another store than this device's (a leak between stores). */
  #checkScope(page: PullResponse): void {
    const { scope, stats } = this.#config;
    if (scope) stats.outOfScope += countOutOfScope(page, scope);
  }

  async #pullToEnd(): Promise<boolean> {
    const { stats } = this.#config;
    for (;;) {
      const started = performance.now();
      try {
        stats.requests += 1;
        const page = await sendJson<PullResponse>(
          `${this.#config.serverUrl}/api/sync/pull?limit=${this.#config.pullLimit}&since=${encodeURIComponent(this.#cursor)}`,
          { method: 'GET', token: this.#config.accessToken, timeoutMs: this.#config.timeoutMs },
        );
        stats.record('pull', performance.now() - started);
        stats.pulledRows += page.changes.length;
        this.#checkScope(page);
        this.#cursor = page.cursor;
        if (!page.hasMore) return true;
      } catch (error) {
        stats.fail(error instanceof RequestFailure ? error.code : String(error));
        if (error instanceof RequestFailure && error.code.startsWith('410')) this.#cursor = '';
        return false;
      }
    }
  }
}

/**
 * The changes of a pull page that are not in `scope`: a per-store table's change naming another store, or
 * all of them when the page is for another store.
 */
export function countOutOfScope(page: PullResponse, scope: DeviceScope): number {
  if (page.storeId !== scope.storeId) return page.changes.length;
  let outside = 0;
  for (const change of page.changes) {
    const column = scope.storeColumns.get(change.table);
    if (column === undefined) continue;
    // The run deletes nothing and moves nothing: a per-store change without values is one it never made.
    if (change.op !== 'upsert' || change.values?.[column] !== scope.storeId) outside += 1;
  }
  return outside;
}

function hasDelta(change: Change): boolean {
  return Object.values(change.values ?? {}).some(isCounterDelta);
}

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  ErrorBody,
  LoginResponse,
  PairResponse,
  PairingCodeResponse,
  PullResponse,
  PushResponse,
  RefreshResponse,
  addToChecksum,
  checksumTerm,
  formatChecksum,
  formatStamp,
  type Change,
  type ErrorDetail,
  type TableChecksum,
} from '@tillsync/protocol';
import {
  openStorage,
  startServer,
  type RunningServer,
  type ServerOptions,
  type Storage,
} from '@tillsync/server';
import { expect, onTestFinished } from 'vitest';

/** The owner every test server creates on its empty database. */
export const ADMIN_EMAIL = 'owner@shop.test';
export const ADMIN_PASSWORD = 'correct horse battery staple';

/** A fresh temp folder, removed when the test ends. */
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-'));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A clock that stands still until a test moves it, so time-based rules are tested without waiting. */
export class TestClock {
  #ms: number;

  constructor(startMs: number = Date.now()) {
    this.#ms = startMs;
  }

  readonly now = (): number => this.#ms;

  advance(ms: number): void {
    this.#ms += ms;
  }
}

/** Makes a node's stamps (PROTOCOL.md §1) from a clock: each larger than the one before. */
export class Stamper {
  readonly nodeId: string;
  readonly #now: () => number;
  #ms = 0;
  #counter = 0;

  constructor(nodeId: string, now: () => number) {
    this.nodeId = nodeId;
    this.#now = now;
  }

  next(): string {
    const wall = this.#now();
    if (wall > this.#ms) {
      this.#ms = wall;
      this.#counter = 0;
    } else {
      this.#counter += 1;
    }
    return formatStamp({ ms: this.#ms, counter: this.#counter, nodeId: this.nodeId });
  }

  /** A stamp of this node at a chosen time: a write made offline long ago, or by a clock running ahead. */
  at(ms: number, counter = 0): string {
    return formatStamp({ ms, counter, nodeId: this.nodeId });
  }
}

/** An HTTP answer: status and parsed JSON body (the raw text when it is not JSON, undefined when empty). */
export interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

export interface RequestOptions {
  readonly token?: string;
  /** A value sent as JSON. */
  readonly json?: unknown;
  /** A body sent as it is, with a JSON content type unless `headers` says otherwise. */
  readonly raw?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Connections kept open between requests, as a device's client keeps them. `node:http` rather than `fetch`:
 * the fuzz sends hundreds of thousands of requests, and `fetch`'s streams cost the test more than the
 * server's work on a request.
 */
const keepAlive = new http.Agent({ keepAlive: true });

export function request(
  baseUrl: string,
  method: string,
  pathname: string,
  options: RequestOptions = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (options.json !== undefined || options.raw !== undefined) {
    headers['content-type'] = 'application/json';
    body = options.raw ?? JSON.stringify(options.json);
  }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  Object.assign(headers, options.headers);
  return new Promise((resolve, reject) => {
    const sent = http.request(
      new URL(baseUrl + pathname),
      { method, headers, agent: keepAlive },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text === '' ? undefined : text;
          try {
            parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
          } catch {
            // Left as text, so a test sees what a non-JSON answer said.
          }
          const answerHeaders = new Headers();
          for (let index = 0; index < response.rawHeaders.length; index += 2)
            answerHeaders.append(response.rawHeaders[index]!, response.rawHeaders[index + 1]!);
          resolve({ status: response.statusCode ?? 0, body: parsed, headers: answerHeaders });
        });
      },
    );
    sent.on('error', reject);
    sent.end(body);
  });
}

/** Asserts that a value fits a wire schema and returns it typed. */
export function expectShape<T extends TSchema>(schema: T, value: unknown): Static<T> {
  if (!Value.Check(schema, value)) {
    const problems = [...Value.Errors(schema, value)]
      .slice(0, 5)
      .map((error) => `${error.path} ${error.message}`);
    throw new Error(
      `not of the expected shape (${problems.join('; ')}): ${JSON.stringify(value)?.slice(0, 500)}`,
    );
  }
  return value;
}

/** Asserts an answer is the error `{"error": {"code", "message"}}` with this status and code. */
export function expectError(answer: Answer, status: number, code: string): ErrorDetail {
  expect({ status: answer.status, body: answer.body }).toMatchObject({ status, body: { error: { code } } });
  const { error } = expectShape(ErrorBody, answer.body);
  expect(error.message.length).toBeGreaterThan(10);
  return error;
}

export function expectOk<T extends TSchema>(answer: Answer, schema: T, status = 200): Static<T> {
  expect({ status: answer.status, body: answer.body }).toMatchObject({ status });
  return expectShape(schema, answer.body);
}

export async function login(baseUrl: string, email: string, password: string): Promise<LoginResponse> {
  return expectOk(
    await request(baseUrl, 'POST', '/api/auth/login', { json: { email, password } }),
    LoginResponse,
  );
}

export async function newPairingCode(baseUrl: string, ownerToken: string): Promise<string> {
  const answer = await request(baseUrl, 'POST', '/api/pairing-codes', { token: ownerToken, json: {} });
  return expectOk(answer, PairingCodeResponse, 201).code;
}

export async function pair(
  baseUrl: string,
  ownerToken: string,
  name: string,
  platform = 'test',
): Promise<PairResponse> {
  const code = await newPairingCode(baseUrl, ownerToken);
  const answer = await request(baseUrl, 'POST', '/api/devices/pair', { json: { code, name, platform } });
  return expectOk(answer, PairResponse, 201);
}

export async function push(
  baseUrl: string,
  token: string,
  changes: readonly Change[],
  pushId: string = randomUUID(),
): Promise<PushResponse> {
  const answer = await request(baseUrl, 'POST', '/api/sync/push', { token, json: { pushId, changes } });
  const response = expectOk(answer, PushResponse);
  expect(response.results).toHaveLength(changes.length);
  return response;
}

export async function pull(
  baseUrl: string,
  token: string,
  since: string,
  limit?: number,
): Promise<PullResponse> {
  const query = new URLSearchParams({ since });
  if (limit !== undefined) query.set('limit', String(limit));
  return expectOk(
    await request(baseUrl, 'GET', `/api/sync/pull?${query.toString()}`, { token }),
    PullResponse,
  );
}

export type PulledChange = PullResponse['changes'][number];

/** Everything a device gets by paging from `since` until `hasMore` is false. */
export interface PullAll {
  readonly changes: PulledChange[];
  readonly pages: PullResponse[];
  readonly cursor: string;
  readonly checksums: Record<string, TableChecksum>;
}

/**
 * Pages until `hasMore` is false, checking on the way what every page must hold: no row twice in a page,
 * no more than `limit` changes, and checksums on the last page.
 */
export async function pullAll(baseUrl: string, token: string, since = '', limit?: number): Promise<PullAll> {
  const pages: PullResponse[] = [];
  const changes: PulledChange[] = [];
  let cursor = since;
  for (;;) {
    const page = await pull(baseUrl, token, cursor, limit);
    pages.push(page);
    const keys = page.changes.map((change) => `${change.table}/${change.id}`);
    expect(new Set(keys).size, 'a row appears at most once in a page').toBe(keys.length);
    if (limit !== undefined) expect(page.changes.length).toBeLessThanOrEqual(limit);
    changes.push(...page.changes);
    cursor = page.cursor;
    if (!page.hasMore) {
      expect(page.checksums, 'the last page carries checksums').toBeDefined();
      return { changes, pages, cursor, checksums: page.checksums ?? {} };
    }
    expect(pages.length, 'paging ends').toBeLessThan(10_000);
  }
}

/** A device's copy of the synced rows, built by applying pulled changes in order. */
export class Replica {
  readonly rows = new Map<string, PulledChange>();

  apply(changes: readonly PulledChange[]): this {
    for (const change of changes) this.rows.set(`${change.table}/${change.id}`, change);
    return this;
  }

  get(table: string, id: string): PulledChange | undefined {
    return this.rows.get(`${table}/${id}`);
  }

  live(): PulledChange[] {
    return [...this.rows.values()].filter((row) => row.op === 'upsert');
  }

  /** The checksums of PROTOCOL.md §2 computed from scratch over the live rows, for these tables. */
  checksums(tables: readonly string[]): Record<string, TableChecksum> {
    return checksumsOf(this.live(), tables);
  }
}

/** Table checksums computed from scratch; every named table is present, empty ones with count 0. */
export function checksumsOf(
  liveRows: Iterable<{ readonly table: string; readonly id: string; readonly updatedAt: string }>,
  tables: readonly string[],
): Record<string, TableChecksum> {
  const sums = new Map<string, { count: number; sum: bigint }>(
    tables.map((table) => [table, { count: 0, sum: 0n }]),
  );
  for (const row of liveRows) {
    const entry = sums.get(row.table) ?? { count: 0, sum: 0n };
    entry.count += 1;
    entry.sum = addToChecksum(entry.sum, checksumTerm(row.id, row.updatedAt));
    sums.set(row.table, entry);
  }
  return Object.fromEntries(
    [...sums].map(([table, { count, sum }]) => [table, { count, sum: formatChecksum(sum) }]),
  );
}

/** A paired device: its tokens, its stamps, and push/pull with its token. */
export class TestDevice {
  readonly baseUrl: string;
  readonly deviceId: string;
  readonly tenantId: string;
  readonly stamps: Stamper;
  accessToken: string;
  refreshToken: string;
  /** The cursor after the last {@link pullAll}. */
  cursor = '';

  constructor(baseUrl: string, paired: PairResponse, nodeId: string, now: () => number) {
    this.baseUrl = baseUrl;
    this.deviceId = paired.deviceId;
    this.tenantId = paired.tenantId;
    this.accessToken = paired.accessToken;
    this.refreshToken = paired.refreshToken;
    this.stamps = new Stamper(nodeId, now);
  }

  upsert(table: string, id: string, values: Record<string, unknown>, updatedAt = this.stamps.next()): Change {
    return { table, id, op: 'upsert', updatedAt, values };
  }

  delete(table: string, id: string, updatedAt = this.stamps.next()): Change {
    return { table, id, op: 'delete', updatedAt };
  }

  push(changes: readonly Change[], pushId?: string): Promise<PushResponse> {
    return push(this.baseUrl, this.accessToken, changes, pushId);
  }

  /** Pages from its own cursor (or `since`) to the end and moves its cursor there. */
  async pullAll(options: { since?: string; limit?: number } = {}): Promise<PullAll> {
    const result = await pullAll(this.baseUrl, this.accessToken, options.since ?? this.cursor, options.limit);
    this.cursor = result.cursor;
    return result;
  }

  request(method: string, pathname: string, options: Omit<RequestOptions, 'token'> = {}): Promise<Answer> {
    return request(this.baseUrl, method, pathname, { ...options, token: this.accessToken });
  }

  async refresh(): Promise<RefreshResponse> {
    const answer = await request(this.baseUrl, 'POST', '/api/auth/refresh', {
      json: { refreshToken: this.refreshToken },
    });
    const tokens = expectOk(answer, RefreshResponse);
    this.accessToken = tokens.accessToken;
    this.refreshToken = tokens.refreshToken;
    return tokens;
  }
}

export type TestServerOptions = Omit<ServerOptions, 'dbPath' | 'port' | 'logger' | 'now'> & {
  /** @defaultValue a {@link TestClock} standing at the real time */
  readonly clock?: TestClock;
  /** @defaultValue a fresh temp folder's `cloud.db` */
  readonly dbPath?: string;
};

/** A real server on a fresh SQLite file, listening on 127.0.0.1 on a free port, stopped when the test ends. */
export interface TestServer {
  readonly server: RunningServer;
  readonly url: string;
  readonly dbPath: string;
  readonly clock: TestClock;
  /** The tenant created from the admin settings, and its owner's session token. */
  readonly tenantId: string;
  readonly ownerToken: string;
  /** Pairs a new device of the first tenant; `nodeId` names its stamps. */
  pair(nodeId: string, ownerToken?: string): Promise<TestDevice>;
  /**
   * Creates another tenant and logs its owner in: the one whose data the first tenant must never see. Each
   * further tenant needs an `email` of its own.
   */
  otherTenantOwner(email?: string): Promise<LoginResponse>;
  close(): Promise<void>;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const clock = options.clock ?? new TestClock();
  const dbPath = options.dbPath ?? path.join(tempDir(), 'cloud.db');
  const { clock: _clock, dbPath: _dbPath, ...serverOptions } = options;
  const server = await startServer({
    adminEmail: ADMIN_EMAIL,
    adminPassword: ADMIN_PASSWORD,
    ...serverOptions,
    dbPath,
    port: 0,
    host: '127.0.0.1',
    logger: false,
    now: clock.now,
  });
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await server.close();
  };
  onTestFinished(close);
  try {
    const owner = await login(server.url, ADMIN_EMAIL, ADMIN_PASSWORD);
    return {
      server,
      url: server.url,
      dbPath,
      clock,
      tenantId: owner.tenantId,
      ownerToken: owner.token,
      async pair(nodeId, ownerToken = owner.token) {
        return new TestDevice(server.url, await pair(server.url, ownerToken, nodeId), nodeId, clock.now);
      },
      async otherTenantOwner(email = 'other@shop.test') {
        const password = 'another long password';
        await server.accounts.createTenant({ name: 'Other shop', email, password });
        return login(server.url, email, password);
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Storage on a SQLite file at `dbPath` holding one tenant, "Shop", closed when the test ends. */
export async function storageWithShop(dbPath: string): Promise<{ storage: Storage; tenantId: string }> {
  const storage = await openStorage({ dbPath });
  onTestFinished(() => storage.close());
  const { tenantId } = await storage.accounts.createTenant({
    name: 'Shop',
    email: 'o@shop.test',
    passwordHash: 'x',
  });
  return { storage, tenantId };
}

/** A new row id. */
export const newId = (): string => randomUUID();

/** The values of a product of the built-in schema, with a unique sku unless one is given. */
export function productValues(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sku: `SKU-${randomUUID().slice(0, 8)}`,
    name: 'Apple',
    price_cents: 120,
    stock: 10,
    category_id: null,
    active: 1,
    ...overrides,
  };
}

/** The tables of the built-in schema, for checksums. */
export const SHOP_TABLES = [
  'categories',
  'products',
  'customers',
  'sales',
  'sale_items',
  'daily_sales',
] as const;

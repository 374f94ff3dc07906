import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  CHAIN_SCHEMA,
  SHOP_SCHEMA,
  formatStamp,
  storeColumnOf,
  type PullResponse,
  type PushRequest,
  type PushResponse,
  type SyncSchema,
} from '@tillsync/protocol';
import { rowKey, startServer, type RunningServer, type ServerOptions } from '@tillsync/server';
import {
  LegacyBridgeRunner,
  createSyncClient,
  withLegacyBridge,
  type FetchFunction,
  type SyncClient,
  type SyncLogEntry,
  type SyncWorkerClient,
} from '@tillsync/client';
import { chainJobTypes } from './chain-jobs.js';
import { Disk } from './disk.js';
import { DeviceKnowledge } from './knowledge.js';

/**
 * The simulated world: one real server (the real Fastify app on a real SQLite file) and N devices (real
 * `SyncClient`s on real SQLite files), on a network that the simulation controls. Every request a device
 * makes goes through {@link World.fetchFor}, which hands it to the server's app in process (`inject`) or
 * does something worse to it. Time is virtual: the server's clock, every device's clock (plus its skew) and
 * the capture triggers' `julianday('now')` all read {@link World.time}. The files lie on a simulated disk
 * (`disk.ts`), so that a crash may also be a power cut, which loses what SQLite had not synced.
 */

/** Where every simulated day starts: a fixed instant, so stamps and token expiries replay. */
export const START_MS = Date.parse('2026-03-02T09:00:00.000Z');
/** The devices' access tokens live this long, so a simulated time jump can expire them mid-cycle. */
export const ACCESS_TOKEN_TTL_SEC = 600;
/** The most devices a seed may have; the template pairs this many once per process. */
export const MAX_DEVICES = 4;
/** The URL the devices were paired with; no socket listens there, the simulation routes it. */
const SERVER_URL = 'http://tillsync-server.simulation';
const OWNER_EMAIL = 'owner@shop.simulation';
const OWNER_PASSWORD = 'simulated owner password';
const OWNER_LOGIN = { email: OWNER_EMAIL, password: OWNER_PASSWORD };

/** One request as it left a device, kept whole so that it can be delivered late or twice. */
export interface WireRequest {
  readonly deviceIndex: number;
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
}

/** The server's answer to a {@link WireRequest}. */
export interface WireAnswer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
}

/** What the network does to one request. */
export type NetworkFault =
  | 'deliver'
  | 'drop-request'
  | 'drop-answer'
  | 'duplicate'
  | 'delay'
  | 'crash-before-send'
  | 'crash-before-answer'
  | 'expire-token'
  | 'restart-server'
  | 'write-meanwhile';

/** Decides the fate of each request; called in the order the devices send them. */
export interface NetworkPolicy {
  decide(request: WireRequest): NetworkFault;
  /** A write on the device while its request is on the wire (a till selling during a sync). */
  writeMeanwhile(deviceIndex: number): void;
  /** Whether the crash about to happen (of a device or the server) is a power cut that also loses what was not synced. */
  powerCut(): boolean;
}

/** A push the device heard the answer to: the writes the server acknowledged. */
export interface HeardPush {
  readonly deviceIndex: number;
  readonly requestBody: string;
  readonly answerBody: string;
  /** When the push left the device, in {@link World.knowledge}'s order of events. */
  readonly sentAt: number;
}

/**
 * Which shop a seed simulates: `shop`, the single-shop schema (PROTOCOL.md §3) with every device in one
 * store; `chain`, the chain schema (§7) with two stores, the devices paired into them in turn.
 */
export type WorldKind = 'shop' | 'chain';

/** One kind of world's files: the server database and paired device files, copied for each seed. */
export interface WorldTemplate {
  readonly kind: WorldKind;
  readonly folder: string;
  readonly tenantId: string;
  /** The tenant's stores, the first store first; device `i` was paired into store `i % stores.length`. */
  readonly stores: readonly string[];
}

/** The ready worlds of every kind, made once per process. */
export interface Template {
  readonly folder: string;
  readonly shop: WorldTemplate;
  readonly chain: WorldTemplate;
}

/**
 * Where the simulation's files go: memory-backed `/dev/shm` where there is one (the files are real SQLite
 * files all the same, but a durable write there costs no disk flush), else the system's temp folder.
 */
function tempRoot(): string {
  const shm = '/dev/shm';
  try {
    fs.accessSync(shm, fs.constants.W_OK);
    return shm;
  } catch {
    return os.tmpdir();
  }
}

/** Makes the template once: for each kind, a server with its owner, and {@link MAX_DEVICES} paired device files. */
export async function makeTemplate(): Promise<Template> {
  const folder = fs.mkdtempSync(path.join(tempRoot(), 'tillsync-simulation-template-'));
  try {
    const shop = await makeWorldTemplate('shop', path.join(folder, 'shop'));
    const chain = await makeWorldTemplate('chain', path.join(folder, 'chain'));
    return { folder, shop, chain };
  } catch (error) {
    fs.rmSync(folder, { recursive: true, force: true });
    throw error;
  }
}

async function makeWorldTemplate(kind: WorldKind, folder: string): Promise<WorldTemplate> {
  fs.mkdirSync(folder);
  const dbPath = path.join(folder, 'cloud.db');
  let time = START_MS;
  let stores: readonly string[] = [];
  // The chain's job types need its stores, which the server makes first: it starts again once they are made.
  let server = await startServer(serverOptions(dbPath, () => time, kind, stores));
  try {
    const fetch = injectFetch(
      () => server.app,
      () => {},
    );
    let token = '';
    const owner = async <T>(method: string, route: string, body?: unknown): Promise<T> => {
      const answer = await deliver(server.app, ownerRequest(method, route, body, token));
      if (answer.status >= 300)
        throw new Error(`${method} ${route} answered ${answer.status}: ${answer.body}`);
      return JSON.parse(answer.body) as T;
    };
    token = (await owner<{ token: string }>('POST', '/api/auth/login', OWNER_LOGIN)).token;
    if (kind === 'chain') {
      await owner('POST', '/api/stores', { name: 'Harbour Road' });
      stores = (await owner<{ id: string }[]>('GET', '/api/stores')).map((store) => store.id);
      await server.close();
      server = await startServer(serverOptions(dbPath, () => time, kind, stores));
      token = (await owner<{ token: string }>('POST', '/api/auth/login', OWNER_LOGIN)).token;
    }
    let tenantId = '';
    const clients: SyncClient[] = [];
    for (let index = 0; index < MAX_DEVICES; index++) {
      const storeId = stores[index % stores.length];
      const { code } = await owner<{ code: string }>(
        'POST',
        '/api/pairing-codes',
        storeId ? { storeId } : {},
      );
      const client = createSyncClient({
        dbPath: deviceFile(folder, index),
        serverUrl: SERVER_URL,
        fetch,
        now: () => time,
      });
      const paired = await client.pair(code, { name: `till-${index}`, platform: 'simulation' });
      tenantId = paired.tenantId;
      // Node ids name the devices in order, so a tie between two stamps of the same millisecond and
      // counter is broken alike in every replay (the server's device ids are random).
      client.database
        .prepare('UPDATE _sync_clock SET node = ?')
        .run(`00000000000${index.toString(16)}`.slice(-12));
      // The capture triggers stamp with the simulated clock, as on every device of a seed.
      readClock(client.database, () => time);
      clients.push(client);
      time += 1000;
    }
    // A chain opens with a small catalogue, each product counted in every store, that every till holds, so
    // that short schedules sell, count and move sales from their first steps.
    if (kind === 'chain') await openChain(clients, () => (time += 1000));
    for (const client of clients) await client.close();
    return { kind, folder, tenantId, stores };
  } finally {
    await server.close();
  }
}

/** The chain's opening catalogue, written on the first till; every till then syncs it and its store's levels. */
async function openChain(clients: readonly SyncClient[], tick: () => void): Promise<void> {
  const [first] = clients;
  if (!first) return;
  const db = first.database;
  db.prepare(
    "INSERT INTO categories (id, name) VALUES ('01900000-0000-7000-8000-00000000c001', 'Fruit')",
  ).run();
  for (const [n, name] of ['Apples', 'Pears', 'Plums'].entries())
    db.prepare(
      "INSERT INTO products (id, sku, name, price_cents, category_id) VALUES (?, ?, ?, ?, '01900000-0000-7000-8000-00000000c001')",
    ).run(`01900000-0000-7000-8000-00000000b00${n}`, `SKU-${name}`, name, 100 + n * 50);
  db.prepare("INSERT INTO customers (id, name) VALUES ('01900000-0000-7000-8000-00000000a001', 'Ada')").run();
  for (const client of [...clients, ...clients]) {
    tick();
    const entry = await client.runCycle({ trigger: 'manual' });
    if (!entry.ok || entry.rejected.length > 0)
      throw new Error(`the chain's opening sync failed: ${entry.error ?? JSON.stringify(entry.rejected)}`);
  }
  for (const client of clients) {
    const levels = client.database.prepare('SELECT count(*) AS n FROM stock_levels').get() as { n: number };
    if (levels.n !== 3) throw new Error(`a till holds ${levels.n} of its store's 3 opening stock levels`);
  }
}

export function removeTemplate(template: Template): void {
  fs.rmSync(template.folder, { recursive: true, force: true });
}

function deviceFile(folder: string, index: number): string {
  return path.join(folder, `device-${index}.db`);
}

/**
 * The shop's schema as the simulated server serves it: the built-in one, with categories under categories
 * (an optional self-reference, which the shop program's database has: legacy-program.ts).
 */
export const SIMULATION_SCHEMA: SyncSchema = {
  ...SHOP_SCHEMA,
  tables: {
    ...SHOP_SCHEMA.tables,
    categories: {
      ...SHOP_SCHEMA.tables.categories,
      columns: {
        ...SHOP_SCHEMA.tables.categories?.columns,
        parent_id: { type: 'text', references: 'categories' },
      },
    },
  },
};

/**
 * A schema at its second version: an additive change (PROTOCOL.md §2, schema), a new optional column
 * (`products.barcode`), that the simulation rolls out in the middle of a schedule while some tills are
 * offline.
 */
function withBarcode(schema: SyncSchema): SyncSchema {
  return {
    version: schema.version + 1,
    tables: {
      ...schema.tables,
      products: {
        ...schema.tables.products,
        columns: { ...schema.tables.products?.columns, barcode: { type: 'text' } },
      },
    },
  };
}

/** The shop's schema at its second version. */
export const SHOP_SCHEMA_V2: SyncSchema = withBarcode(SIMULATION_SCHEMA);

/** The chain's schema as the simulated server serves it: the built-in one (PROTOCOL.md §7). */
export const CHAIN_SIMULATION_SCHEMA: SyncSchema = CHAIN_SCHEMA;

/** Each kind's schema, at its first version and its second. */
const SCHEMAS: Readonly<Record<WorldKind, readonly [SyncSchema, SyncSchema]>> = {
  shop: [SIMULATION_SCHEMA, SHOP_SCHEMA_V2],
  chain: [CHAIN_SIMULATION_SCHEMA, withBarcode(CHAIN_SIMULATION_SCHEMA)],
};

function serverOptions(
  dbPath: string,
  now: () => number,
  kind: WorldKind,
  stores: readonly string[],
  schema: SyncSchema = SCHEMAS[kind][0],
): ServerOptions {
  return {
    dbPath,
    schema,
    port: 0,
    host: '127.0.0.1',
    adminEmail: OWNER_EMAIL,
    adminPassword: OWNER_PASSWORD,
    accessTokenTtlSec: ACCESS_TOKEN_TTL_SEC,
    logger: false,
    now,
    // A stopping server waits for its job queue's poll; a short one keeps restarts quick.
    jobs: { pollIntervalMs: 20, ...(kind === 'chain' ? { types: chainJobTypes(stores) } : {}) },
  };
}

/** A request of the owner's (`token` from a login), as the dashboard sends it. */
function ownerRequest(method: string, route: string, body: unknown, token: string): WireRequest {
  return {
    deviceIndex: -1,
    method,
    path: route,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  };
}

/** A `fetch` that hands each request to the server's app in process. */
function injectFetch(app: () => RunningServer['app'], onAnswer: (answer: WireAnswer) => void): FetchFunction {
  return async (input, init) => {
    const answer = await deliver(app(), toWireRequest(-1, input, init));
    onAnswer(answer);
    return toResponse(answer);
  };
}

function toWireRequest(deviceIndex: number, input: string, init: RequestInit): WireRequest {
  const url = new URL(input);
  return {
    deviceIndex,
    method: init.method ?? 'GET',
    path: url.pathname + url.search,
    headers: { ...(init.headers as Record<string, string> | undefined) },
    body: typeof init.body === 'string' ? init.body : undefined,
  };
}

async function deliver(app: RunningServer['app'], request: WireRequest): Promise<WireAnswer> {
  const answer = await app.inject({
    method: request.method as 'GET' | 'POST',
    url: request.path,
    headers: request.headers,
    ...(request.body !== undefined ? { payload: request.body } : {}),
  });
  const contentType = answer.headers['content-type'];
  return {
    status: answer.statusCode,
    contentType: typeof contentType === 'string' ? contentType : undefined,
    body: answer.payload,
  };
}

function toResponse(answer: WireAnswer): Response {
  const empty = answer.status === 204 || answer.status === 304;
  return new Response(empty ? null : answer.body, {
    status: answer.status,
    headers: answer.contentType ? { 'content-type': answer.contentType } : {},
  });
}

/** How a device's sync cycle ended: its log entry, or a crash the simulation made. */
export type CycleEnd = { readonly entry: SyncLogEntry } | { readonly crashed: true };

/** One device: its file, its clock's skew, and the client process now running on it (or none). */
export class SimDevice {
  readonly index: number;
  readonly dbPath: string;
  /** How far this device's clock is from the true (server) time, in ms. */
  skewMs = 0;
  /** Counts the writes the sync makes while applying, to crash inside the n-th. */
  applyCrashCountdown: number | null = null;
  /**
   * Whether a shop program's database is attached to this device's file (legacy-program.ts): then every
   * cycle runs framed by the bridge, as the device agent runs it. Set by {@link bridge}.
   */
  bridged = false;
  /** The store the owner put this device in (PROTOCOL.md §7); null in a single shop's world. */
  storeId: string | null;
  #client: SyncClient | null = null;
  #bridge: LegacyBridgeRunner | null = null;
  #crash: (() => void) | null = null;
  readonly #world: World;

  constructor(world: World, index: number, dbPath: string, storeId: string | null) {
    this.#world = world;
    this.index = index;
    this.dbPath = dbPath;
    this.storeId = storeId;
  }

  /** The running client; opened from the file when the device is down. */
  get client(): SyncClient {
    this.#client ??= this.#open();
    return this.#client;
  }

  now(): number {
    return this.#world.time + this.skewMs;
  }

  /**
   * Makes this the till whose file a shop program's database is attached to: its cycles run framed by the
   * bridge, and every connection opened on its file (the bridge's, an attach's) stamps with its clock.
   */
  bridge(): void {
    this.bridged = true;
    stampWithClock(this.dbPath, () => this.now());
  }

  /** Runs one cycle, or reports the crash the network or an apply made in the middle of it. */
  async runCycle(pullOnly: boolean): Promise<CycleEnd> {
    const client = this.client;
    const crashed = new Promise<CycleEnd>((resolve) => {
      this.#crash = () => resolve({ crashed: true });
    });
    const cycle = this.#bridged(client)
      .runCycle({ trigger: 'manual', ...(pullOnly ? { pullOnly: true } : {}) })
      .then((entry): CycleEnd => ({ entry }));
    // The crashed client's cycle may still fail on its closed file; that is the crash, not news.
    cycle.catch(() => {});
    const end = await Promise.race([cycle, crashed]);
    this.#crash = null;
    this.applyCrashCountdown = null;
    return end;
  }

  /** How many commits the device's file has seen: the mark of a write made just now. */
  commitMark(): number {
    return this.#world.disk.mark(this.dbPath);
  }

  /**
   * The process dies here: its connection closes at once, so nothing it would do next reaches the file;
   * what it committed stays, unless the power went too (`powerCut`): then the commits SQLite had not synced
   * are gone as well. The next use opens the file again, as a restarted process would.
   */
  crashNow(powerCut = false): void {
    const client = this.#client;
    if (!client) return;
    this.#client = null;
    if (powerCut) this.#world.cutDevicePower(this);
    // Closed before the abandoned cycle gets another turn of the event loop.
    client.database.close();
    const bridge = this.#bridge;
    this.#bridge = null;
    void bridge?.close();
    const crash = this.#crash;
    this.#crash = null;
    crash?.();
  }

  /**
   * Pairs the device file again, as the owner does for a till whose session ended: its rows and unsent
   * changes stay, and it keeps its node id.
   */
  async pairAgain(): Promise<void> {
    const client = this.client;
    const nodeId = (client.database.prepare('SELECT node FROM _sync_clock').get() as { node: string }).node;
    await client.pair(await this.#world.pairingCode(this.storeId), {
      name: `till-${this.index}`,
      platform: 'simulation',
    });
    client.database.prepare('UPDATE _sync_clock SET node = ?').run(nodeId);
  }

  /** A clean stop between cycles (the app closed), opened again on next use. */
  async stop(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    await client?.close();
    const bridge = this.#bridge;
    this.#bridge = null;
    await bridge?.close();
  }

  /**
   * The client as the cycle runs it: for a bridged device, framed by the bridge (`withLegacyBridge`), whose
   * part after the cycle never runs once the device crashed in it (the process is gone).
   */
  #bridged(client: SyncClient): SyncWorkerClient {
    if (!this.bridged) return client;
    this.#bridge ??= new LegacyBridgeRunner({ dbPath: this.dbPath });
    const unlessCrashed: SyncWorkerClient = {
      get status() {
        return client.status;
      },
      get lastCycle() {
        return client.lastCycle;
      },
      runCycle: async (request) => {
        const entry = await client.runCycle(request);
        return this.#client === client ? entry : never<SyncLogEntry>();
      },
      openChangeStream: (signal) => client.openChangeStream(signal),
    };
    return withLegacyBridge(unlessCrashed, this.#bridge);
  }

  #open(): SyncClient {
    const client = createSyncClient({
      dbPath: this.dbPath,
      fetch: this.#world.fetchFor(this.index),
      now: () => this.now(),
      pushBatchSize: this.#world.settings.pushBatchSize,
      pullPageSize: this.#world.settings.pullPageSize,
      applyBatchSize: this.#world.settings.applyBatchSize,
    });
    const db = client.database;
    // The capture triggers stamp with SQLite's clock; this file's connection reads the device's instead.
    readClock(db, () => this.now());
    db.function('simulation_apply_point', { deterministic: false }, () => {
      if (this.applyCrashCountdown === null) return 0;
      this.applyCrashCountdown -= 1;
      if (this.applyCrashCountdown > 0) return 0;
      this.applyCrashCountdown = null;
      this.#world.note(`device ${this.index} crashes inside an apply transaction`);
      // Thrown inside the transaction, so SQLite rolls it back as it would for a killed process; the
      // connection closes as soon as the stack unwinds.
      const powerCut = this.#world.policy?.powerCut() ?? false;
      queueMicrotask(() => this.crashNow(powerCut));
      throw new Error('simulated crash inside an apply transaction');
    });
    for (const table of Object.keys(this.#world.schema.tables)) {
      for (const event of ['INSERT', 'UPDATE', 'DELETE']) {
        db.exec(
          `CREATE TEMP TRIGGER IF NOT EXISTS simulation_${table}_${event.toLowerCase()} AFTER ${event} ON main."${table}"
           WHEN (SELECT applying FROM main._sync_apply_flag) = 1 BEGIN SELECT simulation_apply_point(); END`,
        );
      }
    }
    // A restarted process finds the leases of the one that died (its cycle's, its bridge's: a power cut may
    // take a lease's release and keep its taking): their pid is this (live) process's, so the simulation
    // does what the operating system does for a real crash and lets them go.
    db.prepare("DELETE FROM _sync_state WHERE key IN ('cycle_lease', 'adopt_lease')").run();
    return client;
  }
}

/** Sizes that make pushes and pulls take several requests. */
export interface WorldSettings {
  readonly pushBatchSize: number;
  readonly pullPageSize: number;
  readonly applyBatchSize: number;
}

/** The server, the devices and the network of one seed. */
export class World {
  time = START_MS;
  readonly kind: WorldKind;
  /** The tenant's stores (one in a single shop's world). */
  readonly stores: readonly string[];
  readonly folder: string;
  readonly tenantId: string;
  readonly devices: SimDevice[] = [];
  readonly settings: WorldSettings;
  /** Requests held back by the network, delivered later (or at quiescence). */
  readonly delayed: WireRequest[] = [];
  /** Pushes whose answers reached their device. */
  readonly heardPushes: HeardPush[] = [];
  /** What each device had received of each row, and when it wrote and pushed it (knowledge.ts). */
  readonly knowledge = new DeviceKnowledge();
  /** Every answer of 500 or more: the server failed on something a client sent. */
  readonly serverErrors: string[] = [];
  /**
   * Every pull answer that handed a device another store's row, or named another store than the device's
   * (PROTOCOL.md §7): a device never receives a row outside its scope, by any page.
   */
  readonly scopeLeaks: string[] = [];
  /** What happened, for a failing seed's report. */
  readonly trace: string[] = [];
  policy: NetworkPolicy | null = null;
  /** Told when a power cut takes a device's last commits: the writes with a mark above `survived` are gone. */
  onDeviceCommitsLost: ((deviceIndex: number, survived: number) => void) | null = null;
  readonly disk: Disk;
  #server: RunningServer;
  /** Requests the server is handling now, and the restart under way, if any. */
  readonly #inFlight = new Set<Promise<WireAnswer>>();
  #restarting: Promise<void> | null = null;
  readonly #dbPath: string;

  private constructor(
    template: WorldTemplate,
    folder: string,
    server: RunningServer,
    settings: WorldSettings,
    deviceCount: number,
    disk: Disk,
  ) {
    this.disk = disk;
    this.folder = folder;
    this.kind = template.kind;
    this.stores = template.stores;
    this.schema = SCHEMAS[template.kind][0];
    this.tenantId = template.tenantId;
    this.#server = server;
    this.#dbPath = path.join(folder, 'cloud.db');
    this.settings = settings;
    for (let index = 0; index < deviceCount; index++) {
      const storeId =
        template.kind === 'chain' ? (template.stores[index % template.stores.length] ?? null) : null;
      this.devices.push(new SimDevice(this, index, deviceFile(folder, index), storeId));
    }
  }

  /** Copies the template's files into a fresh folder and starts the server on them. */
  static async open(template: WorldTemplate, deviceCount: number, settings: WorldSettings): Promise<World> {
    const folder = fs.mkdtempSync(path.join(tempRoot(), 'tillsync-simulation-'));
    const files = [path.join(folder, 'cloud.db')];
    fs.copyFileSync(path.join(template.folder, 'cloud.db'), path.join(folder, 'cloud.db'));
    for (let index = 0; index < deviceCount; index++) {
      fs.copyFileSync(deviceFile(template.folder, index), deviceFile(folder, index));
      files.push(deviceFile(folder, index));
    }
    let world: World | null = null;
    const disk = new Disk();
    for (const file of files) disk.watch(file);
    const server = await startServer(
      serverOptions(
        path.join(folder, 'cloud.db'),
        () => world?.time ?? START_MS,
        template.kind,
        template.stores,
      ),
    );
    world = new World(template, folder, server, settings, deviceCount, disk);
    world.time = START_MS + 60_000;
    return world;
  }

  get server(): RunningServer {
    return this.#server;
  }

  /** The server once no restart is under way (one a device's request met may still be running). */
  async serverAfterRestarts(): Promise<RunningServer> {
    while (this.#restarting) await this.#restarting.catch(() => undefined);
    return this.#server;
  }

  note(line: string): void {
    this.trace.push(`[${this.time - START_MS} ms] ${line}`);
  }

  /** The schema the server enforces; {@link upgradeSchema} moves it to its second version. */
  schema: SyncSchema;

  /** Restarts the server with the schema's second version, as an owner rolling out an additive change. */
  async upgradeSchema(): Promise<void> {
    this.schema = SCHEMAS[this.kind][1];
    await this.restartServer(false);
  }

  /**
   * Stops the server and starts a new one on the same database file. With `powerCut` the server does not
   * stop: the power goes, its file keeps what SQLite had synced, and a new server starts on what is left.
   */
  async restartServer(powerCut = false): Promise<void> {
    // One restart at a time: a restart asked for while another is under way (a device's request met a
    // restart fault, then the schedule restarts the server) follows it, so two servers never open the file.
    while (this.#restarting) await this.#restarting.catch(() => undefined);
    const restart = (async () => {
      // As a real HTTP server drains on shutdown, the requests it already took finish first; requests that
      // come while it restarts wait for the new one, as a device's connection attempt would.
      // A cut while a request is being handled is the same as one just before it (its transaction never
      // committed) or just after it (`drop-answer` with a cut), which the policy also draws.
      await Promise.allSettled([...this.#inFlight]);
      if (powerCut) {
        const before = this.disk.mark(this.#dbPath);
        const lost = before - this.disk.powerCut(this.#dbPath);
        this.note(`the server loses power: ${lost} of its ${before} commits were not on disk`);
        // Its connection is closed already; what is left of the process stops writing nothing more.
        await this.#server.close().catch(() => undefined);
      } else await this.#server.close();
      this.#server = await startServer(
        serverOptions(this.#dbPath, () => this.time, this.kind, this.stores, this.schema),
      );
    })();
    this.#restarting = restart;
    try {
      await restart;
    } finally {
      if (this.#restarting === restart) this.#restarting = null;
    }
  }

  /** The device's power goes: its file loses the commits SQLite had not synced. */
  cutDevicePower(device: SimDevice): void {
    const before = this.disk.mark(device.dbPath);
    const survived = this.disk.powerCut(device.dbPath);
    this.note(
      `device ${device.index} loses power: ${before - survived} of its ${before} commits were not on disk`,
    );
    this.onDeviceCommitsLost?.(device.index, survived);
  }

  /** A call of the owner's API, made without faults (the owner's browser is not simulated); its answer. */
  async owner<T>(method: string, route: string, body?: unknown): Promise<T> {
    let answer: WireAnswer;
    for (;;) {
      while (this.#restarting) await this.#restarting.catch(() => undefined);
      const app = this.#server.app;
      try {
        const login = await deliver(app, ownerRequest('POST', '/api/auth/login', OWNER_LOGIN, ''));
        const { token } = JSON.parse(login.body) as { token: string };
        answer = await deliver(app, ownerRequest(method, route, body, token));
        break;
      } catch (error) {
        // The server lost power and was started again under the call: the owner asks the new one.
        if (app === this.#server.app && !this.#restarting) throw error;
      }
    }
    if (answer.status >= 300)
      throw new Error(
        `the owner's ${method} ${route} answered ${answer.status}: ${answer.body.slice(0, 300)}`,
      );
    return JSON.parse(answer.body) as T;
  }

  /** A one-time pairing code from the owner, for a store (null: the first). */
  async pairingCode(storeId: string | null = null): Promise<string> {
    const answer = await this.owner<{ code: string }>(
      'POST',
      '/api/pairing-codes',
      storeId === null ? {} : { storeId },
    );
    return answer.code;
  }

  /** The owner moves a device to another store (PROTOCOL.md §7); its next pull starts over in that store. */
  async moveDevice(device: SimDevice, storeId: string): Promise<void> {
    const deviceId = device.client.identity?.deviceId;
    if (!deviceId) throw new Error(`device ${device.index} is not paired`);
    await this.owner('POST', `/api/devices/${deviceId}/store`, { storeId });
    device.storeId = storeId;
  }

  /**
   * Runs one sync job the owner asks for (`POST /api/sync-jobs`) and waits for its end (the server's queue
   * runs it); answers its final status and, when it failed, why.
   */
  async runJob(request: {
    type: string;
    source: { id: string };
    context: Record<string, string>;
  }): Promise<string> {
    const job = await this.owner<{ id: string }>('POST', '/api/sync-jobs', request);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const state = await this.owner<{ status: string; errorMessage: string | null }>(
        'GET',
        `/api/sync-jobs/${job.id}`,
      );
      if (!['Pending', 'Queued', 'Started'].includes(state.status))
        return state.errorMessage ? `${state.status}: ${state.errorMessage}` : state.status;
      if (Date.now() > deadline) return `${state.status} after 30 s`;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Hands a held-back request to the server now; its answer goes nowhere. */
  async deliverDelayed(): Promise<void> {
    const request = this.delayed.shift();
    if (!request) return;
    this.note(`late delivery of device ${request.deviceIndex}'s ${request.method} ${pathOnly(request)}`);
    await this.#deliver(request);
  }

  /**
   * Runs `write` (a write the simulation makes on the device's file) and notes each row it wrote, with its
   * stamp, read back from the capture log: when the device wrote what, for the oracle of what it knew.
   */
  writeOn(device: SimDevice, write: () => string): string {
    const db = device.client.database;
    const before = (
      db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM _sync_captured').get() as { seq: number }
    ).seq;
    const what = write();
    const written = db
      .prepare(
        `SELECT c.tbl AS tbl, c.id AS id, c.hlc >> 16 AS ms, c.hlc & 65535 AS counter, k.node AS node
         FROM _sync_captured AS c, _sync_clock AS k WHERE c.seq > ? ORDER BY c.seq`,
      )
      .all(before) as { tbl: string; id: string; ms: number; counter: number; node: string }[];
    for (const row of written) {
      const stamp = formatStamp({ ms: row.ms, counter: row.counter, nodeId: row.node });
      this.knowledge.wrote(device.index, rowKey(row.tbl, row.id), stamp);
    }
    return what;
  }

  /** The `fetch` of device `deviceIndex`: every request meets the network's policy. */
  fetchFor(deviceIndex: number): FetchFunction {
    return async (input, init) => {
      const request = toWireRequest(deviceIndex, input, init);
      const device = this.devices[deviceIndex] as SimDevice;
      // Before anything the network does to it (a write made meanwhile goes in a later push).
      const sentAt =
        request.path === '/api/sync/push' && request.body !== undefined
          ? this.knowledge.sent(
              deviceIndex,
              pushedRows(request.body).map((change) => rowKey(change.table, change.id)),
            )
          : this.knowledge.now();
      const fault = this.policy?.decide(request) ?? 'deliver';
      if (fault !== 'deliver')
        this.note(`${fault}: device ${deviceIndex}'s ${request.method} ${pathOnly(request)}`);
      switch (fault) {
        case 'crash-before-send':
          device.crashNow(this.policy?.powerCut() ?? false);
          return never();
        case 'drop-request':
          throw new TypeError('fetch failed (the simulated network lost the request)');
        case 'delay':
          this.delayed.push(request);
          throw new DOMException('the simulated network held the request back', 'TimeoutError');
        case 'expire-token':
          this.time += ACCESS_TOKEN_TTL_SEC * 1000;
          break;
        case 'restart-server':
          // The server goes down and comes back while a device is in the middle of its cycle.
          await this.restartServer(this.policy?.powerCut() ?? false);
          break;
        case 'write-meanwhile':
          this.policy?.writeMeanwhile(deviceIndex);
          break;
        default:
          break;
      }
      const answer = await this.#deliver(request);
      if (fault === 'duplicate') await this.#deliver(request);
      if (fault === 'drop-answer') {
        // The answer may be lost because the server lost power right after it acted.
        if (this.policy?.powerCut()) await this.restartServer(true);
        throw new TypeError('fetch failed (the simulated network lost the answer)');
      }
      if (fault === 'crash-before-answer') {
        device.crashNow(this.policy?.powerCut() ?? false);
        return never();
      }
      if (request.path === '/api/sync/push' && answer.status === 200 && request.body !== undefined) {
        this.heardPushes.push({ deviceIndex, requestBody: request.body, answerBody: answer.body, sentAt });
        for (const result of (JSON.parse(answer.body) as PushResponse).results)
          if (result.status !== 'rejected' && result.current)
            this.knowledge.received(deviceIndex, rowKey(result.table, result.id), result.current.updatedAt);
      }
      if (pathOnly(request) === '/api/sync/pull' && answer.status === 200)
        for (const change of (JSON.parse(answer.body) as PullResponse).changes)
          this.knowledge.received(deviceIndex, rowKey(change.table, change.id), change.updatedAt);
      return toResponse(answer);
    };
  }

  async #deliver(request: WireRequest): Promise<WireAnswer> {
    while (this.#restarting) await this.#restarting.catch(() => undefined);
    const delivery = deliver(this.#server.app, request);
    this.#inFlight.add(delivery);
    const answer = await delivery.finally(() => this.#inFlight.delete(delivery));
    if (answer.status >= 500) {
      this.serverErrors.push(
        `${request.method} ${pathOnly(request)} from device ${request.deviceIndex} answered ${answer.status}: ${answer.body.slice(0, 300)}`,
      );
    }
    if (pathOnly(request) === '/api/sync/pull' && answer.status === 200) this.#checkPull(request, answer);
    return answer;
  }

  /** Notes a pull page that names another store than the device's, or hands it another store's row. */
  #checkPull(request: WireRequest, answer: WireAnswer): void {
    const device = this.devices[request.deviceIndex];
    if (this.kind !== 'chain' || !device) return;
    const page = JSON.parse(answer.body) as PullResponse;
    const where = `device ${device.index} (store ${device.storeId ?? '-'}) pulled`;
    if (page.storeId !== device.storeId)
      this.scopeLeaks.push(`${where} a page of store ${page.storeId ?? '-'}`);
    for (const change of page.changes) {
      const table = this.schema.tables[change.table];
      const storeColumn = table ? storeColumnOf(table) : null;
      if (change.op !== 'upsert' || storeColumn === null) continue;
      const storeId = change.values?.[storeColumn];
      if (storeId !== device.storeId)
        this.scopeLeaks.push(`${where} ${change.table} ${change.id} of store ${String(storeId)}`);
    }
  }

  /** Closes everything and removes the files. */
  async close(): Promise<void> {
    for (const device of this.devices) {
      try {
        await device.stop();
      } catch {
        // A device that crashed has nothing open.
      }
    }
    await this.#server.close();
    this.disk.unwatch(this.#dbPath);
    for (const device of this.devices) {
      this.disk.unwatch(device.dbPath);
      clockedFiles.delete(device.dbPath);
    }
    fs.rmSync(this.folder, { recursive: true, force: true });
  }
}

/** Makes `julianday('now')` on a connection read `now` (ms), as the capture triggers call it. */
function readClock(db: Database.Database, now: () => number): void {
  db.function('julianday', { deterministic: false }, (value: unknown) => {
    if (value !== 'now')
      throw new Error(`the simulation's julianday() knows only 'now', not ${String(value)}`);
    return now() / 86_400_000 + 2440587.5;
  });
}

/** Device files whose every connection reads a device's clock, and the connections already set. */
const clockedFiles = new Map<string, () => number>();
const clockedConnections = new WeakSet<Database.Database>();

/**
 * Every connection this process opens on `dbPath`, wherever it is opened (the bridge opens its own), reads
 * `now` as its clock: better-sqlite3's `prepare` and `exec` set it before a connection's first statement.
 */
function stampWithClock(dbPath: string, now: () => number): void {
  if (clockedFiles.size === 0) {
    const prototype = Database.prototype as unknown as Record<
      'prepare' | 'exec',
      (...args: unknown[]) => unknown
    >;
    for (const name of ['prepare', 'exec'] as const) {
      const original = prototype[name];
      prototype[name] = function (this: Database.Database, ...args: unknown[]): unknown {
        const clock = clockedFiles.get(this.name);
        if (clock && !clockedConnections.has(this)) {
          clockedConnections.add(this);
          readClock(this, clock);
        }
        return original.apply(this, args);
      };
    }
  }
  clockedFiles.set(dbPath, now);
}

/** The rows a push request carries (a body the device made, so of the protocol's shape). */
function pushedRows(body: string): PushRequest['changes'] {
  try {
    return (JSON.parse(body) as PushRequest).changes;
  } catch {
    return [];
  }
}

function pathOnly(request: WireRequest): string {
  return request.path.split('?')[0] ?? request.path;
}

function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

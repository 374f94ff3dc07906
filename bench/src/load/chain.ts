import { v5 as uuidv5, v7 as uuidv7 } from 'uuid';
import {
  CHAIN_SCHEMA,
  CompiledSchema,
  formatStamp,
  type Change,
  type CreatedStore,
  type LoginResponse,
  type PairResponse,
  type PairingCodeResponse,
  type PulledChange,
  type PullResponse,
  type PushResponse,
  type StoreList,
} from '@tillsync/protocol';
import { Accounts, openStorage, resolveServerConfig } from '@tillsync/server';
import type { ServeProcess } from '../serve-process.js';
import { inParallel } from './in-parallel.js';
import type { LoadOptions } from './options.js';
import type { LoadStats, RowLedger } from './load-stats.js';
import {
  countOutOfScope,
  sendJson,
  SimulatedDevice,
  type DeviceScope,
  type PushWrites,
} from './simulated-device.js';

const CHAIN = new CompiledSchema(CHAIN_SCHEMA);

/** The column naming the store in each per-store table of the chain schema. */
export const STORE_COLUMNS: ReadonlyMap<string, string> = new Map(
  CHAIN.tables.flatMap((table) =>
    table.storeColumn === null ? [] : [[table.name, table.storeColumn] as const],
  ),
);

/** The namespace of the stock_levels ids: a UUIDv5 of store and product, alike on every till of a store. */
const STOCK_NAMESPACE = '6f0c2f7e-3f43-4b8e-9a55-2d1c5b7e0a10';

/** The owner of the load run's chain. */
const OWNER_PASSWORD = 'load test password';

/** A chain made for a run: its tenant, its owner's token, its stores and its catalogue. */
export interface Chain {
  readonly tenantId: string;
  readonly ownerToken: string;
  readonly storeIds: readonly string[];
  readonly productIds: readonly string[];
}

/**
 * What a till of `storeId` writes in one push: a sale of `items` products of the catalogue with its items,
 * and the stock those items take from the store's stock_levels rows (a counter delta each).
 */
export function saleWrites(storeId: string, productIds: readonly string[], items: number): PushWrites {
  return (stamp) => {
    const saleId = uuidv7();
    const taken = new Map<string, number>();
    const changes: Change[] = [];
    let total = 0;
    for (let item = 0; item < items; item++) {
      const productId = productIds[Math.floor(Math.random() * productIds.length)]!;
      const quantity = 1 + Math.floor(Math.random() * 3);
      const price = 100 + (item % 7) * 50;
      total += quantity * price;
      taken.set(productId, (taken.get(productId) ?? 0) + quantity);
      changes.push({
        table: 'sale_items',
        id: uuidv7(),
        op: 'upsert',
        updatedAt: stamp(),
        values: { store_id: storeId, sale_id: saleId, product_id: productId, quantity, price_cents: price },
      });
    }
    const sale: Change = {
      table: 'sales',
      id: saleId,
      op: 'upsert',
      updatedAt: stamp(),
      values: {
        store_id: storeId,
        customer_id: null,
        total_cents: total,
        created_at: new Date().toISOString(),
      },
    };
    const stock = [...taken].map(([productId, quantity]): Change => ({
      table: 'stock_levels',
      id: uuidv5(`${storeId}/${productId}`, STOCK_NAMESPACE),
      op: 'upsert',
      updatedAt: stamp(),
      values: { store_id: storeId, product_id: productId, quantity: { delta: -quantity } },
    }));
    return [sale, ...changes, ...stock];
  };
}

/** A device paired to a store, not yet running. */
interface PairedTill {
  readonly serverUrl: string;
  readonly paired: PairResponse;
}

/**
 * Makes the chain as its owner would: a tenant, its stores through `POST /api/stores`, a pairing code of its
 * store for each device, the pairings over HTTP, and the catalogue pushed by one till. Every device starts
 * at the cursor of a till that holds the catalogue and the stores, as tills that have synced before.
 */
export async function setUpChain(
  databaseUrl: string,
  servers: readonly ServeProcess[],
  options: LoadOptions & { readonly stores: number },
  stats: LoadStats,
  ledger: RowLedger,
  print: (line: string) => void,
): Promise<{ chain: Chain; devices: SimulatedDevice[] }> {
  const timeoutMs = options.timeoutSeconds * 1000;
  const server = servers[0]!.url;
  const email = `chain-${Date.now().toString(36)}@shop.test`;
  const { tenantId } = await createTenant(databaseUrl, 'Load chain', email);
  const { token } = await sendJson<LoginResponse>(`${server}/api/auth/login`, {
    method: 'POST',
    body: { email, password: OWNER_PASSWORD },
    timeoutMs,
  });

  let started = performance.now();
  const first = await sendJson<StoreList>(`${server}/api/stores`, { method: 'GET', token, timeoutMs });
  const storeIds = first.map((store) => store.id);
  const made: string[] = Array.from({ length: options.stores - storeIds.length });
  await inParallel(made, options.pairConcurrency, async (_, index) => {
    const store = await sendJson<CreatedStore>(`${servers[index % servers.length]!.url}/api/stores`, {
      method: 'POST',
      body: { name: `Store ${storeIds.length + index + 1}` },
      token,
      timeoutMs,
    });
    made[index] = store.id;
  });
  storeIds.push(...made);
  print(`made ${storeIds.length} stores through the owner's API in ${seconds(started)} s`);

  started = performance.now();
  // Till 1 of every store, then till 2 of every store…: the run spreads the devices' first cycles over the
  // first interval in this order, so every store has written before a third of it has passed (with 3 a store).
  const seats = Array.from({ length: options.devicesPerStore }, () => storeIds).flat();
  const tills: PairedTill[] = Array.from({ length: seats.length });
  await inParallel(seats, options.pairConcurrency, async (storeId, index) => {
    const serverUrl = servers[index % servers.length]!.url;
    const { code } = await sendJson<PairingCodeResponse>(`${serverUrl}/api/pairing-codes`, {
      method: 'POST',
      body: { storeId },
      token,
      timeoutMs,
    });
    const pairStarted = performance.now();
    const paired = await sendJson<PairResponse>(`${serverUrl}/api/devices/pair`, {
      method: 'POST',
      body: { code, name: `Till ${Math.floor(index / storeIds.length) + 1}`, platform: 'load-test' },
      timeoutMs,
    });
    stats.record('pair', performance.now() - pairStarted);
    if (paired.storeId !== storeId)
      throw new Error(`a till paired with a code of ${storeId} is in ${paired.storeId}`);
    tills[index] = { serverUrl, paired };
  });
  print(
    `paired ${tills.length} tills with pairing codes of their stores in ${seconds(started)} s ` +
      `(${Math.round(tills.length / Number(seconds(started)))} pairings/s)`,
  );

  started = performance.now();
  const seeder = tills[0]!;
  const catalogueMs = Date.now() - 60_000;
  const productIds = Array.from({ length: options.products }, () => uuidv7());
  const products = productIds.map((id, index): Change => ({
    table: 'products',
    id,
    op: 'upsert',
    updatedAt: formatStamp({
      ms: catalogueMs,
      counter: index % 0xffff,
      nodeId: `catalog${Math.floor(index / 0xffff)}`,
    }),
    values: {
      sku: `SKU-${index + 1}`,
      name: `Product ${index + 1}`,
      price_cents: 100 + (index % 50) * 10,
      category_id: null,
      active: 1,
    },
  }));
  await pushAll(seeder.serverUrl, seeder.paired.accessToken, products, timeoutMs);
  const { cursor, changes } = await pullAll(seeder.serverUrl, seeder.paired.accessToken, 5000, '', timeoutMs);
  print(
    `pushed a catalogue of ${products.length} products and took a till's first sync (${changes.length} rows) in ${seconds(started)} s`,
  );

  const devices = tills.map(
    ({ serverUrl, paired }) =>
      new SimulatedDevice({
        serverUrl,
        tenantId,
        accessToken: paired.accessToken,
        writes: saleWrites(paired.storeId!, productIds, options.rowsPerPush),
        pullLimit: options.pullLimit,
        timeoutMs,
        stats,
        ledger,
        cursor,
        scope: { storeId: paired.storeId!, storeColumns: STORE_COLUMNS },
      }),
  );
  return { chain: { tenantId, ownerToken: token, storeIds, productIds }, devices };
}

/** What a fresh till's first sync took. */
interface FirstSync {
  readonly rows: number;
  readonly ms: number;
}

/**
 * A fresh till of one store takes a first sync in the chain, and a fresh till of a new tenant with one
 * store, holding a copy of that store's rows and the catalogue, takes one too; `rounds` of each, in turns.
 * Prints both medians and their ratio; answers the changes the chain's tills received out of their scope.
 */
export async function compareFirstSync(
  databaseUrl: string,
  server: ServeProcess,
  chain: Chain,
  options: LoadOptions,
  print: (line: string) => void,
  rounds = 9,
): Promise<number> {
  const timeoutMs = options.timeoutSeconds * 1000;
  const storeId = chain.storeIds[Math.floor(chain.storeIds.length / 2)]!;
  const chainTill = await pairTill(server.url, chain.ownerToken, storeId, timeoutMs);
  const scope: DeviceScope = { storeId, storeColumns: STORE_COLUMNS };
  const snapshot = await pullAll(server.url, chainTill.accessToken, options.pullLimit, '', timeoutMs, scope);

  // The same store alone: a new tenant of one store, given the same rows by a till of it.
  const email = `alone-${Date.now().toString(36)}@shop.test`;
  await createTenant(databaseUrl, 'Load store alone', email);
  const { token } = await sendJson<LoginResponse>(`${server.url}/api/auth/login`, {
    method: 'POST',
    body: { email, password: OWNER_PASSWORD },
    timeoutMs,
  });
  const seeder = await pairTill(server.url, token, undefined, timeoutMs);
  const aloneStore = seeder.storeId!;
  const order = new Map(CHAIN.tables.map((table, index) => [table.name, index]));
  const copied = snapshot.changes
    .filter((change) => change.op === 'upsert' && CHAIN.table(change.table)?.serverOnly === false)
    .map((change): Change => {
      const column = STORE_COLUMNS.get(change.table);
      const values = { ...change.values };
      if (column !== undefined) values[column] = aloneStore;
      return { table: change.table, id: change.id, op: 'upsert', updatedAt: change.updatedAt, values };
    })
    .sort((a, b) => (order.get(a.table) ?? 0) - (order.get(b.table) ?? 0));
  await pushAll(server.url, seeder.accessToken, copied, timeoutMs);
  const aloneTill = await pairTill(server.url, token, undefined, timeoutMs);
  // The server's jobs (daily totals of the copied sales) settle before the timing starts.
  await new Promise((resolve) => setTimeout(resolve, 3000));

  const inChain: FirstSync[] = [];
  const alone: FirstSync[] = [];
  let outOfScope = snapshot.outOfScope;
  for (let round = 0; round < rounds; round++) {
    for (const [till, into, tillScope] of [
      [chainTill, inChain, scope],
      [aloneTill, alone, { storeId: aloneStore, storeColumns: STORE_COLUMNS }],
    ] as const) {
      const started = performance.now();
      const sync = await pullAll(server.url, till.accessToken, options.pullLimit, '', timeoutMs, tillScope);
      into.push({ rows: sync.changes.length, ms: performance.now() - started });
      outOfScope += sync.outOfScope;
    }
  }
  const chainMs = median(inChain.map((sync) => sync.ms));
  const aloneMs = median(alone.map((sync) => sync.ms));
  const tableRows = (changes: readonly PulledChange[]): string =>
    [...countBy(changes, (change) => change.table)].map(([table, rows]) => `${table} ${rows}`).join(', ');
  print(
    `first sync of a fresh till of one store (median of ${rounds}, pages of ${options.pullLimit}):\n` +
      `  in the chain of ${chain.storeIds.length} stores: ${inChain[0]?.rows} rows in ${chainMs.toFixed(0)} ms (${tableRows(snapshot.changes)})\n` +
      `  the same store's rows alone:  ${alone[0]?.rows} rows in ${aloneMs.toFixed(0)} ms\n` +
      `  ratio ${(chainMs / aloneMs).toFixed(2)}× (aim ≤ 1.5×); rows ${((inChain[0]?.rows ?? 0) / (alone[0]?.rows ?? 1)).toFixed(2)}×`,
  );
  return outOfScope;
}

async function createTenant(databaseUrl: string, name: string, email: string): Promise<{ tenantId: string }> {
  const storage = await openStorage({ databaseUrl });
  try {
    return await new Accounts(storage.accounts, resolveServerConfig({})).createTenant({
      name,
      email,
      password: OWNER_PASSWORD,
    });
  } finally {
    await storage.close();
  }
}

async function pairTill(
  serverUrl: string,
  ownerToken: string,
  storeId: string | undefined,
  timeoutMs: number,
): Promise<PairResponse> {
  const { code } = await sendJson<PairingCodeResponse>(`${serverUrl}/api/pairing-codes`, {
    method: 'POST',
    body: storeId === undefined ? {} : { storeId },
    token: ownerToken,
    timeoutMs,
  });
  return sendJson<PairResponse>(`${serverUrl}/api/devices/pair`, {
    method: 'POST',
    body: { code, name: 'Fresh till', platform: 'load-test' },
    timeoutMs,
  });
}

/** Pushes `changes` in their order, 1,000 a push; each must be applied. */
async function pushAll(
  serverUrl: string,
  token: string,
  changes: readonly Change[],
  timeoutMs: number,
): Promise<void> {
  for (let start = 0; start < changes.length; start += 1000) {
    const answer = await sendJson<PushResponse>(`${serverUrl}/api/sync/push`, {
      method: 'POST',
      body: { pushId: uuidv7(), changes: changes.slice(start, start + 1000) },
      token,
      timeoutMs,
    });
    const refused = answer.results.find((result) => result.status !== 'applied');
    if (refused) throw new Error(`a seeding push was not applied: ${JSON.stringify(refused)}`);
  }
}

/** Pulls from `cursor` to the end; counts the changes out of `scope`, if given. */
async function pullAll(
  serverUrl: string,
  token: string,
  limit: number,
  cursor: string,
  timeoutMs: number,
  scope?: DeviceScope,
): Promise<{ cursor: string; changes: PulledChange[]; outOfScope: number }> {
  const changes: PulledChange[] = [];
  let outOfScope = 0;
  for (;;) {
    const page = await sendJson<PullResponse>(
      `${serverUrl}/api/sync/pull?limit=${limit}&since=${encodeURIComponent(cursor)}`,
      { method: 'GET', token, timeoutMs },
    );
    changes.push(...page.changes);
    if (scope) outOfScope += countOutOfScope(page, scope);
    cursor = page.cursor;
    if (!page.hasMore) return { cursor, changes, outOfScope };
  }
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(1);
}

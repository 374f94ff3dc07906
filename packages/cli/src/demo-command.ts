import fs from 'node:fs';
import path from 'node:path';
import type { RunningServer } from '@tillsync/server';
import type { Command } from 'commander';
import type { DeviceAgent } from './device-agent.js';
import type { DeviceRows } from './device-rows.js';
import { OwnerCalls } from './demo-owner.js';
import { integer, optionFor, readSetting, text, type Setting } from './settings.js';
import { untilStopSignal } from './stop-signal.js';
import { UsageError } from './usage-error.js';
import { PAGES_NOT_BUILT, webAssetsDir } from './web-assets.js';

/** The demo's owner: printed with the URLs, so a newcomer can sign in at once. */
export const DEMO_OWNER = { email: 'owner@shop.test', password: 'tillsync-demo-password' } as const;

/** A device of the demo: its name, its file, and (in the chain) the store it is paired into, by index. */
interface DemoDevice {
  readonly name: string;
  readonly file: string;
  readonly store: number;
}

/** The demo's two devices, with the ports of their pages after the server's. */
const DEMO_DEVICES: readonly DemoDevice[] = [
  { name: 'Till 1', file: 'till-1.db', store: 0 },
  { name: 'Tablet 2', file: 'tablet-2.db', store: 0 },
];

/**
 * The chain demo's devices (`tillsync demo --chain`): a till and the back-office tablet in the first store,
 * a till in the second.
 */
const CHAIN_DEMO_DEVICES: readonly DemoDevice[] = [
  { name: 'Till 1', file: 'till-1.db', store: 0 },
  { name: 'Back-office tablet', file: 'tablet.db', store: 0 },
  { name: 'Till 2', file: 'till-2.db', store: 1 },
];

/** The chain demo's second store (the first is the tenant's own, made with it). */
export const CHAIN_DEMO_SECOND_STORE = 'Harbour Road';

/** Options for {@link startDemo}. */
export interface DemoOptions {
  /** Where the server's and the devices' SQLite files live. @defaultValue `./data/demo` */
  readonly dir?: string;
  /** The server's port; the devices' pages take the next two. 0 picks free ports for all. @defaultValue 8787 */
  readonly port?: number;
  /** Start over: remove the demo's files first. Otherwise a demo left in `dir` goes on. @defaultValue false */
  readonly fresh?: boolean;
  /** The devices' sync schedule. @defaultValue 30000 */
  readonly intervalMs?: number;
  /** Pages built elsewhere (a folder with `device/` and `dashboard/`). @defaultValue apps/web/dist */
  readonly webDir?: string;
  /**
   * A chain of two stores on the chain schema (PROTOCOL.md §7): "Till 1" and the "Back-office tablet" in
   * the first, "Till 2" in the second, each store with its own stock and sales. Its files default to
   * `./data/demo-chain`. @defaultValue false
   */
  readonly chain?: boolean;
}

/** A store of the running demo, and its devices' indexes in {@link RunningDemo.devices}. */
export interface DemoStore {
  readonly id: string;
  readonly name: string;
  readonly devices: readonly number[];
}

/** A running demo: the server, the two devices, and how to stop and start the server (tests do). */
export interface RunningDemo {
  readonly server: RunningServer;
  readonly devices: readonly DeviceAgent[];
  /** The chain demo's stores, the tenant's first store first; none are listed in the shop demo. */
  readonly stores: readonly DemoStore[];
  readonly dashboardUrl: string;
  readonly dir: string;
  /** Whether the pages were found (otherwise only the APIs answer). */
  readonly pagesBuilt: boolean;
  /** Stops the server only (the devices go offline). */
  stopServer(): Promise<void>;
  /** Starts the server again on the same file and port. */
  restartServer(): Promise<RunningServer>;
  /** The dashboard's switch: cuts the devices off from the cloud (the dashboard stays up), or lets them back. */
  setCloudOnline(online: boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * The whole product on one machine: a server on an embedded SQLite file with an owner, and two paired
 * devices ("Till 1", "Tablet 2") with a small shop's data, each serving its page. A fresh demo records a
 * few sales (so sync jobs have run) and one overridden price (so "Conflicts" has an answer).
 *
 * @example
 * const demo = await startDemo({ dir: './data/demo' });
 * console.log(demo.dashboardUrl, demo.devices.map((device) => device.url));
 * await demo.close();
 */
export async function startDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const chain = options.chain === true;
  const demoDevices = chain ? CHAIN_DEMO_DEVICES : DEMO_DEVICES;
  const dir = path.resolve(options.dir ?? (chain ? './data/demo-chain' : './data/demo'));
  const basePort = options.port ?? 8787;
  const devicePort = (index: number): number => (basePort === 0 ? 0 : basePort + 1 + index);
  const dashboardRoot = options.webDir ? path.join(options.webDir, 'dashboard') : webAssetsDir('dashboard');
  const deviceRoot = options.webDir ? path.join(options.webDir, 'device') : webAssetsDir('device');
  const cloudDb = path.join(dir, 'cloud.db');
  const deviceFiles = demoDevices.map((device) => path.join(dir, device.file));

  const resume = !options.fresh && [cloudDb, ...deviceFiles].every((file) => fs.existsSync(file));
  if (!resume) removeDemoFiles([cloudDb, ...deviceFiles]);
  fs.mkdirSync(dir, { recursive: true });

  // The devices reach the cloud through a link the dashboard's switch can cut (`demo-cloud-link.ts`).
  const { DemoCloudLink } = await import('./demo-cloud-link.js');
  let server: RunningServer | null = null;
  const link = await DemoCloudLink.open(() => server?.url ?? 'http://127.0.0.1:1', 0);
  const devices: DeviceAgent[] = [];
  const demoCloud = {
    online: () => link.online(),
    async setOnline(online: boolean) {
      await link.setOnline(online);
      // Back online, every device syncs at once rather than at the end of its backoff.
      if (online) for (const device of devices) device.worker.syncNow().catch(() => undefined);
    },
  };
  const { CHAIN_SCHEMA } = await import('@tillsync/protocol');
  const serverOptions = {
    dbPath: cloudDb,
    demoCloud,
    port: basePort,
    adminEmail: DEMO_OWNER.email,
    adminPassword: DEMO_OWNER.password,
    logger: false,
    ...(chain ? { schema: CHAIN_SCHEMA } : {}),
    ...(dashboardRoot ? { webRoot: dashboardRoot } : {}),
  };
  const { startServer } = await import('@tillsync/server');
  const { startDeviceAgent } = await import('./device-agent.js');
  const started = await startServer(serverOptions).catch(async (error: unknown) => {
    await link.close();
    throw portError(error, basePort);
  });
  server = started;
  let serverUp = true;
  let stores: DemoStore[] = [];
  try {
    const owner = await OwnerCalls.login(started.url, DEMO_OWNER);
    if (chain && !resume) await owner.createStore(CHAIN_DEMO_SECOND_STORE);
    if (chain) {
      stores = (await owner.stores()).map((store, index) => ({
        id: store.id,
        name: store.name,
        devices: demoDevices.flatMap((device, deviceIndex) => (device.store === index ? [deviceIndex] : [])),
      }));
    }
    for (const [index, device] of demoDevices.entries()) {
      const pairCode = resume
        ? undefined
        : await owner.pairingCode(chain ? stores[device.store]?.id : undefined);
      devices.push(
        await startDeviceAgent({
          dbPath: deviceFiles[index] ?? '',
          serverUrl: link.url,
          name: device.name,
          port: devicePort(index),
          ...(pairCode ? { pairCode } : {}),
          ...(options.intervalMs ? { intervalMs: options.intervalMs } : {}),
          ...(deviceRoot ? { webRoot: deviceRoot } : {}),
        }).catch((error: unknown) => {
          throw portError(error, devicePort(index));
        }),
      );
    }
    if (!resume && chain) await seedChain(devices, stores);
    else if (!resume) await seedShop(devices);
  } catch (error) {
    await Promise.all(devices.map((device) => device.close()));
    await started.close();
    await link.close();
    throw error;
  }

  const port = started.port;
  let current = started;
  return {
    get server() {
      return current;
    },
    devices,
    stores,
    dashboardUrl: started.url,
    dir,
    pagesBuilt: dashboardRoot !== null && deviceRoot !== null,
    async stopServer() {
      if (!serverUp) return;
      serverUp = false;
      await current.close();
    },
    async restartServer() {
      if (serverUp) return current;
      current = await startServer({ ...serverOptions, port });
      server = current;
      serverUp = true;
      return current;
    },
    setCloudOnline: (online) => demoCloud.setOnline(online),
    async close() {
      await Promise.all(devices.map((device) => device.close()));
      if (serverUp) {
        serverUp = false;
        await current.close();
      }
      await link.close();
    },
  };
}

/** The demo's catalogue: [sku, name, price in cents, stock of the first store, category]. */
const DEMO_PRODUCTS = [
  ['A-100', 'Apple', 45, 120, 'Fruit'],
  ['A-101', 'Banana', 30, 90, 'Fruit'],
  ['B-200', 'Croissant', 180, 24, 'Bakery'],
  ['B-201', 'Sourdough loaf', 450, 12, 'Bakery'],
  ['D-300', 'Coffee beans 250 g', 790, 30, 'Drinks'],
  ['D-301', 'Orange juice 1 l', 260, 40, 'Drinks'],
  ['M-400', 'Milk 1 l', 115, 36, 'Dairy'],
  ['M-401', 'Cheddar 200 g', 340, 18, 'Dairy'],
] as const;

const DEMO_CUSTOMERS = [
  ['Ada Byrne', '+353 1 555 0101', 'ada@example.com'],
  ['Mei Chen', '+353 1 555 0102', null],
  ['Tomás Walsh', null, 'tomas@example.com'],
] as const;

/** The catalogue as written: product ids by SKU, customer ids in order. */
interface DemoCatalogue {
  readonly productIds: ReadonlyMap<string, string>;
  readonly customerIds: readonly string[];
}

/**
 * Writes the catalogue on a device as a shop program would: categories, products (with their stock in the
 * shop's schema; a chain counts stock per store instead) and customers.
 */
function writeCatalogue(rows: DeviceRows, options: { readonly withStock: boolean }): DemoCatalogue {
  const categories = new Map(
    [...new Set(DEMO_PRODUCTS.map((product) => product[4]))].map((name) => [
      name,
      rows.insert('categories', { values: { name } }).id,
    ]),
  );
  const productIds = new Map<string, string>(
    DEMO_PRODUCTS.map(([sku, name, price, stock, category]) => [
      sku,
      rows.insert('products', {
        values: {
          sku,
          name,
          price_cents: price,
          ...(options.withStock ? { stock } : {}),
          category_id: categories.get(category) ?? null,
          active: 1,
        },
      }).id,
    ]),
  );
  const customerIds = DEMO_CUSTOMERS.map(
    ([name, phone, email]) => rows.insert('customers', { values: { name, phone, email } }).id,
  );
  return { productIds, customerIds };
}

/** Records a sale on a device: [sku, quantity] per line. */
function sell(
  rows: DeviceRows,
  catalogue: DemoCatalogue,
  customer: string | null,
  items: readonly (readonly [string, number])[],
): void {
  rows.recordSale({
    customerId: customer,
    items: items.map(([sku, quantity]) => ({ productId: catalogue.productIds.get(sku) ?? '', quantity })),
  });
}

/** A small shop, written on Till 1 as a shop program would write it, then synced to the server and Tablet 2. */
async function seedShop(devices: readonly DeviceAgent[]): Promise<void> {
  const [till, tablet] = devices;
  if (!till || !tablet) return;
  const { DeviceRows } = await import('./device-rows.js');
  const rows = new DeviceRows(till.client);
  const catalogue = writeCatalogue(rows, { withStock: true });
  const { productIds, customerIds } = catalogue;
  sell(rows, catalogue, customerIds[0] ?? null, [
    ['A-100', 6],
    ['B-201', 1],
  ]);
  sell(rows, catalogue, null, [
    ['D-300', 1],
    ['M-400', 2],
  ]);
  await till.worker.syncNow();
  await tablet.worker.syncNow();

  // One price changed on both devices: the later write (Till 1's) wins, and Tablet 2's is kept as a conflict.
  const croissant = productIds.get('B-200') ?? '';
  new DeviceRows(tablet.client).update('products', croissant, { values: { price_cents: 190 } });
  // Stamps of one millisecond would be ordered by device id; a moment later, Till 1's is surely the later one.
  await new Promise((resolve) => setTimeout(resolve, 20));
  rows.update('products', croissant, { values: { price_cents: 195 } });
  await till.worker.syncNow();
  await tablet.worker.syncNow();
  sell(rows, catalogue, customerIds[1] ?? null, [['B-200', 2]]);
  await till.worker.syncNow();
  await tablet.worker.syncNow();
}

/**
 * A small chain: the catalogue and customers written on Till 1 (the whole chain's), each store's stock
 * counted on its own till (the second store holds half of the first's), and a few sales in each store.
 * Every device then syncs, so the tablet holds the first store's sales and Till 2 only its own.
 */
async function seedChain(devices: readonly DeviceAgent[], stores: readonly DemoStore[]): Promise<void> {
  const [till1, tablet, till2] = devices;
  if (!till1 || !tablet || !till2 || stores.length < 2) return;
  const { DeviceRows } = await import('./device-rows.js');
  // Each device learns its store when it pairs or pulls; its per-store rows are written in that store.
  for (const device of devices) await device.worker.syncNow();
  const first = new DeviceRows(till1.client);
  const catalogue = writeCatalogue(first, { withStock: false });
  const countStock = (rows: DeviceRows, share: number): void => {
    for (const [sku, , , stock] of DEMO_PRODUCTS) {
      const productId = catalogue.productIds.get(sku) ?? '';
      rows.insert('stock_levels', { values: { product_id: productId, quantity: Math.round(stock * share) } });
    }
  };
  countStock(first, 1);
  await till1.worker.syncNow();
  await till2.worker.syncNow();
  const second = new DeviceRows(till2.client);
  countStock(second, 0.5);

  const { customerIds } = catalogue;
  sell(first, catalogue, customerIds[0] ?? null, [
    ['A-100', 6],
    ['B-201', 1],
  ]);
  sell(first, catalogue, null, [['D-300', 1]]);
  sell(second, catalogue, customerIds[2] ?? null, [
    ['B-200', 4],
    ['M-400', 2],
  ]);
  await till1.worker.syncNow();
  await till2.worker.syncNow();
  await tablet.worker.syncNow();
}

/** A device as the demo's banner names it: its name, and its store's in a chain. */
function deviceLabel(demo: RunningDemo, device: DeviceAgent): string {
  const index = demo.devices.indexOf(device);
  const store =
    demo.stores.length > 1 ? demo.stores.find((entry) => entry.devices.includes(index)) : undefined;
  const name = device.client.identity?.name ?? `Device ${index + 1}`;
  return store ? `${name} (${store.name})` : name;
}

function removeDemoFiles(files: readonly string[]): void {
  for (const file of files) {
    for (const suffix of ['', '-wal', '-shm', '-journal']) fs.rmSync(file + suffix, { force: true });
  }
}

function portError(error: unknown, port: number): Error {
  const code = (error as { code?: unknown; cause?: { code?: unknown } }).code;
  const causeCode = (error as { cause?: { code?: unknown } }).cause?.code;
  if (code === 'EADDRINUSE' || causeCode === 'EADDRINUSE') {
    return new UsageError(`port ${port} is in use (another demo running?): stop it, or start with --port`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

const DEMO_SETTINGS = {
  port: {
    flag: '--port <port>',
    env: 'TILLSYNC_PORT',
    description: "the server's port; the devices' pages take the next ones (default 8787)",
    parse: integer(0, 65533),
  },
  dir: {
    flag: '--dir <folder>',
    env: 'TILLSYNC_DEMO_DIR',
    description: "where the demo's SQLite files live (default ./data/demo, with --chain ./data/demo-chain)",
    parse: text,
  },
} satisfies Record<string, Setting<unknown>>;

/** `tillsync demo`: what `npm start` runs. */
export function registerDemoCommand(program: Command): void {
  const command = program
    .command('demo')
    .description(
      'run the whole product on this machine: a server on an embedded database with an owner, and two ' +
        'paired devices ("Till 1", "Tablet 2") with a small shop, each with its page; Ctrl+C stops it all',
    )
    .option('--fresh', 'start over: remove the demo files left by an earlier run')
    .option(
      '--chain',
      'a chain of two stores on the chain schema instead: a till and the back-office tablet in the first, ' +
        "a till in the second; each store's sales and stock stay on its own devices",
    );
  for (const setting of Object.values(DEMO_SETTINGS)) command.addOption(optionFor(setting));
  command.action(async (flags: Record<string, unknown>) => {
    const port = readSetting(DEMO_SETTINGS.port, flags);
    const dir = readSetting(DEMO_SETTINGS.dir, flags);
    const chain = flags.chain === true;
    const demo = await startDemo({
      ...(port !== undefined ? { port } : {}),
      ...(dir !== undefined ? { dir } : {}),
      fresh: flags.fresh === true,
      chain,
    });
    const relative = path.relative(process.cwd(), demo.dir);
    const shown = relative === '' ? '.' : relative.startsWith('..') ? demo.dir : relative;
    const width = Math.max(18, ...demo.devices.map((device) => deviceLabel(demo, device).length + 2));
    const line = (label: string, text: string): string => `  ${label.padEnd(width)} ${text}`;
    // Listening for the stop before saying it runs: whoever waits for the line may stop it at once.
    const stopAsked = untilStopSignal();
    process.stdout.write(
      [
        '',
        `Tillsync demo${chain ? ' of a chain' : ''} is running (its files are in ${shown}; start over with --fresh).`,
        '',
        line(
          "Owner's dashboard",
          `${demo.dashboardUrl}   sign in as ${DEMO_OWNER.email} / ${DEMO_OWNER.password}`,
        ),
        ...demo.devices.map((device) => line(deviceLabel(demo, device), device.url)),
        '',
        !demo.pagesBuilt
          ? `Note: ${PAGES_NOT_BUILT}.`
          : chain
            ? `Try it: record a sale on Till 1; it shows on the Back-office tablet by itself and never on Till 2, which sells from ${CHAIN_DEMO_SECOND_STORE}'s own stock.`
            : 'Try it: record a sale on Till 1; within a second or two the stock changes on Tablet 2, with nothing pressed.',
        'Press Ctrl+C to stop.',
        '',
      ].join('\n'),
    );
    await stopAsked;
    process.stdout.write('Stopping the demo...\n');
    await demo.close();
  });
}

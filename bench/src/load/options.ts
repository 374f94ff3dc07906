import { parseArgs } from 'node:util';

/** What one load run does, from `npm run load -- FLAGS`. */
export interface LoadOptions {
  readonly devices: number;
  /**
   * A chain: the stores of one tenant on the chain schema (`serve --schema chain`), or null for the
   * single-shop schema with `devicesPerTenant` devices per shop.
   */
  readonly stores: number | null;
  readonly devicesPerStore: number;
  /** The chain's catalogue: products every device holds (with `stores` only). */
  readonly products: number;
  readonly seconds: number;
  /** Seconds from the start of one cycle of a device to the start of its next; 0: back to back. */
  readonly interval: number;
  readonly timeoutSeconds: number;
  readonly devicesPerTenant: number;
  readonly rowsPerPush: number;
  readonly processes: number;
  readonly pullLimit: number;
  readonly pairConcurrency: number;
  /** A PostgreSQL database to use (kept afterwards), or null for a fresh one dropped at the end. */
  readonly databaseUrl: string | null;
  /** How long a push waits for its jobs (`serve --push-job-wait-ms`), or null for the server's default. */
  readonly pushJobWaitMs: number | null;
  /** A folder for a CPU profile of each serve process (node --cpu-prof), or null for none. */
  readonly profileDir: string | null;
}

export const HELP = `Usage: npm run load -- [options]

Starts tillsync serve on PostgreSQL, pairs simulated devices over HTTP, runs sync cycles (push a few new
rows, then pull to the end) from all of them for a while, and prints throughput, latency percentiles,
errors by code, and how far the sync jobs the pushes triggered ran behind them (queued to started). At the end it checks that the server holds exactly the rows it acknowledged, and
exits 1 if not. The devices run on this machine too, and take part of its CPU.

With --stores, one chain on the chain schema (serve --schema chain, docs/stores.md): the stores are made
through the owner's API, each device is paired with a pairing code of its store and starts holding the
catalogue, and each cycle pushes a sale of its store with its items and their stock_levels deltas. Every
pulled change is checked to be the tenant's or the device's store's. After the run, a fresh till of one
store takes a first sync, timed against the same store's rows alone in a new tenant of one store.

Options:
  --devices <n>              simulated devices (default 2000)
  --stores <n>               a chain of n stores in one tenant instead of shops (not with --devices or
                             --devices-per-tenant)
  --devices-per-store <n>    with --stores: devices per store (default 3)
  --products <n>             with --stores: products in the chain's catalogue (default 5000)
  --seconds <n>              how long the devices run cycles (default 60)
  --interval <n>             seconds from one cycle of a device to its next, as a till's sync interval; the
                             first cycles are spread over the first interval; 0 runs cycles back to back,
                             the most the server can take (default 30)
  --timeout <n>              seconds a request may take before it counts as TIMEOUT (default 60)
  --devices-per-tenant <n>   devices per shop; a shop's pushes are serialised (default 10)
  --rows-per-push <n>        new rows each push carries; with --stores, the items of the sale each push
                             carries, with a stock_levels delta each (default 3)
  --processes <n>            tillsync serve processes on the database, devices spread over them (default 1)
  --pull-limit <n>           rows per pull page (default 500)
  --pair-concurrency <n>     pairings in flight at once while setting up (default 32)
  --push-job-wait-ms <ms>    serve --push-job-wait-ms: how long a push waits for the jobs it triggered
                             (default: the server's, 2000); 0 answers at once
  --database-url <url>       a postgres:// database to use and keep (default: a fresh database on
                             TILLSYNC_BENCH_PG_URL or postgres://postgres@127.0.0.1:5432/test, dropped at the end)
  --profile-dir <dir>        write a CPU profile of each serve process there (node --cpu-prof), to open in
                             Chrome DevTools or speedscope
  -h, --help                 show this help
`;

/** A flag the run cannot use: printed as one line, exit 2. */
export class LoadUsageError extends Error {
  override readonly name = 'LoadUsageError';
}

const COUNTS = {
  devices: { fallback: 2000, min: 1, max: 100_000 },
  stores: { fallback: 0, min: 1, max: 100_000 },
  'devices-per-store': { fallback: 3, min: 1, max: 1000 },
  products: { fallback: 5000, min: 1, max: 1_000_000 },
  seconds: { fallback: 60, min: 1, max: 24 * 3600 },
  interval: { fallback: 30, min: 0, max: 3600 },
  timeout: { fallback: 60, min: 1, max: 3600 },
  'devices-per-tenant': { fallback: 10, min: 1, max: 100_000 },
  'rows-per-push': { fallback: 3, min: 1, max: 10_000 },
  processes: { fallback: 1, min: 1, max: 64 },
  'pull-limit': { fallback: 500, min: 1, max: 5000 },
  'pair-concurrency': { fallback: 32, min: 1, max: 10_000 },
  'push-job-wait-ms': { fallback: -1, min: 0, max: 60_000 },
} as const;

/** Reads the flags; null when `--help` was asked for. */
export function parseLoadOptions(args: readonly string[]): LoadOptions | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(Object.keys(COUNTS).map((name) => [name, { type: 'string' as const }])),
        'database-url': { type: 'string' },
        'profile-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new LoadUsageError((error as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help === true) return null;
  const count = (name: keyof typeof COUNTS): number => {
    const { fallback, min, max } = COUNTS[name];
    const text = values[name];
    if (typeof text !== 'string') return fallback;
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max)
      throw new LoadUsageError(`--${name} must be a whole number from ${min} to ${max}, not "${text}"`);
    return value;
  };
  const chain = values.stores !== undefined;
  for (const flag of chain ? ['devices', 'devices-per-tenant'] : ['devices-per-store', 'products'])
    if (values[flag] !== undefined)
      throw new LoadUsageError(
        chain ? `--${flag} is for shops; with --stores, say --devices-per-store` : `--${flag} needs --stores`,
      );
  const stores = chain ? count('stores') : null;
  const devicesPerStore = count('devices-per-store');
  if (stores !== null && stores * devicesPerStore > COUNTS.devices.max)
    throw new LoadUsageError(
      `--stores × --devices-per-store is at most ${COUNTS.devices.max} devices, not ${stores * devicesPerStore}`,
    );
  const databaseUrl = values['database-url'];
  if (typeof databaseUrl === 'string' && !/^postgres(ql)?:\/\//.test(databaseUrl))
    throw new LoadUsageError(`--database-url must be a postgres:// URL, not "${databaseUrl}"`);
  return {
    devices: stores === null ? count('devices') : stores * devicesPerStore,
    stores,
    devicesPerStore,
    products: count('products'),
    seconds: count('seconds'),
    interval: count('interval'),
    timeoutSeconds: count('timeout'),
    devicesPerTenant: count('devices-per-tenant'),
    rowsPerPush: count('rows-per-push'),
    processes: count('processes'),
    pullLimit: count('pull-limit'),
    pairConcurrency: count('pair-concurrency'),
    databaseUrl: typeof databaseUrl === 'string' ? databaseUrl : null,
    pushJobWaitMs: values['push-job-wait-ms'] === undefined ? null : count('push-job-wait-ms'),
    profileDir: typeof values['profile-dir'] === 'string' ? values['profile-dir'] : null,
  };
}

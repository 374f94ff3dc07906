import os from 'node:os';
import pg from 'pg';
import type { PairResponse } from '@tillsync/protocol';
import { Accounts, openStorage, resolveServerConfig } from '@tillsync/server';
import { freshPostgresDatabase } from '../measure.js';
import { startServeProcess, type ServeProcess } from '../serve-process.js';
import { HELP, LoadUsageError, parseLoadOptions, type LoadOptions } from './options.js';
import { compareFirstSync, setUpChain, type Chain } from './chain.js';
import { inParallel } from './in-parallel.js';
import { counterKeyOf, LoadStats, RowLedger, rowKeyOf } from './load-stats.js';
import { newCustomers, sendJson, SimulatedDevice } from './simulated-device.js';

/**
 * `npm run load`: many devices syncing against `tillsync serve` on PostgreSQL at once (see `--help` and
 * docs/deploy.md). Not part of CI: it runs for minutes and its figures depend on the machine.
 */
async function main(): Promise<number> {
  let options: LoadOptions | null;
  try {
    options = parseLoadOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof LoadUsageError)) throw error;
    process.stderr.write(`npm run load: ${error.message}\n`);
    return 2;
  }
  if (options === null) {
    process.stdout.write(HELP);
    return 0;
  }
  const database = options.databaseUrl
    ? { url: options.databaseUrl, drop: () => Promise.resolve() }
    : await freshPostgresDatabase();
  const servers: ServeProcess[] = [];
  try {
    const args = [
      '--database-url',
      database.url,
      // Every device pairs from this one address, as a crowd of tills behind one shop router would not.
      '--pair-rate-limit',
      '1000000000/60',
      '--access-token-ttl',
      String(Math.max(3600, options.seconds * 2 + 600)),
      ...(options.stores === null ? [] : ['--schema', 'chain']),
      ...(options.pushJobWaitMs === null ? [] : ['--push-job-wait-ms', String(options.pushJobWaitMs)]),
    ];
    const nodeArgs = options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [];
    // The first process records the schema served on the fresh database; the others start on it.
    servers.push(await startServeProcess(args, {}, nodeArgs));
    servers.push(
      ...(await Promise.all(
        Array.from({ length: options.processes - 1 }, () => startServeProcess(args, {}, nodeArgs)),
      )),
    );
    const where =
      options.stores === null
        ? `${options.devices} devices in ${Math.ceil(options.devices / options.devicesPerTenant)} shops`
        : `a chain of ${options.stores} stores × ${options.devicesPerStore} devices (${options.devices}), ` +
          `a catalogue of ${options.products} products,`;
    const writes =
      options.stores === null
        ? `${options.rowsPerPush} new rows per push`
        : `a sale of ${options.rowsPerPush} items with their stock deltas per push`;
    print(
      `tillsync load: ${where} on ${options.processes} serve process(es), ` +
        `PostgreSQL, ${options.seconds} s, a cycle every ${options.interval} s per device, ${writes}` +
        (options.pushJobWaitMs === null
          ? ''
          : `, pushes waiting ${options.pushJobWaitMs} ms for their jobs`) +
        '; ' +
        `${os.cpus().length} cores, load average ${os.loadavg()[0]?.toFixed(1)} at the start`,
    );

    const stats = new LoadStats();
    const ledger = new RowLedger();
    const pairStarted = performance.now();
    let chain: Chain | null = null;
    let devices: SimulatedDevice[];
    if (options.stores === null) {
      devices = await pairDevices(database.url, servers, options, stats, ledger);
      const pairSeconds = (performance.now() - pairStarted) / 1000;
      print(
        `made the shops and paired ${devices.length} devices in ${pairSeconds.toFixed(1)} s (${rate(devices.length, pairSeconds)} pairings/s)`,
      );
    } else {
      ({ chain, devices } = await setUpChain(
        database.url,
        servers,
        { ...options, stores: options.stores },
        stats,
        ledger,
        print,
      ));
    }

    const started = performance.now();
    const deadline = started + options.seconds * 1000;
    const intervalMs = options.interval * 1000;
    await Promise.all(
      devices.map(async (device, index) => {
        // The first cycles are spread over the first interval, as tills that started at different times.
        let next = started + (intervalMs * index) / devices.length;
        while (next < deadline) {
          await sleepUntil(next);
          await device.cycle();
          next = Math.max(next + intervalMs, performance.now());
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    report(stats, seconds, options);
    await reportJobLag(database.url);

    const outOfScope =
      stats.outOfScope +
      (chain === null ? 0 : await compareFirstSync(database.url, servers[0]!, chain, options, print));
    if (chain !== null)
      print(
        outOfScope === 0
          ? 'scope: no device received a row of another store'
          : `scope FAILED: devices received ${outOfScope} changes of another store`,
      );
    await Promise.all(servers.splice(0).map((server) => server.stop()));
    const holds = await checkStoredRows(database.url, ledger);
    return holds && outOfScope === 0 ? 0 : 1;
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await database.drop();
  }
}

/** Makes the shops and their pairing codes in the database, then pairs every device over HTTP. */
async function pairDevices(
  databaseUrl: string,
  servers: readonly ServeProcess[],
  options: LoadOptions,
  stats: LoadStats,
  ledger: RowLedger,
): Promise<SimulatedDevice[]> {
  const storage = await openStorage({ databaseUrl });
  const shops = Array.from({ length: Math.ceil(options.devices / options.devicesPerTenant) }, (_, shop) => ({
    shop,
    devices: Math.min(options.devicesPerTenant, options.devices - shop * options.devicesPerTenant),
  }));
  const codes: Array<{ code: string }> = [];
  try {
    const accounts = new Accounts(storage.accounts, resolveServerConfig({}));
    const run = Date.now().toString(36);
    await inParallel(shops, options.pairConcurrency, async ({ shop, devices }) => {
      const { tenantId } = await accounts.createTenant({
        name: `Load shop ${shop + 1}`,
        email: `load-${run}-${shop}@shop.test`,
        password: 'load test password',
      });
      for (let index = 0; index < devices; index++) codes.push(await accounts.createPairingCode(tenantId));
    });
  } finally {
    await storage.close();
  }
  const devices: SimulatedDevice[] = [];
  await inParallel(codes, options.pairConcurrency, async ({ code }, index) => {
    const serverUrl = servers[index % servers.length]!.url;
    const started = performance.now();
    const paired = await sendJson<PairResponse>(`${serverUrl}/api/devices/pair`, {
      method: 'POST',
      body: { code, name: `Load till ${index + 1}`, platform: 'load-test' },
      timeoutMs: options.timeoutSeconds * 1000,
    });
    stats.record('pair', performance.now() - started);
    devices.push(
      new SimulatedDevice({
        serverUrl,
        tenantId: paired.tenantId,
        accessToken: paired.accessToken,
        writes: newCustomers(options.rowsPerPush),
        pullLimit: options.pullLimit,
        timeoutMs: options.timeoutSeconds * 1000,
        stats,
        ledger,
      }),
    );
  });
  return devices;
}

function report(stats: LoadStats, seconds: number, options: LoadOptions): void {
  print(
    `ran ${seconds.toFixed(1)} s: ${stats.cycles.toLocaleString('en')} sync cycles (${rate(stats.cycles, seconds)}/s), ` +
      `${stats.requests.toLocaleString('en')} requests (${rate(stats.requests, seconds)}/s), ` +
      `${stats.pushedRows.toLocaleString('en')} rows pushed (${rate(stats.pushedRows, seconds)}/s), ` +
      `${stats.pulledRows.toLocaleString('en')} rows pulled (${rate(stats.pulledRows, seconds)}/s)`,
  );
  print(
    `  the server's load: ${(stats.cycles / seconds).toFixed(1)} cycles/s from ${options.devices} devices ` +
      `(a cycle every ${options.interval} s each), ${rate(stats.requests, seconds)} requests/s over ` +
      `${options.processes} process(es)`,
  );
  for (const kind of ['pair', 'push', 'pull', 'cycle']) {
    const figures = stats.percentiles(kind);
    if (!figures) continue;
    const ms = (value: number): string => value.toFixed(value < 10 ? 1 : 0);
    print(
      `  ${`${kind} latency`.padEnd(14)} p50 ${ms(figures.p50)} ms, p95 ${ms(figures.p95)} ms, ` +
        `p99 ${ms(figures.p99)} ms, max ${ms(figures.max)} ms (${figures.count.toLocaleString('en')} ${kind === 'pull' ? 'pages' : 'calls'})`,
    );
  }
  const errors = [...stats.errors()].sort((a, b) => b[1] - a[1]);
  print(
    errors.length === 0
      ? 'errors: none'
      : `errors: ${errors.map(([code, count]) => `${code} × ${count.toLocaleString('en')}`).join(', ')}`,
  );
}

/**
 * Reads every tenant's rows back from the database: each acknowledged row must be there, and nothing else
 * of its tables but rows of pushes that never got an answer; each counter must hold the deltas the server
 * took (and at most those of unanswered pushes besides).
 */
async function checkStoredRows(databaseUrl: string, ledger: RowLedger): Promise<boolean> {
  const storage = await openStorage({ databaseUrl });
  let missing = 0;
  let unexpected = 0;
  let stored = 0;
  let counters = 0;
  let wrongCounters = 0;
  try {
    const tenants = new Set([
      ...ledger.acknowledged.keys(),
      ...ledger.unresolved.keys(),
      ...ledger.acknowledgedDeltas.keys(),
    ]);
    for (const tenantId of tenants) {
      const acknowledged = ledger.acknowledged.get(tenantId) ?? new Set<string>();
      const unresolved = ledger.unresolved.get(tenantId) ?? new Set<string>();
      const deltas = ledger.acknowledgedDeltas.get(tenantId) ?? new Map<string, number>();
      const unresolvedDeltas = ledger.unresolvedDeltas.get(tenantId) ?? new Map<string, number>();
      const tables = new Set([...acknowledged, ...unresolved].map((key) => key.slice(0, key.indexOf('/'))));
      const found = new Set<string>();
      const counted = new Map<string, number>();
      const store = storage.sync.forTenant(tenantId);
      for (let cursor = 0; ;) {
        const page = await store.pull(cursor, 5000);
        if (page.resyncRequired) throw new Error(`the check's pull of ${tenantId} was asked to resync`);
        for (const row of page.rows) {
          if (row.valuesJson === null) continue;
          if (tables.has(row.table)) found.add(rowKeyOf(row.table, row.id));
          const values = JSON.parse(row.valuesJson) as Record<string, unknown>;
          for (const [column, value] of Object.entries(values)) {
            const key = counterKeyOf(row.table, row.id, column);
            if (deltas.has(key) || unresolvedDeltas.has(key)) counted.set(key, Number(value));
          }
        }
        cursor = page.cursorSeq;
        if (!page.hasMore) break;
      }
      stored += found.size;
      for (const key of acknowledged) if (!found.has(key)) missing += 1;
      for (const key of found) if (!acknowledged.has(key) && !unresolved.has(key)) unexpected += 1;
      // Counters start at 0 (made by a delta): they hold the deltas taken, plus any of unanswered pushes.
      for (const key of new Set([...deltas.keys(), ...unresolvedDeltas.keys()])) {
        counters += 1;
        const sum = deltas.get(key) ?? 0;
        const maybe = unresolvedDeltas.get(key) ?? 0;
        const value = counted.get(key) ?? 0;
        if (value < Math.min(sum, sum + maybe) || value > Math.max(sum, sum + maybe)) wrongCounters += 1;
      }
    }
  } finally {
    await storage.close();
  }
  const acknowledgedCount = ledger.count(ledger.acknowledged);
  const unresolvedCount = ledger.count(ledger.unresolved);
  const holds = missing === 0 && unexpected === 0 && wrongCounters === 0;
  const counterWords = counters > 0 ? ` and the ${counters.toLocaleString('en')} counters they moved` : '';
  print(
    holds
      ? `check: the server holds exactly the ${acknowledgedCount.toLocaleString('en')} acknowledged rows` +
          counterWords +
          (unresolvedCount > 0
            ? `, and ${stored - acknowledgedCount} of ${unresolvedCount} rows of unanswered pushes`
            : '')
      : `check FAILED: ${missing} acknowledged rows missing, ${unexpected} rows stored that no push acknowledged ` +
          `(${acknowledgedCount} acknowledged, ${stored} stored), ${wrongCounters} of ${counters} counters wrong`,
  );
  return holds;
}

/**
 * How far the server's sync jobs (a chain's daily totals) ran behind the pushes that triggered them, as the
 * run ended: the wait from queued to started, and the jobs not yet started.
 */
async function reportJobLag(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{
      jobs: string;
      waiting: string;
      p50: number | null;
      p99: number | null;
    }>(`select count(*) as jobs, count(*) filter (where started_at is null) as waiting,
          percentile_cont(0.5) within group (order by started_at - created_at) as p50,
          percentile_cont(0.99) within group (order by started_at - created_at) as p99
        from sync_jobs`);
    const lag = rows[0];
    if (!lag || Number(lag.jobs) === 0) return;
    const ms = (value: number | null): string => (value === null ? '-' : `${Math.round(value)} ms`);
    print(
      `  sync jobs     ${Number(lag.jobs).toLocaleString('en')} queued, ${Number(lag.waiting).toLocaleString('en')} ` +
        `not yet started at the end; queued to started p50 ${ms(lag.p50)}, p99 ${ms(lag.p99)}`,
    );
  } finally {
    await client.end();
  }
}

function sleepUntil(at: number): Promise<void> {
  const ms = at - performance.now();
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

function rate(count: number, seconds: number): string {
  return Math.round(count / seconds).toLocaleString('en');
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

process.exitCode = await main();

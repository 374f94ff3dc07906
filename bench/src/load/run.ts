import os from 'node:os';
import type { PairResponse } from '@tillsync/protocol';
import { Accounts, openStorage, resolveServerConfig } from '@tillsync/server';
import { freshPostgresDatabase } from '../measure.js';
import { startServeProcess, type ServeProcess } from '../serve-process.js';
import { HELP, LoadUsageError, parseLoadOptions, type LoadOptions } from './options.js';
import { LoadStats, RowLedger } from './load-stats.js';
import { sendJson, SimulatedDevice } from './simulated-device.js';

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
    ];
    const nodeArgs = options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [];
    servers.push(
      ...(await Promise.all(
        Array.from({ length: options.processes }, () => startServeProcess(args, {}, nodeArgs)),
      )),
    );
    const tenants = Math.ceil(options.devices / options.devicesPerTenant);
    print(
      `tillsync load: ${options.devices} devices in ${tenants} shops on ${options.processes} serve process(es), ` +
        `PostgreSQL, ${options.seconds} s, a cycle every ${options.interval} s per device, ` +
        `${options.rowsPerPush} new rows per push; ` +
        `${os.cpus().length} cores, load average ${os.loadavg()[0]?.toFixed(1)} at the start`,
    );

    const stats = new LoadStats();
    const ledger = new RowLedger();
    const pairStarted = performance.now();
    const devices = await pairDevices(database.url, servers, options, stats, ledger);
    const pairSeconds = (performance.now() - pairStarted) / 1000;
    print(
      `made the shops and paired ${devices.length} devices in ${pairSeconds.toFixed(1)} s (${rate(devices.length, pairSeconds)} pairings/s)`,
    );

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
    report(stats, seconds);

    await Promise.all(servers.splice(0).map((server) => server.stop()));
    return (await checkStoredRows(database.url, ledger)) ? 0 : 1;
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
        rowsPerPush: options.rowsPerPush,
        pullLimit: options.pullLimit,
        timeoutMs: options.timeoutSeconds * 1000,
        stats,
        ledger,
      }),
    );
  });
  return devices;
}

/** Runs `work` on every item, at most `concurrency` at once. */
async function inParallel<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

function report(stats: LoadStats, seconds: number): void {
  print(
    `ran ${seconds.toFixed(1)} s: ${stats.cycles.toLocaleString('en')} sync cycles (${rate(stats.cycles, seconds)}/s), ` +
      `${stats.requests.toLocaleString('en')} requests (${rate(stats.requests, seconds)}/s), ` +
      `${stats.pushedRows.toLocaleString('en')} rows pushed (${rate(stats.pushedRows, seconds)}/s), ` +
      `${stats.pulledRows.toLocaleString('en')} rows pulled (${rate(stats.pulledRows, seconds)}/s)`,
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
 * Reads every shop's rows back from the database: each acknowledged row must be there, and nothing else
 * but rows of pushes that never got an answer.
 */
async function checkStoredRows(databaseUrl: string, ledger: RowLedger): Promise<boolean> {
  const storage = await openStorage({ databaseUrl });
  let missing = 0;
  let unexpected = 0;
  let stored = 0;
  try {
    const tenants = new Set([...ledger.acknowledged.keys(), ...ledger.unresolved.keys()]);
    for (const tenantId of tenants) {
      const acknowledged = ledger.acknowledged.get(tenantId) ?? new Set<string>();
      const unresolved = ledger.unresolved.get(tenantId) ?? new Set<string>();
      const found = new Set<string>();
      const store = storage.sync.forTenant(tenantId);
      for (let cursor = 0; ;) {
        const page = await store.pull(cursor, 5000);
        if (page.resyncRequired) throw new Error(`the check's pull of ${tenantId} was asked to resync`);
        for (const row of page.rows)
          if (row.table === 'customers' && row.valuesJson !== null) found.add(row.id);
        cursor = page.cursorSeq;
        if (!page.hasMore) break;
      }
      stored += found.size;
      for (const id of acknowledged) if (!found.has(id)) missing += 1;
      for (const id of found) if (!acknowledged.has(id) && !unresolved.has(id)) unexpected += 1;
    }
  } finally {
    await storage.close();
  }
  const acknowledgedCount = ledger.count(ledger.acknowledged);
  const unresolvedCount = ledger.count(ledger.unresolved);
  const holds = missing === 0 && unexpected === 0;
  print(
    holds
      ? `check: the server holds exactly the ${acknowledgedCount.toLocaleString('en')} acknowledged rows` +
          (unresolvedCount > 0
            ? ` and ${stored - acknowledgedCount} of ${unresolvedCount} rows of unanswered pushes`
            : '')
      : `check FAILED: ${missing} acknowledged rows missing, ${unexpected} rows stored that no push acknowledged ` +
          `(${acknowledgedCount} acknowledged, ${stored} stored)`,
  );
  return holds;
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

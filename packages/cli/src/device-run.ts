import fs from 'node:fs';
import path from 'node:path';
import {
  LegacyBridgeRunner,
  createSyncClient,
  normalizeServerUrl,
  pulledText,
  readLegacyStatus,
  toSummary,
  withLegacyBridge,
  type DeviceLogger,
  type SyncClient,
  type SyncSummary,
} from '@tillsync/client';
import type { DeviceAgentOptions } from './device-agent.js';
import { DEVICE_SETTINGS, type PairFlags, type SyncFlags } from './device-settings.js';
import { readSetting, type Setting } from './settings.js';
import { untilStopSignal } from './stop-signal.js';
import { UsageError } from './usage-error.js';
import { webAssetsDir } from './web-assets.js';

/** What `tillsync pair`, `sync`, `status` and `device` do (their flags are in `device-commands.ts` and `device-settings.ts`). */

const serverUrl = (value: string, name: string): string => {
  try {
    return normalizeServerUrl(value);
  } catch (error) {
    throw new UsageError(`${name}: ${(error as Error).message}`);
  }
};

/** `DEVICE_SETTINGS`, with the server's URL checked as a URL. */
const SETTINGS = { ...DEVICE_SETTINGS, server: { ...DEVICE_SETTINGS.server, parse: serverUrl } };

export async function runPair(flags: PairFlags): Promise<void> {
  let serverUrl: string;
  try {
    serverUrl = normalizeServerUrl(flags.server);
  } catch (error) {
    throw new UsageError(`--server: ${(error as Error).message}`);
  }
  const folder = path.dirname(path.resolve(flags.db));
  if (!fs.existsSync(folder)) throw new UsageError(`--db ${flags.db}: the folder ${folder} does not exist`);
  await withClient(flags.db, serverUrl, async (client) => {
    const paired = await client.pair(flags.code, flags.name === undefined ? {} : { name: flags.name });
    printJson(paired);
  });
}

export async function runSync(flags: SyncFlags): Promise<void> {
  if (flags.discardLocal && !flags.pullOnly) throw new UsageError('--discard-local goes with --pull-only');
  if (!PROGRESS_KINDS.includes(flags.progress as ProgressKind))
    throw new UsageError(`--progress must be one of ${PROGRESS_KINDS.join(', ')}, not "${flags.progress}"`);
  requireFile(flags.db);
  await withClient(flags.db, undefined, async (client) => {
    if (!client.paired) {
      throw new UsageError(`--db ${flags.db} is not paired with a server; run "tillsync pair" first`);
    }
    // An attached legacy database (`tillsync attach`) is brought in step around the cycle, as the agent does.
    // Its time counts in `durationMs`, and a row its database refuses makes the cycle fail (`rejected`).
    const bridge = new LegacyBridgeRunner({ dbPath: flags.db, logger: stderrLogger() });
    const progress = reportProgress(client, flags.progress as ProgressKind);
    let summary: SyncSummary;
    try {
      const entry = await withLegacyBridge(client, bridge)
        .runCycle(
          flags.pullOnly
            ? { trigger: 'manual', pullOnly: true, discardLocal: flags.discardLocal === true }
            : { trigger: 'manual' },
        )
        .finally(() => bridge.close());
      summary = toSummary(entry);
    } finally {
      progress.stop();
    }
    printJson(summary);
    if (!summary.ok) process.exitCode = 1;
    // A first sync's cycle ends once its rows are in; their search index is built after it, as the agent's
    // worker does between cycles. Killed meanwhile, the next sync goes on with it.
    const unbuilt = client.searchIndexesUnbuilt();
    if (unbuilt.length === 0) return;
    if (flags.progress === 'json')
      process.stderr.write(`${JSON.stringify({ buildingSearchIndex: unbuilt })}\n`);
    else if (flags.progress === 'lines')
      process.stderr.write(`tillsync sync: building the search index of ${unbuilt.join(', ')}\n`);
    await client.buildSearchIndexes();
  });
}

export async function runDevice(flags: Record<string, unknown>): Promise<void> {
  const options = agentOptions(flags);
  // The agent (its local API and page) is loaded only by `tillsync device`, not by the quick commands.
  const { NoServerError, startDeviceAgent } = await import('./device-agent.js');
  const agent = await startDeviceAgent({ ...options, logger: stderrLogger() }).catch((error: unknown) => {
    if (error instanceof NoServerError) throw new UsageError(error.message);
    throw usageErrorOfFile(options.dbPath, error);
  });
  // Listening for the stop before saying it is ready: whoever waits for the line may stop it at once.
  const stopAsked = untilStopSignal();
  process.stdout.write(`tillsync device: listening on ${agent.url}\n`);
  await stopAsked;
  await agent.close();
}

export async function runStatus(flags: { db: string }): Promise<void> {
  requireFile(flags.db);
  await withClient(flags.db, undefined, (client) => {
    const legacy = readLegacyStatus(flags.db);
    printJson(legacy === null ? client.status : { ...client.status, legacy });
    return Promise.resolve();
  });
}

function agentOptions(flags: Record<string, unknown>): DeviceAgentOptions {
  const read = <T>(setting: Setting<T>): T | undefined => readSetting(setting, flags);
  const server = read(SETTINGS.server);
  const db = read(SETTINGS.db);
  if (server === undefined && (db === undefined || !fs.existsSync(db)))
    throw new UsageError('give the server to sync with: --server URL');
  if (db === undefined) throw new UsageError("give the device's SQLite file: --db FILE");
  const folder = path.dirname(path.resolve(db));
  if (!fs.existsSync(folder)) throw new UsageError(`--db ${db}: the folder ${folder} does not exist`);
  const pairCode = read(SETTINGS.pair);
  const name = read(SETTINGS.name);
  const interval = read(SETTINGS.interval);
  const port = read(SETTINGS.port);
  if (name !== undefined && pairCode === undefined) throw new UsageError('--name goes with --pair');
  const page = webAssetsDir('device');
  return {
    dbPath: db,
    ...(server !== undefined ? { serverUrl: server } : {}),
    ...(pairCode !== undefined ? { pairCode } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(interval !== undefined ? { intervalMs: interval * 1000 } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(page !== null ? { webRoot: page } : {}),
  };
}

/** The agent's log: one JSON object a line on stderr (stdout carries only the ready line). */
function stderrLogger(): DeviceLogger {
  const write =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      process.stderr.write(
        `${JSON.stringify({ level, time: new Date().toISOString(), ...fields, msg: message })}\n`,
      );
    };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}

function requireFile(file: string): void {
  if (!fs.existsSync(file)) throw new UsageError(`--db ${file}: there is no such file`);
}

/** A file that is not SQLite (or cannot be opened) as a usage error; any other error as it is. */
function usageErrorOfFile(dbPath: string, error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CANTOPEN') {
    return new UsageError(`--db ${dbPath}: not a SQLite database that can be opened`);
  }
  return error;
}

/** Opens the device file (a file that is not SQLite is a usage error), runs `fn`, and closes it. */
async function withClient(
  dbPath: string,
  serverUrl: string | undefined,
  fn: (client: SyncClient) => Promise<void>,
): Promise<void> {
  let client: SyncClient;
  try {
    client = createSyncClient(serverUrl === undefined ? { dbPath } : { dbPath, serverUrl });
  } catch (error) {
    throw usageErrorOfFile(dbPath, error);
  }
  try {
    await fn(client);
  } finally {
    await client.close();
  }
}

const PROGRESS_KINDS = ['lines', 'json', 'none'] as const;
type ProgressKind = (typeof PROGRESS_KINDS)[number];
/**
 * How often `tillsync sync` tells how far it got (`TILLSYNC_PROGRESS_EVERY_MS` sets it, for programs that
 * want it more often); a sync shorter than this prints nothing but its summary.
 */
function progressEveryMs(): number {
  const text = process.env.TILLSYNC_PROGRESS_EVERY_MS;
  const value = text === undefined || text === '' ? 1000 : Number(text);
  if (!Number.isInteger(value) || value < 10)
    throw new UsageError(`TILLSYNC_PROGRESS_EVERY_MS must be a whole number of ms from 10, not "${text}"`);
  return value;
}

/**
 * Tells on stderr, each second, what the cycle running on `client` has done so far: "pulled 12,000 rows so
 * far" (on a terminal, the line is rewritten in place), or a JSON object a line. stdout keeps only the summary.
 */
function reportProgress(client: SyncClient, kind: ProgressKind): { stop: () => void } {
  if (kind === 'none') return { stop: () => {} };
  const everyMs = progressEveryMs();
  const started = Date.now();
  const terminal = kind === 'lines' && process.stderr.isTTY;
  let wrote = false;
  const timer = setInterval(() => {
    const progress = client.progress;
    if (!progress) return;
    const elapsedMs = Date.now() - started;
    if (kind === 'json') {
      process.stderr.write(`${JSON.stringify({ progress: { ...progress, elapsedMs } })}\n`);
      return;
    }
    const parts = [
      ...(progress.pushed > 0 ? [`pushed ${new Intl.NumberFormat('en').format(progress.pushed)} rows`] : []),
      `pulled ${pulledText(progress, 'en')}`,
    ];
    const line = `tillsync sync: ${parts.join(', ')} so far (${Math.round(elapsedMs / 1000)} s)`;
    process.stderr.write(terminal ? `\r\x1b[2K${line}` : `${line}\n`);
    wrote = true;
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      if (terminal && wrote) process.stderr.write('\n');
    },
  };
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

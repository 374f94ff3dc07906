import fs from 'node:fs';
import path from 'node:path';
import { createSyncClient, normalizeServerUrl, type SyncClient } from '@tillsync/client';
import type { Command } from 'commander';
import { UsageError } from './usage-error.js';

/** `tillsync pair`, `sync` and `status`: the device side (PROTOCOL.md §4). Each prints one JSON line. */
export function registerDeviceCommands(program: Command): void {
  program
    .command('pair')
    .description('pair a device file with a server, once; prints {"deviceId", "tenantId"}')
    .requiredOption('--server <url>', "the server's URL, such as http://127.0.0.1:8787")
    .requiredOption('--db <file>', "the device's SQLite file (created when missing)")
    .requiredOption('--code <code>', "a one-time pairing code from the owner's dashboard")
    .option('--name <name>', "the device's name in the owner's devices panel (default: this machine's name)")
    .action(async (flags: { server: string; db: string; code: string; name?: string }) => {
      let serverUrl: string;
      try {
        serverUrl = normalizeServerUrl(flags.server);
      } catch (error) {
        throw new UsageError(`--server: ${(error as Error).message}`);
      }
      const folder = path.dirname(path.resolve(flags.db));
      if (!fs.existsSync(folder))
        throw new UsageError(`--db ${flags.db}: the folder ${folder} does not exist`);
      await withClient(flags.db, serverUrl, async (client) => {
        const paired = await client.pair(flags.code, flags.name === undefined ? {} : { name: flags.name });
        printJson(paired);
      });
    });

  program
    .command('sync')
    .description(
      'run one sync cycle now (push, then pull) with the server the file was paired with; prints its summary ' +
        'as JSON and exits 1 when the cycle failed',
    )
    .requiredOption('--db <file>', "the device's SQLite file, paired with `tillsync pair`")
    .option('--pull-only', 'force pull: pull without pushing; unsent changes stay pending')
    .option(
      '--discard-local',
      "with --pull-only: replace unsent changes by the server's rows (the local versions are kept in _sync_set_aside)",
    )
    .action(async (flags: { db: string; pullOnly?: boolean; discardLocal?: boolean }) => {
      if (flags.discardLocal && !flags.pullOnly)
        throw new UsageError('--discard-local goes with --pull-only');
      requireFile(flags.db);
      await withClient(flags.db, undefined, async (client) => {
        if (!client.paired) {
          throw new UsageError(`--db ${flags.db} is not paired with a server; run "tillsync pair" first`);
        }
        const summary = flags.pullOnly
          ? await client.pull({ discardLocal: flags.discardLocal === true, trigger: 'manual' })
          : await client.sync({ trigger: 'manual' });
        printJson(summary);
        if (!summary.ok) process.exitCode = 1;
      });
    });

  program
    .command('status')
    .description(
      'print the sync status of a device file as JSON: {"state", "lastSyncedAt", "pendingChanges", "lastError"}',
    )
    .requiredOption('--db <file>', "the device's SQLite file")
    .action(async (flags: { db: string }) => {
      requireFile(flags.db);
      await withClient(flags.db, undefined, (client) => {
        printJson(client.status);
        return Promise.resolve();
      });
    });
}

function requireFile(file: string): void {
  if (!fs.existsSync(file)) throw new UsageError(`--db ${file}: there is no such file`);
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
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CANTOPEN') {
      throw new UsageError(`--db ${dbPath}: not a SQLite database that can be opened`);
    }
    throw error;
  }
  try {
    await fn(client);
  } finally {
    await client.close();
  }
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

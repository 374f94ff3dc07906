import type { Command } from 'commander';
import type * as DeviceRun from './device-run.js';
import { DEVICE_SETTINGS, type PairFlags, type SyncFlags } from './device-settings.js';
import { optionFor } from './settings.js';

/** The implementation, loaded only when a device command runs (a quick `status` loads no server code). */
const run = (): Promise<typeof DeviceRun> => import('./device-run.js');

/**
 * `tillsync pair`, `sync`, `status` (each prints one JSON line) and `device` (the long-running agent): the
 * device side (PROTOCOL.md §4).
 */
export function registerDeviceCommands(program: Command): void {
  program
    .command('pair')
    .description('pair a device file with a server, once; prints {"deviceId", "tenantId"}')
    .requiredOption('--server <url>', "the server's URL, such as http://127.0.0.1:8787")
    .requiredOption('--db <file>', "the device's SQLite file (created when missing)")
    .requiredOption('--code <code>', "a one-time pairing code from the owner's dashboard")
    .option('--name <name>', "the device's name in the owner's devices panel (default: this machine's name)")
    .action(async (flags: PairFlags) => (await run()).runPair(flags));

  program
    .command('sync')
    .description(
      'run one sync cycle now (push, then pull) with the server the file was paired with; prints its summary ' +
        'as JSON and exits 1 when the cycle failed; after a first sync, builds the search index of the rows it ' +
        'brought before it exits (a search finds them meanwhile)',
    )
    .requiredOption('--db <file>', "the device's SQLite file, paired with `tillsync pair`")
    .option('--pull-only', 'force pull: pull without pushing; unsent changes stay pending')
    .option(
      '--discard-local',
      "with --pull-only: replace unsent changes by the server's rows (the local versions are kept in _sync_set_aside)",
    )
    .option(
      '--progress <how>',
      'on a sync longer than a second, the rows so far on stderr each second: lines (the default), json (one ' +
        'object a line, for programs) or none',
      'lines',
    )
    .action(async (flags: SyncFlags) => (await run()).runSync(flags));

  const device = program
    .command('device')
    .description(
      'run the device agent beside the POS program: syncs in the background (every 30 s, at once when ' +
        'another device pushes) and serves its local API; prints its URL when ready, stops on SIGTERM',
    );
  for (const setting of Object.values(DEVICE_SETTINGS)) device.addOption(optionFor(setting));
  device.action(async (flags: Record<string, unknown>) => (await run()).runDevice(flags));

  program
    .command('status')
    .description(
      'print the sync status of a device file as JSON: {"state", "lastSyncedAt", "pendingChanges", "lastError"}, ' +
        'and with a shop program\'s database attached, "legacy": {"legacy", "refused", "lastRefusal"} (the rows ' +
        'its database refuses, tried again every cycle)',
    )
    .requiredOption('--db <file>', "the device's SQLite file")
    .action(async (flags: { db: string }) => {
      // A device file that is set up is read without loading the sync; anything else goes the long way.
      const { readQuickStatus } = await import('@tillsync/client/quick-status');
      const status = readQuickStatus(flags.db);
      if (status) process.stdout.write(`${JSON.stringify(status)}\n`);
      else await (await run()).runStatus(flags);
    });
}

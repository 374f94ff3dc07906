import type { SyncWorkerClient } from '../sync-worker.js';
import type { LegacyBridgeRunner } from './legacy-attachment.js';

/**
 * The device as a {@link SyncWorkerClient} whose every cycle is framed by the bridge to an attached legacy
 * database: its changes go in before the push, the pull's changes go out after it, and the cycle's entry
 * tells the bridge's time and the rows the program's database refuses. The worker itself knows nothing of it.
 *
 * @example
 * const bridge = new LegacyBridgeRunner({ dbPath: 'till.db', logger });
 * const worker = new SyncWorker({ client: withLegacyBridge(client, bridge) });
 */
export function withLegacyBridge(client: SyncWorkerClient, bridge: LegacyBridgeRunner): SyncWorkerClient {
  return {
    get status() {
      return client.status;
    },
    get lastCycle() {
      return client.lastCycle;
    },
    get progress() {
      return client.progress ?? null;
    },
    async runCycle(request) {
      await bridge.beforeCycle();
      const entry = await client.runCycle(request);
      await bridge.afterCycle();
      return bridge.finishCycle(entry);
    },
    openChangeStream: (signal) => client.openChangeStream(signal),
    ...(client.localWriteMark ? { localWriteMark: () => client.localWriteMark?.() ?? null } : {}),
    ...(client.buildSearchIndexes ? { buildSearchIndexes: client.buildSearchIndexes.bind(client) } : {}),
  };
}

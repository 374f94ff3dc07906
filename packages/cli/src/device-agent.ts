import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  LegacyBridgeRunner,
  SyncWorker,
  createSyncClient,
  withLegacyBridge,
  silentLogger,
  type DeviceLogger,
  type SyncClient,
} from '@tillsync/client';
import { DeviceApi } from './device-api.js';
import { TILL_OPERATIONS, tillRoutes } from './device-till-routes.js';

/** Options for {@link startDeviceAgent}. */
export interface DeviceAgentOptions {
  /** The device's SQLite file; created when missing. */
  readonly dbPath: string;
  /** The server to sync with (and to pair with). @defaultValue the one the file was paired with */
  readonly serverUrl?: string;
  /** A one-time pairing code: the file is paired with it first, unless it is paired already. */
  readonly pairCode?: string;
  /** The device's name in the owner's devices panel, when pairing. @defaultValue the machine's name */
  readonly name?: string;
  /** The time between scheduled cycles. @defaultValue 30000 */
  readonly intervalMs?: number;
  /** The port of the local API on 127.0.0.1; 0 picks a free one. @defaultValue 8788 */
  readonly port?: number;
  /** @defaultValue a logger that drops everything */
  readonly logger?: DeviceLogger;
  /**
   * The built device page (`apps/web/dist/device`), served at the API's address for every path outside
   * `/api/`. @defaultValue none: the local API only
   */
  readonly webRoot?: string;
}

/** The local API only ever listens here: the page and the till's own tools run on this machine. */
const LOOPBACK = '127.0.0.1';

/**
 * The device agent that a till runs beside its POS program (`tillsync device`): the device file, a
 * {@link SyncWorker} running its cycles, and the local API its page uses.
 */
export class DeviceAgent {
  readonly client: SyncClient;
  readonly worker: SyncWorker;
  /** Keeps a legacy database attached to the device file (`tillsync attach`) in step around each cycle. */
  readonly bridge: LegacyBridgeRunner;
  /** The local API's base URL, such as `http://127.0.0.1:8788`. */
  readonly url: string;
  readonly #server: http.Server;
  readonly #api: DeviceApi;
  #closing: Promise<void> | null = null;

  private constructor(
    client: SyncClient,
    worker: SyncWorker,
    bridge: LegacyBridgeRunner,
    server: http.Server,
    api: DeviceApi,
  ) {
    this.client = client;
    this.worker = worker;
    this.bridge = bridge;
    this.#server = server;
    this.#api = api;
    this.url = `http://${LOOPBACK}:${(server.address() as AddressInfo).port}`;
  }

  /** Stops the worker (its cycle in flight stops at its next request), the local API, and closes the file. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#api.close();
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeAllConnections();
      await Promise.all([closed, this.worker.stop()]);
      await this.bridge.close();
      await this.client.close();
    })();
    return this.#closing;
  }

  /** @internal Called by {@link startDeviceAgent}. */
  static async start(options: DeviceAgentOptions): Promise<DeviceAgent> {
    const logger = options.logger ?? silentLogger;
    const client = createSyncClient({
      dbPath: options.dbPath,
      ...(options.serverUrl === undefined ? {} : { serverUrl: options.serverUrl }),
    });
    try {
      if (client.serverUrl === null) throw new NoServerError(options.dbPath);
      if (options.pairCode !== undefined && !client.paired) {
        const paired = await client.pair(
          options.pairCode,
          options.name === undefined ? {} : { name: options.name },
        );
        logger.info({ component: 'device-agent', ...paired }, 'paired');
      }
      const bridge = new LegacyBridgeRunner({ dbPath: options.dbPath, logger });
      const worker = new SyncWorker({
        client: withLegacyBridge(client, bridge),
        logger,
        ...(options.intervalMs !== undefined ? { intervalMs: options.intervalMs } : {}),
      });
      const api = new DeviceApi({
        client,
        worker,
        extraRoutes: tillRoutes(client, options.webRoot ?? null),
        extraOperations: TILL_OPERATIONS,
      });
      const server = http.createServer(api.listener);
      await listen(server, options.port ?? 8788);
      const agent = new DeviceAgent(client, worker, bridge, server, api);
      worker.start();
      return agent;
    } catch (error) {
      await client.close();
      throw error;
    }
  }
}

/**
 * Opens the device file, pairs it if asked, serves the local API on 127.0.0.1 and starts syncing.
 *
 * @example
 * const agent = await startDeviceAgent({ dbPath: 'till.db', serverUrl: 'https://sync.example.com', pairCode: 'K7Q-2MX' });
 * console.log(agent.url); // http://127.0.0.1:8788
 * await agent.close();
 */
export function startDeviceAgent(options: DeviceAgentOptions): Promise<DeviceAgent> {
  return DeviceAgent.start(options);
}

/** No server was given, and the file is not paired with one. */
export class NoServerError extends Error {
  override readonly name = 'NoServerError';

  constructor(dbPath: string) {
    super(`${dbPath} is not paired with a server yet: give the server to pair with (--server URL)`);
  }
}

/** The port is in use, or cannot be listened on. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  readonly port: number;

  constructor(port: number, options: { cause: unknown }) {
    const code = (options.cause as { code?: unknown }).code;
    super(
      code === 'EADDRINUSE'
        ? `port ${port} on ${LOOPBACK} is in use (another agent?); give another with --port`
        : `cannot listen on ${LOOPBACK}:${port}: ${(options.cause as Error).message}`,
      options,
    );
    this.port = port;
  }
}

function listen(server: http.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error): void => reject(new ListenError(port, { cause: error }));
    server.once('error', failed);
    server.listen(port, LOOPBACK, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

import path from 'node:path';
import { startServer, type RunningServer, type ServerOptions } from '@tillsync/server';
import { createSyncClient, type SyncClient, type SyncClientOptions } from '../src/index.js';
import { onCleanup, tempFolder } from './helpers.js';

export const OWNER_EMAIL = 'owner@shop.test';
export const OWNER_PASSWORD = 'correct horse battery staple';

/** A real server on loopback, with an owner, stopped after the test. */
export interface TestServer {
  readonly url: string;
  readonly running: RunningServer;
  /** Asks the owner's API for a one-time pairing code. */
  pairingCode(): Promise<string>;
  /** The owner's session token. */
  ownerToken(): Promise<string>;
  /** Opens a device file and pairs it; the client is closed after the test. */
  pairedClient(name: string, options?: Partial<SyncClientOptions>): Promise<SyncClient>;
  /**
   * Stops the server (a test of a server that is down); `restart` brings it back on the same port and file,
   * with `options` changed (another schema, say).
   */
  stop(): Promise<void>;
  restart(options?: Partial<ServerOptions>): Promise<void>;
}

export async function startTestServer(options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const folder = tempFolder('tillsync-server-');
  const base: ServerOptions = {
    dbPath: path.join(folder, 'cloud.db'),
    port: 0,
    host: '127.0.0.1',
    adminEmail: OWNER_EMAIL,
    adminPassword: OWNER_PASSWORD,
    logger: false,
    ...options,
  };
  let running = await startServer(base);
  let stopped = false;
  const port = running.port;
  onCleanup(async () => {
    if (!stopped) await running.close();
  });
  const url = running.url;
  let token: string | null = null;
  const ownerToken = async (): Promise<string> => {
    if (token) return token;
    const response = await fetch(`${url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: OWNER_EMAIL, password: OWNER_PASSWORD }),
    });
    if (!response.ok) throw new Error(`login answered ${response.status} ${await response.text()}`);
    token = ((await response.json()) as { token: string }).token;
    return token;
  };
  const fixture: TestServer = {
    url,
    get running() {
      return running;
    },
    ownerToken,
    async pairingCode() {
      const response = await fetch(`${url}/api/pairing-codes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await ownerToken()}` },
        body: '{}',
      });
      if (!response.ok) throw new Error(`pairing-codes answered ${response.status} ${await response.text()}`);
      return ((await response.json()) as { code: string }).code;
    },
    async pairedClient(name, clientOptions = {}) {
      const client = createSyncClient({
        dbPath: path.join(tempFolder(), `${name}.db`),
        serverUrl: url,
        ...clientOptions,
      });
      onCleanup(() => client.close());
      await client.pair(await fixture.pairingCode(), { name, platform: 'test' });
      return client;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await running.close();
    },
    async restart(changed = {}) {
      if (!stopped) return;
      running = await startServer({ ...base, ...changed, port });
      stopped = false;
    },
  };
  return fixture;
}

/** A call to the owner's API with the owner's token; fails on any answer but 2xx; answers the JSON body. */
export async function asOwner<T>(
  server: TestServer,
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(`${server.url}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${await server.ownerToken()}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url} answered ${response.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

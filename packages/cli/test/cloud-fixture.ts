import path from 'node:path';
import { startServer, type RunningServer } from '@tillsync/server';
import { onTestFinished } from 'vitest';

/** The cloud server's first owner, made from the admin settings. */
const EMAIL = 'owner@shop.test';
const PASSWORD = 'correct horse battery staple';

/** A real server in this process for devices to pair with, stopped when the test ends. */
export interface Cloud {
  readonly url: string;
  /** A new pairing code of the first tenant, asked for over HTTP as its owner. */
  pairingCode(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts a {@link Cloud} on a SQLite file in `dir`, listening on 127.0.0.1 on a free port. */
export async function startCloud(dir: string): Promise<Cloud> {
  let server: RunningServer | null = await startServer({
    dbPath: path.join(dir, 'cloud.db'),
    port: 0,
    host: '127.0.0.1',
    adminEmail: EMAIL,
    adminPassword: PASSWORD,
    logger: false,
  });
  onTestFinished(() => server?.close());
  const url = server.url;
  return {
    url,
    async pairingCode() {
      const login = await fetch(`${url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
      });
      const { token } = (await login.json()) as { token: string };
      const answer = await fetch(`${url}/api/pairing-codes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: '{}',
      });
      return ((await answer.json()) as { code: string }).code;
    },
    async stop() {
      await server?.close();
      server = null;
    },
  };
}

#!/usr/bin/env node
// `npm start`: the cloud server on ./data/cloud.db with a demo owner, and how to pair a device with it.
// (The full demo, with two devices and their pages, comes with `tillsync demo`.)
import { startServer } from '@tillsync/server';

const email = process.env.TILLSYNC_ADMIN_EMAIL ?? 'owner@shop.test';
const password = process.env.TILLSYNC_ADMIN_PASSWORD ?? 'tillsync-demo-password';
const port = Number(process.env.TILLSYNC_PORT ?? 8787);

const server = await startServer({
  dbPath: './data/cloud.db',
  port,
  adminEmail: email,
  adminPassword: password,
  logger: false,
});
const login = await server.accounts.login(email, password);
const { code, expiresAt } = await server.accounts.createPairingCode(login.tenantId);

process.stdout.write(`Tillsync server listening on ${server.url} (database ./data/cloud.db)

Owner login: ${email} / ${password}

Pair a device (code ${code}, valid until ${expiresAt}):
  npx tillsync pair --server ${server.url} --db ./data/till-1.db --code ${code} --name "Till 1"
Then write to ./data/till-1.db with any SQLite program and sync it:
  npx tillsync sync --db ./data/till-1.db
  npx tillsync status --db ./data/till-1.db
More codes: npx tillsync admin pairing-code --db ./data/cloud.db --tenant ${login.tenantId}

Press Ctrl+C to stop.
`);

const stop = async () => {
  await server.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

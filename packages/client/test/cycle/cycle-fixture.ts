import { v7 as uuidv7 } from 'uuid';
import { SessionRemote } from '../../src/cycle/session-remote.js';
import { SqliteCycleStore } from '../../src/cycle/sqlite-cycle-store.js';
import { emptyCycleCounts, type CycleCounts } from '../../src/cycle/cycle-counts.js';
import { LocalClock } from '../../src/local-clock.js';
import { LocalStore } from '../../src/local-store.js';
import { DeviceSession } from '../../src/session.js';
import { CLIENT_VERSION, HttpTransport, type FetchFunction, type SyncClient } from '../../src/index.js';
import { onCleanup } from '../helpers.js';
import type { TestServer } from '../server-fixture.js';

/** A device paired with a real server, opened as a cycle's steps see it: its store port and its remote. */
export interface StepDevice {
  /** The paired client (for writes through the capture triggers, and whole cycles). */
  readonly client: SyncClient;
  /** The device file, opened a second time, under the store port. */
  readonly store: LocalStore;
  readonly cycleStore: SqliteCycleStore;
  readonly remote: SessionRemote;
  readonly counts: CycleCounts;
}

/**
 * Pairs a device with `server` and opens its file under the cycle's store port, the server's schema taken;
 * `fetch` (optional) sees every request of the steps.
 */
export async function pairedStepDevice(
  server: TestServer,
  name: string,
  fetch?: FetchFunction,
): Promise<StepDevice> {
  const client = await server.pairedClient(name);
  const store = LocalStore.open({ dbPath: client.database.name });
  onCleanup(() => store.close());
  const cycleStore = new SqliteCycleStore({ store, clock: new LocalClock(store) });
  const transport = new HttpTransport({
    serverUrl: server.url,
    appVersion: CLIENT_VERSION,
    ...(fetch ? { fetch } : {}),
  });
  const remote = new SessionRemote({ session: new DeviceSession(store, transport), transport });
  cycleStore.useSchema(await remote.schema());
  return { client, store, cycleStore, remote, counts: emptyCycleCounts() };
}

/** Inserts customers through the capture triggers (each a pending row); returns their ids. */
export function insertCustomers(client: SyncClient, count: number): string[] {
  const insert = client.database.prepare('INSERT INTO customers (id, name) VALUES (?, ?)');
  const ids = Array.from({ length: count }, () => uuidv7());
  client.database.transaction(() => ids.forEach((id, index) => insert.run(id, `Customer ${index}`)))();
  return ids;
}

/** The number of rows in a table of the device file. */
export function countRows(store: LocalStore, table: string): number {
  return (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

/** The endpoint a request went to: `health`, `schema`, `pull`, `push`. */
export function endpointOf(input: string): string {
  return new URL(input).pathname.replace('/api/sync/', '');
}

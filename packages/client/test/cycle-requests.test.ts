import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import type { FetchFunction, SyncClient } from '../src/index.js';
import { startTestServer } from './server-fixture.js';

function customerIds(client: SyncClient): string[] {
  return (client.database.prepare('SELECT id FROM customers ORDER BY id').all() as { id: string }[]).map(
    (row) => row.id,
  );
}

/** The endpoint a request went to: `health`, `schema`, `pull`, `push`. */
function endpointOf(input: string): string {
  return new URL(input).pathname.replace('/api/sync/', '');
}

describe('the requests of a cycle', () => {
  it('asks for the first pull page with the health check when nothing is to be pushed, and applies it after', async () => {
    const server = await startTestServer();
    const d1 = await server.pairedClient('d1');
    const id = uuidv7();
    d1.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Ada')").run(id);
    await d1.sync();

    // The health answer is held until the pull has been asked for: a cycle that waited for it first would
    // never ask, and this test would time out.
    let holdHealth = true;
    let pullAsked!: () => void;
    const pullSent = new Promise<void>((resolve) => (pullAsked = resolve));
    const sent: string[] = [];
    const recording: FetchFunction = async (input, init) => {
      const endpoint = endpointOf(input);
      sent.push(endpoint);
      if (endpoint === 'pull') pullAsked();
      if (endpoint === 'health' && holdHealth) await pullSent;
      return fetch(input, init);
    };
    const d2 = await server.pairedClient('d2', { fetch: recording });
    sent.length = 0;
    expect(await d2.sync()).toMatchObject({ ok: true, pulled: 1 });
    expect(customerIds(d2)).toEqual([id]);
    expect([...sent].sort()).toEqual(['health', 'pull', 'schema']);

    // With a row to push, the pull waits for the push.
    holdHealth = false;
    d2.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Bo')").run(uuidv7());
    sent.length = 0;
    expect(await d2.sync()).toMatchObject({ ok: true, pushed: 1 });
    const pushed = sent.indexOf('push');
    expect(pushed).toBeGreaterThanOrEqual(0);
    expect(pushed).toBeLessThan(sent.findIndex((endpoint) => endpoint === 'pull'));
  });

  it('applies nothing it pulled when the health check fails, and ends offline', async () => {
    const server = await startTestServer();
    const d1 = await server.pairedClient('d1');
    d1.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Ada')").run(uuidv7());
    await d1.sync();

    let healthy = true;
    const unhealthy: FetchFunction = async (input, init) => {
      if (!healthy && endpointOf(input) === 'health')
        return new Response(JSON.stringify({ error: { code: 'INTERNAL', message: 'down' } }), {
          status: 503,
        });
      return fetch(input, init);
    };
    const d2 = await server.pairedClient('d2', { fetch: unhealthy });
    healthy = false;
    const failed = await d2.runCycle({ trigger: 'manual' });
    expect(failed).toMatchObject({ ok: false, outcome: 'offline', pulled: 0 });
    expect(customerIds(d2)).toEqual([]);

    healthy = true;
    expect(await d2.sync()).toMatchObject({ ok: true, pulled: 1 });
    expect(customerIds(d2)).toEqual(customerIds(d1));
  });
});

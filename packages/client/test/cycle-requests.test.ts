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

  it('sends one push at a time, each after the answer to the one before, parents before children', async () => {
    const server = await startTestServer();
    let onTheWire = 0;
    let mostOnTheWire = 0;
    const pushedTables: string[][] = [];
    const counting: FetchFunction = async (input, init) => {
      if (endpointOf(input) !== 'push') return fetch(input, init);
      const body = JSON.parse(init.body as string) as { changes: { table: string }[] };
      pushedTables.push(body.changes.map((change) => change.table));
      onTheWire += 1;
      mostOnTheWire = Math.max(mostOnTheWire, onTheWire);
      try {
        return await fetch(input, init);
      } finally {
        onTheWire -= 1;
      }
    };
    const d1 = await server.pairedClient('d1', { fetch: counting, pushBatchSize: 3 });
    const categories = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    insertShop(d1, categories);

    expect(await d1.sync()).toMatchObject({ ok: true, pushed: 8, rejected: 0 });
    expect(mostOnTheWire).toBe(1);
    expect(pushedTables.flat()).toEqual([
      ...Array<string>(4).fill('categories'),
      ...Array<string>(4).fill('products'),
    ]);
    expect(pushedTables.map((tables) => tables.length)).toEqual([3, 3, 2]);
    expect(d1.database.prepare('SELECT count(*) AS n FROM _sync_push').get()).toEqual({ n: 0 });
    expect(d1.database.prepare('SELECT count(*) AS n FROM _sync_pending').get()).toEqual({ n: 0 });
  });

  it('sends the rows of a push refused as too large again in smaller pushes, parents first', async () => {
    const server = await startTestServer();
    const pushedTables: string[][] = [];
    let refuseNext = true;
    const firstTooLarge: FetchFunction = async (input, init) => {
      if (endpointOf(input) !== 'push') return fetch(input, init);
      if (refuseNext) {
        refuseNext = false;
        const error = { error: { code: 'PAYLOAD_TOO_LARGE', message: 'too large' } };
        return new Response(JSON.stringify(error), { status: 413 });
      }
      const body = JSON.parse(init.body as string) as { changes: { table: string }[] };
      pushedTables.push(body.changes.map((change) => change.table));
      return fetch(input, init);
    };
    // The second push (a category and two products) is built while the first (three categories) is on the
    // wire; the first is refused, so the second must not go before the first one's rows: its products would
    // miss their categories.
    const d1 = await server.pairedClient('d1', { fetch: firstTooLarge, pushBatchSize: 3 });
    const categories = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    insertShop(d1, categories);

    expect(await d1.sync()).toMatchObject({ ok: true, pushed: 8, rejected: 0 });
    expect(pushedTables.flat()).toEqual([
      ...Array<string>(4).fill('categories'),
      ...Array<string>(4).fill('products'),
    ]);
    expect(d1.database.prepare('SELECT count(*) AS n FROM _sync_push').get()).toEqual({ n: 0 });
    expect(d1.database.prepare('SELECT count(*) AS n FROM _sync_pending').get()).toEqual({ n: 0 });
  });

  it('keeps the push whose answer was lost, and drops the next one it had built, to push its rows later', async () => {
    const server = await startTestServer();
    let loseFirstAnswer = true;
    const losing: FetchFunction = async (input, init) => {
      const answer = await fetch(input, init);
      if (endpointOf(input) === 'push' && loseFirstAnswer) {
        loseFirstAnswer = false;
        throw new TypeError('fetch failed');
      }
      return answer;
    };
    const d1 = await server.pairedClient('d1', { fetch: losing, pushBatchSize: 3 });
    const categories = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    insertShop(d1, categories);

    expect(await d1.runCycle({ trigger: 'manual' })).toMatchObject({ ok: false, outcome: 'offline' });
    const stored = d1.database.prepare('SELECT covers FROM _sync_push').all() as { covers: string }[];
    expect(stored.map((push) => (JSON.parse(push.covers) as unknown[]).length)).toEqual([3]);
    expect(d1.database.prepare('SELECT count(*) AS n FROM _sync_pending WHERE in_push = 1').get()).toEqual({
      n: 3,
    });

    expect(await d1.sync()).toMatchObject({ ok: true, pushed: 8, rejected: 0 });
    expect(d1.database.prepare('SELECT count(*) AS n FROM _sync_pending').get()).toEqual({ n: 0 });
    const d2 = await server.pairedClient('d2');
    expect(await d2.sync()).toMatchObject({ ok: true, pulled: 8 });
  });
});

/** Four categories, and a product in each (children after parents in the push order). */
function insertShop(client: SyncClient, categories: readonly string[]): void {
  const category = client.database.prepare('INSERT INTO categories (id, name) VALUES (?, ?)');
  const product = client.database.prepare(
    'INSERT INTO products (id, sku, name, price_cents, stock, category_id) VALUES (?, ?, ?, 100, 5, ?)',
  );
  client.database.transaction(() => {
    categories.forEach((id, index) => {
      category.run(id, `Category ${index}`);
      product.run(uuidv7(), `SKU-${index}`, `Product ${index}`, id);
    });
  })();
}

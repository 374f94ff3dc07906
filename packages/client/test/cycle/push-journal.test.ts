import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { PushJournal, type PullAhead, type PushJournalOptions } from '../../src/cycle/push-journal.js';
import type { FetchFunction } from '../../src/index.js';
import { startTestServer } from '../server-fixture.js';
import {
  countRows,
  endpointOf,
  insertCustomers,
  pairedStepDevice,
  type StepDevice,
} from './cycle-fixture.js';

/** The push step of `device`. */
function journalOf(device: StepDevice, options: Partial<PushJournalOptions> = {}): PushJournal {
  return new PushJournal({
    store: device.cycleStore,
    remote: device.remote,
    counts: device.counts,
    ...options,
  });
}

describe('PushJournal', () => {
  it('stores each push before it is sent, one on the wire at a time, and deletes it with its answer', async () => {
    const server = await startTestServer();
    const storedWhenSent: number[] = [];
    const opened: { device?: StepDevice } = {};
    const watching: FetchFunction = async (input, init) => {
      if (endpointOf(input) === 'push' && opened.device) {
        storedWhenSent.push(countRows(opened.device.store, '_sync_push'));
      }
      return fetch(input, init);
    };
    const device = (opened.device = await pairedStepDevice(server, 'd1', watching));
    insertCustomers(device.client, 5);
    let pullsStarted = 0;
    const pullAhead: PullAhead = { start: () => (pullsStarted += 1), drop: () => Promise.resolve() };
    const journal = journalOf(device, { batchSize: 2, pullAhead });

    await journal.pushPending();

    // Every push is stored before it goes. The first goes out alone; each later one is sent as soon as the
    // one before is answered, before that answer is applied (and its push deleted).
    expect(storedWhenSent).toEqual([1, 2, 2]);
    expect(device.counts).toMatchObject({ pushed: 5, conflicts: 0, rejected: [] });
    expect(countRows(device.store, '_sync_push')).toBe(0);
    expect(countRows(device.store, '_sync_pending')).toBe(0);
    // The pull may start once the last push is answered, and only then.
    expect(pullsStarted).toBe(1);
  });

  it('resends a push left stored by a crash with the same pushId and bytes, and applies it once', async () => {
    const server = await startTestServer();
    const bodies: string[] = [];
    let loseAnswer = true;
    const losing: FetchFunction = async (input, init) => {
      const answer = await fetch(input, init);
      if (endpointOf(input) !== 'push') return answer;
      bodies.push(init.body as string);
      if (loseAnswer) {
        loseAnswer = false;
        throw new TypeError('fetch failed');
      }
      return answer;
    };
    const device = await pairedStepDevice(server, 'd1', losing);
    const productId = uuidv7();
    device.client.database
      .prepare("INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, 'A-1', 'Apple', 100, 7)")
      .run(productId);

    // The server took the push, but its answer was lost: the push stays stored, its row on the wire.
    await expect(journalOf(device).pushPending()).rejects.toThrow();
    expect(device.cycleStore.storedPushes()).toHaveLength(1);

    // A later cycle (as after a restart) resends it first, byte for byte; the server answers it from its
    // record of the push, so the counter is not added twice.
    await journalOf(device).resendInFlight();
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).toBe(bodies[0]);
    expect(device.counts.pushed).toBe(1);
    expect(countRows(device.store, '_sync_push')).toBe(0);
    expect(countRows(device.store, '_sync_pending')).toBe(0);

    const d2 = await server.pairedClient('d2');
    await d2.sync();
    expect(d2.database.prepare('SELECT stock FROM products WHERE id = ?').get(productId)).toEqual({
      stock: 7,
    });
  });

  it('drops a push the server refuses as a whole and marks a single row too large to push', async () => {
    const server = await startTestServer();
    const tooLarge: FetchFunction = async (input, init) => {
      if (endpointOf(input) !== 'push') return fetch(input, init);
      const error = { error: { code: 'PAYLOAD_TOO_LARGE', message: 'too large' } };
      return new Response(JSON.stringify(error), { status: 413 });
    };
    const device = await pairedStepDevice(server, 'd1', tooLarge);
    const [id] = insertCustomers(device.client, 2);
    const journal = journalOf(device, { batchSize: 2 });

    await journal.pushPending();

    // Halved to single rows, each refused: both stay pending with the error, and nothing is stored.
    expect(device.counts.rejected.map((row) => row.code)).toEqual(['PAYLOAD_TOO_LARGE', 'PAYLOAD_TOO_LARGE']);
    expect(device.counts.rejected[0]?.id).toBe(id);
    expect(countRows(device.store, '_sync_push')).toBe(0);
    expect(
      device.store.db
        .prepare(
          "SELECT count(*) AS n FROM _sync_pending WHERE error_code = 'PAYLOAD_TOO_LARGE' AND in_push = 0",
        )
        .get(),
    ).toEqual({ n: 2 });
  });

  it('pushes no more rows than were pending when it began', async () => {
    const server = await startTestServer();
    const opened: { device?: StepDevice } = {};
    let writeWhilePushing = true;
    const writing: FetchFunction = async (input, init) => {
      if (endpointOf(input) === 'push' && writeWhilePushing && opened.device) {
        writeWhilePushing = false;
        insertCustomers(opened.device.client, 3);
      }
      return fetch(input, init);
    };
    const device = (opened.device = await pairedStepDevice(server, 'd1', writing));
    insertCustomers(device.client, 2);
    const journal = journalOf(device, { batchSize: 1 });

    await journal.pushPending();

    expect(device.counts.pushed).toBe(2);
    expect(countRows(device.store, '_sync_pending')).toBe(3);
  });
});

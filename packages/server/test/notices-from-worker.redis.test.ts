import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { startJobWorker } from '../src/index.js';
import { EventStream } from './event-stream.js';
import { newId, startTestServer } from './helpers.js';
import { deleteRedisKeys, REDIS_URL } from './redis-fixture.js';

const prefixes: string[] = [];
afterAll(() => deleteRedisKeys(prefixes));

describe('live notices of a worker process', () => {
  it("tell the server's devices of the rows a job wrote on a worker, through Redis", async () => {
    const prefix = `tillsync-test-${randomUUID().slice(0, 8)}`;
    prefixes.push(prefix);
    // The server hands its jobs to BullMQ and runs none; the worker (here in the same process) runs them.
    const server = await startTestServer({
      jobs: { redisUrl: REDIS_URL, bullmqPrefix: prefix, run: false, pollIntervalMs: 20 },
    });
    const worker = await startJobWorker({
      location: { dbPath: server.dbPath },
      redisUrl: REDIS_URL,
      bullmqPrefix: prefix,
      pollIntervalMs: 20,
    });
    onTestFinished(() => worker.stop());
    const till = await server.pair('till');
    const tablet = await server.pair('tablet');
    const stream = await EventStream.open(tablet);
    await till.push([
      till.upsert('sales', newId(), { total_cents: 120, created_at: '2026-12-06T10:00:00.000Z' }),
    ]);
    // The till's push, then the daily_sales row the worker's job wrote.
    await stream.waitFor(2);
    expect(stream.notices).toEqual(
      expect.arrayContaining([
        { tenantId: server.tenantId, deviceId: till.deviceId },
        { tenantId: server.tenantId, deviceId: null },
      ]),
    );
    const pulled = await tablet.pullAll();
    expect(pulled.changes.map((change) => change.table)).toContain('daily_sales');
  });
});

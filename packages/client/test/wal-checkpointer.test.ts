import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startTestServer } from './server-fixture.js';

/**
 * A long first sync checkpoints the write-ahead log from a worker thread (`wal-checkpointer.ts`): the sync's
 * own connection checkpoints nothing meanwhile, so no apply waits for a checkpoint, yet the log stays short;
 * once the cycle ends, the connection checkpoints as SQLite does by itself.
 */
describe('the write-ahead log of a first sync', () => {
  it('is checkpointed from another thread while the sync writes, and by the connection again after', async () => {
    const server = await startTestServer();
    const source = await server.pairedClient('source', { pushBatchSize: 5000 });
    const insert = source.database.prepare('INSERT INTO customers (id, name, phone) VALUES (?, ?, ?)');
    // Enough rows that the pull writes for well over the 250 ms after which the worker starts, on a quiet
    // machine too (25,000 rows did not always get there).
    const total = 100_000;
    source.database.transaction(() => {
      for (let index = 0; index < total; index++)
        insert.run(randomUUID(), `Customer ${index} of a long first sync`, `555-${index}`);
    })();
    expect(await source.sync()).toMatchObject({ ok: true, pushed: total });

    const device = await server.pairedClient('device');
    const file = device.database.name;
    // While the connection's own checkpoints are off, pages still reach the file: the worker copies them.
    let copiedMeanwhile = 0;
    const watch = setInterval(() => {
      if (device.database.pragma('wal_autocheckpoint', { simple: true }) === 0)
        copiedMeanwhile = Math.max(copiedMeanwhile, fs.statSync(file).size);
    }, 1);
    const summary = await device.sync();
    clearInterval(watch);
    expect(summary).toMatchObject({ ok: true, pulled: total });
    expect(copiedMeanwhile).toBeGreaterThan(3_000_000);
    expect(device.database.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    expect(device.database.prepare('SELECT count(*) AS n FROM customers').get()).toEqual({ n: total });
  });
});

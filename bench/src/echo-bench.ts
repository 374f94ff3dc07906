import fs from 'node:fs';
import path from 'node:path';
import type { FetchFunction, SyncClient } from '@tillsync/client';
import { pairedClient } from './first-sync-bench.js';
import { countFromEnv, ratePerSecond, tempDir, timeMs, type BenchResult } from './measure.js';
import {
  BENCH_EMAIL as EMAIL,
  BENCH_PASSWORD as PASSWORD,
  makeCustomers,
  startServeProcess,
} from './serve-process.js';

const ROWS = countFromEnv('TILLSYNC_BENCH_IMPORT_ROWS', 100_000);

/** The pull answers a device received: rows and bytes. */
interface PullTally {
  rows: number;
  bytes: number;
}

/** A `fetch` that counts the rows and bytes of every pull answer into `tally`. */
function countingPulls(tally: PullTally): FetchFunction {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (!input.includes('/api/sync/pull')) return response;
    const body = Buffer.from(await response.clone().arrayBuffer());
    tally.bytes += body.length;
    if (response.ok)
      tally.rows += (JSON.parse(body.toString('utf8')) as { changes: unknown[] }).changes.length;
    return response;
  };
}

/** One cycle of `client`, which must succeed. */
async function cycle(client: SyncClient): Promise<{ pushed: number; pulled: number }> {
  const summary = await client.sync();
  if (!summary.ok) throw new Error(`a cycle failed: ${summary.error ?? ''}`);
  return summary;
}

const KB = 1024;

/**
 * A bulk import on one device (issue 20, "no echo"): a till writes {@link ROWS} customers in one
 * transaction, and its next cycles push them; what those cycles pull back, in rows and bytes, beside what
 * another device's cycle pulls of the same rows (the cost of each row sent), in the same run. That other
 * device pulls them from its cursor in regular pages: the server's page cost where it looks for rows the
 * reader holds.
 */
export async function benchBulkImport(): Promise<BenchResult[]> {
  const dir = tempDir('bulk-import');
  const server = await startServeProcess(['--db', path.join(dir, 'cloud.db')], {
    TILLSYNC_ADMIN_EMAIL: EMAIL,
    TILLSYNC_ADMIN_PASSWORD: PASSWORD,
  });
  try {
    const importing: PullTally = { rows: 0, bytes: 0 };
    const other: PullTally = { rows: 0, bytes: 0 };
    const till = await pairedClient(server, path.join(dir, 'till.db'), { fetch: countingPulls(importing) });
    const office = await pairedClient(server, path.join(dir, 'office.db'), { fetch: countingPulls(other) });
    await cycle(till);
    await cycle(office);
    importing.rows = importing.bytes = other.rows = other.bytes = 0;

    const insert = till.database.prepare(
      'INSERT INTO customers (id, name, phone, email) VALUES (?, ?, ?, ?)',
    );
    const customers = makeCustomers(ROWS);
    till.database.transaction(() => {
      for (const customer of customers)
        insert.run(customer.id, customer.name, customer.phone, customer.email);
    })();
    let pushed = 0;
    const importMs = await timeMs(async () => {
      pushed = (await cycle(till)).pushed;
    });
    if (pushed !== ROWS) throw new Error(`the import's cycle pushed ${pushed} of ${ROWS} rows`);
    await cycle(till);

    let pulled = 0;
    const otherMs = await timeMs(async () => {
      pulled = (await cycle(office)).pulled;
    });
    if (pulled !== ROWS) throw new Error(`the other device pulled ${pulled} of ${ROWS} rows`);
    await till.close();
    await office.close();

    const rows = ROWS.toLocaleString('en');
    const otherPull = `another device's cycle pulling the same ${rows} rows from its cursor`;
    return [
      {
        name: `rows the importing device pulls back after its bulk import of ${rows} rows (the import's cycle and the next)`,
        value: importing.rows,
        unit: 'rows',
        baseline: { name: otherPull, value: other.rows },
        aim: 'none',
        higherIsBetter: false,
      },
      {
        name: 'bytes of those two cycles’ pull answers on the importing device',
        value: Math.round((importing.bytes / KB) * 10) / 10,
        unit: 'KB',
        baseline: { name: otherPull, value: Math.round((other.bytes / KB) * 10) / 10 },
        higherIsBetter: false,
      },
      {
        name: `the import's cycle: push ${rows} rows, then pull`,
        value: Math.round(importMs),
        unit: 'ms',
        higherIsBetter: false,
      },
      {
        name: `${otherPull} (pages of 1,000, the server looking past rows the reader holds)`,
        value: ratePerSecond(ROWS, otherMs),
        unit: 'rows/s',
        higherIsBetter: true,
      },
    ];
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

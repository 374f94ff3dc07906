import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import BetterSqlite3 from 'better-sqlite3';
import { createSyncClient } from '@tillsync/client';
import { countFromEnv, median, tempDir, type BenchResult } from './measure.js';
import {
  BENCH_EMAIL,
  BENCH_PASSWORD,
  CLI,
  pairingCode,
  startListeningProcess,
  startServeProcess,
} from './serve-process.js';

/**
 * A till's product search on a shop of a million products, as the device's page asks it: `GET
 * /api/rows/products?search=…&order=name&limit=200` of the agent (`tillsync device`, a process of its own),
 * whole HTTP round trip, beside a raw better-sqlite3 LIKE over the same file's sku and name in the same run
 * (what the agent did before the search index: every row read).
 *
 * `TILLSYNC_BENCH_SEARCH_ROWS` sets the number of products (default 1,000,000).
 */

const PRODUCTS = countFromEnv('TILLSYNC_BENCH_SEARCH_ROWS', 1_000_000);
/** Times each search is asked; the figure is the median. */
const ASKS = 15;
const WORDS = ['Apple', 'Banana', 'Bread', 'Cheese', 'Coffee', 'Juice', 'Milk', 'Tea', 'Water', 'Yoghurt'];

/** The searches a cashier types: one product by its SKU, a word in a tenth of the names. */
function searches(count: number): Array<{ text: string; what: string }> {
  const row = Math.round(count * 0.75);
  return [
    { text: `SKU-${row}`, what: `one product by SKU (row ${row.toLocaleString('en')})` },
    { text: 'banana', what: 'a word in a tenth of the names' },
  ];
}

export async function benchSearch(): Promise<BenchResult[]> {
  const dir = tempDir('search');
  const dbPath = path.join(dir, 'till.db');
  const server = await startServeProcess(['--db', path.join(dir, 'cloud.db')], {
    TILLSYNC_ADMIN_EMAIL: BENCH_EMAIL,
    TILLSYNC_ADMIN_PASSWORD: BENCH_PASSWORD,
  });
  try {
    const client = createSyncClient({ dbPath, serverUrl: server.url });
    await client.pair(await pairingCode(server), { name: 'Till', platform: 'bench' });
    // As a first sync leaves them: written with capture off, and indexed for search as the sync indexes
    // the rows it writes.
    const database = client.database;
    const add = database.prepare(
      'INSERT INTO products (id, sku, name, price_cents, stock, category_id, active) VALUES (?, ?, ?, ?, 5, NULL, 1)',
    );
    for (let first = 1; first <= PRODUCTS; first += 10_000) {
      database.transaction(() => {
        database.prepare('UPDATE _sync_apply_flag SET applying = 1').run();
        const before = database.prepare('SELECT coalesce(max(rowid), 0) FROM products').pluck().get();
        for (let n = first; n < first + 10_000 && n <= PRODUCTS; n++) {
          add.run(`p-${n}`, `SKU-${n}`, `${WORDS[n % WORDS.length]} ${n}`, 100 + (n % 900));
        }
        database
          .prepare(
            'INSERT INTO _sync_search_products (rowid, sku, name) SELECT rowid, sku, name FROM products WHERE rowid > ?',
          )
          .run(before);
        database.prepare('UPDATE _sync_apply_flag SET applying = 0').run();
      })();
    }
    await client.close();
  } finally {
    // The agent answers from its file alone; with the server gone its worker only retries now and then.
    await server.stop();
  }

  const agent = await startListeningProcess([CLI, 'device', '--db', dbPath, '--port', '0']);
  const raw = new BetterSqlite3(dbPath, { readonly: true });
  try {
    const results: BenchResult[] = [];
    for (const { text, what } of searches(PRODUCTS)) {
      const url = `${agent.url}/api/rows/products?search=${encodeURIComponent(text)}&order=name&limit=200`;
      const viaAgent = await medianMs(() => getJson(url));
      const scan = raw.prepare(
        'SELECT * FROM products WHERE sku LIKE ? OR name LIKE ? ORDER BY name COLLATE NOCASE LIMIT 200',
      );
      const pattern = `%${text}%`;
      const rawMs = await medianMs(() => {
        scan.all(pattern, pattern);
      });
      results.push({
        name: `search of ${PRODUCTS.toLocaleString('en')} products for ${what}, page of 200 with its count, over HTTP (median of ${ASKS})`,
        value: round1(viaAgent),
        unit: 'ms',
        baseline: { name: 'raw better-sqlite3 LIKE over sku and name, same file', value: round1(rawMs) },
        aim: 'under 100 ms',
        higherIsBetter: false,
      });
    }
    return results;
  } finally {
    raw.close();
    await agent.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One GET on a connection of its own: a kept-alive one may be closed by the agent just as the next search
 * is sent on it, on a loaded machine.
 */
function getJson(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (answer) => {
        let text = '';
        answer.setEncoding('utf8');
        answer.on('data', (chunk: string) => (text += chunk));
        answer.on('end', () => {
          if (answer.statusCode !== 200) reject(new Error(`${url} answered ${answer.statusCode}`));
          else {
            JSON.parse(text);
            resolve();
          }
        });
      })
      .on('error', reject);
  });
}

async function medianMs(work: () => Promise<void> | void): Promise<number> {
  await work();
  const times: number[] = [];
  for (let ask = 0; ask < ASKS; ask++) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  return median(times);
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

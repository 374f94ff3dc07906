import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_OWNER, startDeviceAgent, type DeviceAgent, type RunningDemo } from '@tillsync/cli';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEMO_START_TIMEOUT_MS,
  DESKTOP,
  NO_CHROMIUM_MESSAGE,
  TABLET,
  goToScreen as goTo,
  hasChromium,
  openPage,
  pillButton as pill,
  screenshot,
  startBrowserDemo,
} from './browser.js';

if (!hasChromium) console.warn(NO_CHROMIUM_MESSAGE);

/**
 * What a new shop meets in its first hour, in Chromium on the demo: the cloud taken offline and back from
 * the dashboard, a new till's first sync shown as it goes, a till paired with the command the dashboard
 * gives, and pages that hold a shop of 200,000 products.
 */
describe.skipIf(!hasChromium)('the first hour in a browser', () => {
  let demo: RunningDemo;
  let browser: BrowserContext;
  let webDir: string;
  const closeAfter: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    ({ demo, browser, webDir } = await startBrowserDemo());
  }, DEMO_START_TIMEOUT_MS);

  afterAll(async () => {
    for (const close of closeAfter.reverse()) await close();
    await browser?.close();
    await demo?.close();
  });

  const pairingCode = async (): Promise<string> => {
    const login = await demo.server.accounts.login(DEMO_OWNER.email, DEMO_OWNER.password);
    return (await demo.server.accounts.createPairingCode(login.tenantId)).code;
  };

  it('takes the cloud offline from the dashboard and back: the pills go red, a sale waits, then it catches up', async () => {
    const [till, tablet] = demo.devices as [DeviceAgent, DeviceAgent];
    const { page: dashboard, errors } = await openPage(browser, demo.dashboardUrl, DESKTOP);
    await dashboard.getByRole('textbox', { name: 'Email' }).fill(DEMO_OWNER.email);
    await dashboard.getByLabel('Password').fill(DEMO_OWNER.password);
    await dashboard.getByRole('button', { name: 'Sign in' }).click();
    const tillPage = (await openPage(browser, till.url, DESKTOP)).page;
    const tabletPage = (await openPage(browser, tablet.url, TABLET)).page;
    await pill(tillPage, /^Synced/).waitFor();
    await goTo(tabletPage, 'Products');
    const tabletApples = tabletPage.getByTestId('stock-A-100');
    const before = Number(await tabletApples.textContent());

    const cloud = dashboard.getByRole('region', { name: 'Demo: the cloud' });
    await cloud.getByRole('button', { name: 'Take the cloud offline' }).click();
    await cloud.getByText(/the cloud is offline/).waitFor();
    // Their live streams cut, both devices find out at once, not at their next interval.
    await pill(tillPage, /^Offline/).waitFor({ timeout: 15_000 });
    await pill(tabletPage, /^Offline/).waitFor({ timeout: 15_000 });
    await screenshot(dashboard, 'dashboard-demo-offline');

    // A sale meanwhile stays on the till, waiting for the cloud.
    const search = tillPage.getByRole('searchbox', { name: /Find a product/ });
    await search.fill('apple');
    await search.press('Enter');
    await tillPage.getByRole('button', { name: 'Record sale' }).click();
    await tillPage
      .getByRole('status')
      .filter({ hasText: /^Sale recorded: 1 item/ })
      .waitFor();
    await screenshot(tillPage, 'till-offline-sale');
    expect(await tabletApples.textContent()).toBe(String(before));

    await cloud.getByRole('button', { name: 'Bring the cloud back' }).click();
    await cloud.getByText(/the cloud is online/).waitFor();
    await pill(tillPage, /^Synced/).waitFor({ timeout: 15_000 });
    await tabletApples.filter({ hasText: new RegExp(`^${before - 1}$`) }).waitFor({ timeout: 15_000 });
    expect(errors).toEqual([]);
    await Promise.all([dashboard.close(), tillPage.close(), tabletPage.close()]);
  });

  it("shows a new till's first sync as it goes, where the products will be", async () => {
    // 12,000 customers from Till 1, so a new device's first sync takes three pages.
    const till = demo.devices[0]!;
    const database = till.client.database;
    const add = database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Regular')");
    database.transaction(() => {
      for (let n = 0; n < 12_000; n++) add.run(randomUUID());
    })();
    expect(await till.worker.syncNow()).toMatchObject({ ok: true });

    // Between the new till and the cloud, a proxy holds each pull page a moment, so the page can be
    // watched in the middle of the sync.
    const proxy = await slowPullProxy(demo.server.url, 1500);
    closeAfter.push(() => proxy.close());
    const fresh = await startDeviceAgent({
      dbPath: path.join(demo.dir, 'till-4.db'),
      serverUrl: proxy.url,
      pairCode: await pairingCode(),
      name: 'Till 4',
      port: 0,
      webRoot: path.join(webDir, 'device'),
    });
    closeAfter.push(() => fresh.close());
    const { page, errors } = await openPage(browser, fresh.url, TABLET);
    await page
      .getByRole('status')
      .filter({
        hasText:
          /^Receiving the shop's products from the cloud… [\d,]+ of 12,0\d\d rows \(\d+%\) so far\. The list fills in when it is done\.$/,
      })
      .waitFor({ timeout: 20_000 });
    await pill(page, /^Syncing · [\d,]+ of 12,0\d\d rows \(\d+%\) received$/).waitFor();
    // At a tablet's width the pill shows the short words, so the number is not cut off.
    expect(await page.getByRole('banner').locator('.pill-short').innerText()).toMatch(/^Syncing · \d+%$/);
    await screenshot(page, 'device-first-sync');
    await pill(page, /^Synced/).waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: /^Apple, / }).waitFor();
    expect(errors).toEqual([]);
    await page.close();
  });

  it('pairs a fresh till with the command the dashboard gives: it syncs at once and is listed under its name', async () => {
    const { page: dashboard, errors } = await openPage(browser, demo.dashboardUrl, DESKTOP);
    await dashboard.getByRole('textbox', { name: 'Email' }).fill(DEMO_OWNER.email);
    await dashboard.getByLabel('Password').fill(DEMO_OWNER.password);
    await dashboard.getByRole('button', { name: 'Sign in' }).click();
    await dashboard.getByRole('button', { name: 'Add a device' }).click();
    const addDialog = dashboard.getByRole('dialog', { name: 'Add a device' });
    await addDialog.getByRole('button', { name: 'Create a pairing code' }).click();
    const command = (await addDialog.getByLabel('Command to run on the till').textContent()) ?? '';

    // The command as shown, run in a new folder on "the till" (a free port, as the demo's take 8788).
    const words = [...command.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2] ?? '');
    expect(words.slice(0, 3)).toEqual(['npx', 'tillsync', 'device']);
    expect(words).toEqual(expect.arrayContaining(['--server', '--pair', '--name', 'Till 3']));
    const agent = await startCommand(
      [...words.slice(2), '--port', '0'],
      fs.mkdtempSync(path.join(demo.dir, 'till-3-')),
    );
    closeAfter.push(() => agent.stop());

    const { page: till, errors: tillErrors } = await openPage(browser, agent.url, DESKTOP);
    await pill(till, /^Synced/).waitFor({ timeout: 20_000 });
    await till.getByRole('button', { name: /^Apple, / }).waitFor();
    await addDialog.getByRole('button', { name: 'Close' }).click();
    const row = dashboard.getByRole('table', { name: 'Devices' }).getByRole('row', { name: /^Till 3 / });
    await row.waitFor({ timeout: 10_000 });
    await row.getByRole('cell', { name: /^(just now|\d+ seconds? ago)$/ }).waitFor();
    expect(errors).toEqual([]);
    expect(tillErrors).toEqual([]);
    await Promise.all([dashboard.close(), till.close()]);
  });

  it('searches all of 200,000 products on Products and Sale, and says how many rows a page holds', async () => {
    const till = demo.devices[0]!;
    // As a first sync would leave them (capture off), on a till whose sync is stopped meanwhile.
    await till.worker.stop();
    const database = till.client.database;
    const add = database.prepare(
      'INSERT INTO products (id, sku, name, price_cents, stock, category_id, active) VALUES (?, ?, ?, ?, 5, NULL, 1)',
    );
    // The sync writes the search index of the rows it writes itself (no trigger does): so does this.
    const searched = (
      database.prepare('SELECT name FROM pragma_table_info(?)').all('_sync_search_products') as {
        name: string;
      }[]
    ).map((column) => `"${column.name}"`);
    const before = (
      database.prepare('SELECT coalesce(max(rowid), 0) AS last FROM products').get() as { last: number }
    ).last;
    database.transaction(() => {
      database.prepare('UPDATE _sync_apply_flag SET applying = 1').run();
      for (let n = 1; n <= 200_000; n++) add.run(randomUUID(), `SKU-${n}`, `Bulk item ${n}`, 100 + (n % 900));
      database
        .prepare(
          `INSERT INTO _sync_search_products (rowid, ${searched.join(', ')}) SELECT rowid, ${searched.join(', ')} FROM products WHERE rowid > ?`,
        )
        .run(before);
      database.prepare('UPDATE _sync_apply_flag SET applying = 0').run();
    })();

    const { page, errors } = await openPage(browser, till.url, DESKTOP);
    await goTo(page, 'Products');
    await page.getByText(/^Showing 200 of 200,0\d\d products: search to find the others\.$/).waitFor();
    const search = page.getByRole('searchbox', { name: 'Find a product' });
    await search.fill('SKU-150000');
    const products = page.getByRole('table', { name: 'Products' });
    await products.getByRole('row', { name: /^SKU-150000 Bulk item 150000 / }).waitFor();
    await expect.poll(() => products.getByRole('row').count()).toBe(2); // the heading and the one match
    await screenshot(page, 'device-products-search');
    await search.fill('no such product');
    await page.getByText('No product matches “no such product”.').waitFor();

    await goTo(page, 'Sale');
    const saleSearch = page.getByRole('searchbox', { name: /Find a product/ });
    await saleSearch.fill('SKU-150000');
    await page.getByRole('button', { name: /^Bulk item 150000, €/ }).waitFor();
    await saleSearch.press('Enter');
    await page.getByRole('spinbutton', { name: 'Quantity of Bulk item 150000' }).waitFor();
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000); // 200,000 rows written, each into the search index too, on a machine that may be busy
});

/** A proxy to `target` that holds each answer to a pull for `delayMs` before passing it on. */
async function slowPullProxy(
  target: string,
  delayMs: number,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((request, response) => {
    const forward = (): void => {
      const upstream = http.request(
        new URL(request.url ?? '/', target),
        { method: request.method, headers: request.headers },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', () => response.destroy());
      request.pipe(upstream);
    };
    if (request.url?.startsWith('/api/sync/pull')) setTimeout(forward, delayMs);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const CLI = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../packages/cli/bin/tillsync.js',
);

/**
 * Runs `tillsync ARGS` (the built command) in `cwd` until it prints the address of its page; `stop` ends
 * it. Fails with the end of its stderr if it exits first.
 */
async function startCommand(
  args: readonly string[],
  cwd: string,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('TILLSYNC_')),
  );
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const ready = /^tillsync device: listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(stdout);
      if (ready?.[1]) resolve(ready[1]);
    });
    void exited.then(() =>
      reject(new Error(`tillsync ${args[0] ?? ''} ended before it was ready: ${stderr.slice(-800)}`)),
    );
  });
  return {
    url,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

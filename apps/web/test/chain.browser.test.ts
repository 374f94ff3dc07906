import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CHAIN_DEMO_SECOND_STORE,
  DEMO_OWNER,
  startDemo,
  startDeviceAgent,
  type RunningDemo,
} from '@tillsync/cli';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEMO_START_TIMEOUT_MS,
  DESKTOP,
  NO_CHROMIUM_MESSAGE,
  TABLET,
  buildPages,
  goToScreen as goTo,
  hasChromium,
  launchBrowser,
  openPage,
  pillButton as pill,
  screenshot,
} from './browser.js';

if (!hasChromium) console.warn(NO_CHROMIUM_MESSAGE);

/**
 * `tillsync demo --chain` in Chromium: two stores sharing a catalogue, Till 1 and the back-office tablet in
 * the first, Till 2 in the second (PROTOCOL.md §7); and the owner's stores pages. The tests run in order on
 * one demo, as a day in the chain would.
 */
describe.skipIf(!hasChromium)('the chain demo in a browser', () => {
  let demo: RunningDemo;
  let browser: BrowserContext;
  let webDir: string;
  let till1: Page;
  let tablet: Page;
  let till2: Page;
  let dashboard: Page;
  const consoleErrors: string[] = [];
  const closeAfter: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    webDir = buildPages();
    demo = await startDemo({
      dir: fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-chain-demo-')),
      port: 0,
      fresh: true,
      webDir,
      chain: true,
    });
    browser = await launchBrowser();
    const [till1Agent, tabletAgent, till2Agent] = demo.devices;
    const opened = await Promise.all([
      openPage(browser, till1Agent!.url, DESKTOP),
      openPage(browser, tabletAgent!.url, TABLET),
      openPage(browser, till2Agent!.url, DESKTOP),
      openPage(browser, demo.dashboardUrl, DESKTOP),
    ]);
    [till1, tablet, till2, dashboard] = opened.map((entry) => entry.page) as [Page, Page, Page, Page];
    for (const entry of opened) {
      entry.errors.length = 0;
      entry.page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(message.text());
      });
      entry.page.on('pageerror', (error) => consoleErrors.push(error.message));
    }
  }, DEMO_START_TIMEOUT_MS);

  afterAll(async () => {
    for (const close of closeAfter.reverse()) await close();
    await browser?.close();
    await demo?.close();
  });

  const forceSync = async (page: Page): Promise<void> => {
    await goTo(page, 'Settings');
    await page.getByRole('button', { name: 'Force sync now' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^Sync done/ })
      .waitFor();
  };
  const stockOf = (page: Page, sku: string) => page.getByTestId(`stock-${sku}`);
  const recentSales = (page: Page) => page.getByRole('table', { name: 'Recent sales' }).getByRole('row');

  it("sells from each store's own stock, and a sale reaches its store's tablet and not the other store", async () => {
    expect(demo.stores.map((store) => store.name)).toContain(CHAIN_DEMO_SECOND_STORE);
    // The catalogue is the chain's; the stock is each store's (the second holds half of the first's).
    await goTo(till1, 'Products');
    await goTo(tablet, 'Products');
    await goTo(till2, 'Products');
    await stockOf(till1, 'A-100').filter({ hasText: /^114$/ }).waitFor();
    await stockOf(tablet, 'A-100').filter({ hasText: /^114$/ }).waitFor();
    await stockOf(till2, 'A-100').filter({ hasText: /^60$/ }).waitFor();
    await stockOf(till2, 'B-200').filter({ hasText: /^8$/ }).waitFor();
    await screenshot(till2, 'chain-till-2-products');
    // Each till's page names its store.
    await till2.getByTestId('store-name').filter({ hasText: CHAIN_DEMO_SECOND_STORE }).waitFor();
    await till1.getByTestId('store-name').filter({ hasText: demo.stores[0]!.name }).waitFor();

    // Each till shows its own store's sales: two in the first store, one in the second.
    await goTo(tablet, 'Sale');
    await goTo(till2, 'Sale');
    await expect.poll(() => recentSales(tablet).count()).toBe(3);
    await expect.poll(() => recentSales(till2).count()).toBe(2);

    await goTo(till1, 'Sale');
    await till1.getByRole('button', { name: /^Apple, €0\.45, 114 in stock$/ }).click();
    await till1.getByRole('spinbutton', { name: 'Quantity of Apple' }).fill('3');
    await till1.getByRole('button', { name: 'Record sale' }).click();
    await till1.getByRole('status').filter({ hasText: 'Sale recorded: 3 items, €1.35.' }).waitFor();
    await screenshot(till1, 'chain-till-1-sale');

    // The tablet of the same store shows the sale and the stock it took, with nothing pressed.
    await expect.poll(() => recentSales(tablet).count(), { timeout: 15_000 }).toBe(4);
    await goTo(tablet, 'Products');
    await stockOf(tablet, 'A-100').filter({ hasText: /^111$/ }).waitFor({ timeout: 10_000 });
    await screenshot(tablet, 'chain-tablet-products');

    // The other store's till, synced after it, has neither the sale nor the stock change.
    await forceSync(till2);
    await goTo(till2, 'Sale');
    await till2.getByRole('button', { name: /^Apple, €0\.45, 60 in stock$/ }).waitFor();
    expect(await recentSales(till2).count()).toBe(2);
    const till2Sales = demo.devices[2]!.client.database.prepare('SELECT count(*) AS n FROM sales').get();
    expect(till2Sales).toEqual({ n: 1 });
  });

  it('lists the stores with their devices, adds a store and pairs a device into it', async () => {
    await dashboard.getByRole('textbox', { name: 'Email' }).fill(DEMO_OWNER.email);
    await dashboard.getByLabel('Password').fill(DEMO_OWNER.password);
    await dashboard.getByRole('button', { name: 'Sign in' }).click();
    await dashboard
      .getByRole('navigation', { name: 'Screens' })
      .getByRole('link', { name: 'Stores' })
      .click();
    const stores = dashboard.getByRole('table', { name: 'Stores' });
    const [firstStore, secondStore] = demo.stores;
    await stores
      .getByRole('cell', { name: `Devices in ${firstStore!.name}` })
      .filter({ hasText: /^2$/ })
      .waitFor();
    await stores
      .getByRole('cell', { name: `Devices in ${secondStore!.name}` })
      .filter({ hasText: /^1$/ })
      .waitFor();

    await dashboard.getByRole('button', { name: 'Add store' }).click();
    const addStore = dashboard.getByRole('dialog', { name: 'Add store' });
    await addStore.getByRole('textbox', { name: 'Store name' }).fill('Old Town');
    await addStore.getByRole('button', { name: 'Add store' }).click();
    await addStore.waitFor({ state: 'detached' });
    await stores.getByRole('cell', { name: 'Devices in Old Town' }).filter({ hasText: /^0$/ }).waitFor();
    await screenshot(dashboard, 'dashboard-stores');

    await dashboard.getByRole('button', { name: 'Add a device to Old Town' }).click();
    const pairing = dashboard.getByRole('dialog', { name: 'Add a device to Old Town' });
    await pairing.getByRole('button', { name: 'Create a pairing code' }).click();
    const code = (await pairing.getByRole('status', { name: 'Pairing code' }).textContent()) ?? '';
    expect(code).not.toBe('');
    await pairing.getByLabel('Store').filter({ hasText: 'Old Town' }).waitFor();
    await pairing
      .getByLabel('Command to run on the till')
      .filter({ hasText: `--pair ${code}` })
      .waitFor();
    await screenshot(dashboard, 'dashboard-store-add-device');

    const till3 = await startDeviceAgent({
      dbPath: path.join(demo.dir, 'till-3.db'),
      serverUrl: demo.server.url,
      pairCode: code,
      name: 'Till 3',
      port: 0,
      webRoot: path.join(webDir, 'device'),
    });
    closeAfter.push(() => till3.close());
    const { page: till3Page, errors } = await openPage(browser, till3.url, TABLET);
    await pill(till3Page, /^Synced/).waitFor({ timeout: 15_000 });
    // A new store: the shared catalogue, and no stock or sales of the others.
    await goTo(till3Page, 'Products');
    await till3Page.getByRole('row', { name: /Apple/ }).waitFor();
    await stockOf(till3Page, 'A-100').filter({ hasText: /^—$/ }).waitFor();
    expect(till3.client.database.prepare('SELECT count(*) AS n FROM sales').get()).toEqual({ n: 0 });
    expect(errors).toEqual([]);
    await till3Page.close();

    await pairing.getByRole('button', { name: 'Close' }).click();
    await stores.getByRole('cell', { name: 'Devices in Old Town' }).filter({ hasText: /^1$/ }).waitFor();
  });

  it("groups the devices panel by store, and moves a till to another store's rows", async () => {
    await dashboard
      .getByRole('navigation', { name: 'Screens' })
      .getByRole('link', { name: 'Devices' })
      .click();
    const [firstStore, secondStore] = demo.stores;
    const firstGroup = dashboard.getByRole('table', { name: `Devices of ${firstStore!.name}` });
    const secondGroup = dashboard.getByRole('table', { name: `Devices of ${secondStore!.name}` });
    await firstGroup.getByRole('cell', { name: 'Back-office tablet', exact: true }).waitFor();
    await secondGroup.getByRole('cell', { name: 'Till 2', exact: true }).waitFor();
    await dashboard
      .getByRole('table', { name: 'Devices of Old Town' })
      .getByRole('cell', { name: 'Till 3', exact: true })
      .waitFor();
    await screenshot(dashboard, 'dashboard-devices-by-store');

    await secondGroup.getByRole('button', { name: 'Move Till 2 to another store' }).click();
    const move = dashboard.getByRole('dialog', { name: 'Move Till 2 to another store' });
    await move.getByRole('combobox', { name: 'Move to' }).selectOption({ label: firstStore!.name });
    await move.getByRole('button', { name: `Move to ${firstStore!.name}` }).click();
    await move.waitFor({ state: 'detached' });
    await firstGroup.getByRole('cell', { name: 'Till 2', exact: true }).waitFor();

    // At its next sync Till 2 drops its old store's sale and stock and takes the first store's.
    await forceSync(till2);
    await goTo(till2, 'Products');
    await stockOf(till2, 'A-100').filter({ hasText: /^111$/ }).waitFor();
    await goTo(till2, 'Sale');
    await expect.poll(() => recentSales(till2).count()).toBe(4);
    await till2.getByTestId('store-name').filter({ hasText: firstStore!.name }).waitFor();
    const database = demo.devices[2]!.client.database;
    expect(database.prepare('SELECT count(*) AS n FROM sales').get()).toEqual({ n: 3 });
    expect(database.prepare('SELECT count(DISTINCT store_id) AS n FROM stock_levels').get()).toEqual({
      n: 1,
    });
  });

  it('logged no console errors on any page', () => {
    expect(consoleErrors).toEqual([]);
  });
});

import path from 'node:path';
import { DEMO_OWNER, startDeviceAgent, type DeviceAgent, type RunningDemo } from '@tillsync/cli';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEMO_START_TIMEOUT_MS,
  DESKTOP,
  NO_CHROMIUM_MESSAGE,
  TABLET,
  hasChromium,
  openPage,
  screenshot,
  startBrowserDemo,
} from './browser.js';

if (!hasChromium) console.warn(NO_CHROMIUM_MESSAGE);

/**
 * The demo that `npm start` runs, driven in Chromium as a person would: Till 1 at a desktop's size, Tablet 2
 * at a tablet's, the owner's dashboard beside them. The tests run in order and share the demo, as one
 * afternoon in the shop would. They find every control by its role and accessible name.
 */
describe.skipIf(!hasChromium)('the demo in a browser', () => {
  let demo: RunningDemo;
  let browser: BrowserContext;
  let webDir: string;
  let till: Page;
  let tablet: Page;
  let dashboard: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    ({ demo, browser, webDir } = await startBrowserDemo());
    const [tillAgent, tabletAgent] = demo.devices;
    const opened = await Promise.all([
      openPage(browser, tillAgent!.url, DESKTOP),
      openPage(browser, tabletAgent!.url, TABLET),
      openPage(browser, demo.dashboardUrl, DESKTOP),
    ]);
    [till, tablet, dashboard] = opened.map((entry) => entry.page) as [Page, Page, Page];
    for (const entry of opened) entry.errors.length = 0;
    opened.forEach((entry) => {
      entry.page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(message.text());
      });
      entry.page.on('pageerror', (error) => consoleErrors.push(error.message));
    });
  }, DEMO_START_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  const pill = (page: Page, name: RegExp) => page.getByRole('banner').getByRole('button', { name });
  const goTo = async (page: Page, screen: string): Promise<void> => {
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: screen }).click();
  };
  const forceSync = async (page: Page): Promise<void> => {
    await goTo(page, 'Settings');
    await page.getByRole('button', { name: 'Force sync now' }).click();
  };

  it('records a sale on Till 1 and shows the stock change on Tablet 2 with nothing pressed', async () => {
    await pill(till, /^Synced/).waitFor();
    await goTo(tablet, 'Products');
    const tabletApples = tablet.getByTestId('stock-A-100');
    await tabletApples.filter({ hasText: /^114$/ }).waitFor();

    // A quick sale of three apples and a croissant, by keyboard for the apples.
    const search = till.getByRole('searchbox', { name: /Find a product/ });
    await search.fill('apple');
    await search.press('Enter');
    await till.getByRole('spinbutton', { name: 'Quantity of Apple' }).fill('3');
    await till.getByRole('button', { name: /^Croissant, / }).click();
    await expect.poll(() => till.getByRole('status', { name: 'Total' }).textContent()).toBe('€3.30');
    await screenshot(till, 'till-sale');
    await till.getByRole('button', { name: 'Record sale' }).click();
    await till.getByRole('status').filter({ hasText: 'Sale recorded: 4 items, €3.30.' }).waitFor();
    await goTo(till, 'Products');
    await till.getByTestId('stock-A-100').filter({ hasText: /^111$/ }).waitFor();
    // Till 1 pushes soon after the sale; Tablet 2 pulls on the server's notice. Nobody presses anything.
    await tabletApples.filter({ hasText: /^111$/ }).waitFor({ timeout: 10_000 });

    await forceSync(till);
    await till
      .getByRole('status')
      .filter({ hasText: /^Sync done in .*: pushed \d+, pulled / })
      .waitFor();
    await pill(till, /^Synced/).waitFor();
    await screenshot(till, 'till-cloud-sync');

    await forceSync(tablet);
    await goTo(tablet, 'Products');
    await tabletApples.filter({ hasText: /^111$/ }).waitFor();
    await screenshot(tablet, 'tablet-products');
  });

  it('turns the pill red while the server is down and green when it is back', async () => {
    await demo.stopServer();
    await forceSync(till);
    await pill(till, /^Offline · last sync /).waitFor();
    await till
      .getByRole('alert')
      .filter({ hasText: /^Sync failed/ })
      .waitFor();
    await screenshot(till, 'till-offline');

    await demo.restartServer();
    // The worker retries an unreachable server within seconds and syncs as soon as it answers.
    await pill(till, /^Synced/).waitFor({ timeout: 20_000 });
  });

  it('opens the sync log from the pill', async () => {
    await pill(till, /^Synced/).click();
    const log = till.getByRole('dialog', { name: 'Sync log' });
    await log.waitFor();
    await log.getByRole('cell', { name: 'Force sync' }).first().waitFor();
    expect(await log.getByRole('row').count()).toBeGreaterThan(3);
    await log
      .getByRole('cell', { name: /Cannot reach the server|server|offline/i })
      .first()
      .waitFor();
    await screenshot(till, 'sync-log');
    // One button away: this device's own edits that lost (none in the demo so far).
    await log.getByRole('button', { name: 'Edits that lost' }).click();
    const lost = till.getByRole('dialog', { name: 'Edits that lost' });
    await lost.getByText('No edit of this device has lost.').waitFor();
    await lost.getByRole('button', { name: 'Back to the sync log' }).click();
    await log.getByRole('cell', { name: 'Force sync' }).first().waitFor();
    await log.getByRole('button', { name: 'Close' }).click();
    await log.waitFor({ state: 'detached' });
  });

  it('asks before a force pull discards unsent changes, and says the discarded rows are kept', async () => {
    await goTo(till, 'Settings');
    await till.getByRole('button', { name: 'Show advanced' }).click();
    await till.getByRole('checkbox', { name: 'Discard my unsent changes' }).check();
    await till.getByRole('button', { name: 'Force pull from cloud' }).click();
    const confirm = till.getByRole('dialog', { name: 'Discard unsent changes?' });
    await confirm.getByText(/The discarded rows are kept on this device/).waitFor();
    await screenshot(till, 'till-force-pull');
    await confirm.getByRole('button', { name: 'Keep my changes' }).click();
    await confirm.waitFor({ state: 'detached' });
    await till.getByRole('checkbox', { name: 'Discard my unsent changes' }).uncheck();
    await till.getByRole('button', { name: 'Force pull from cloud' }).click();
    await till
      .getByRole('status')
      .filter({ hasText: /^Force pull done/ })
      .waitFor();
    await till.getByRole('button', { name: 'Hide advanced' }).click();
  });

  it('pairs a device with a code from the dashboard, and tells it when the owner revokes it', async () => {
    const extra: DeviceAgent = await startDeviceAgent({
      dbPath: path.join(demo.dir, 'till-3.db'),
      serverUrl: demo.server.url,
      port: 0,
      webRoot: path.join(webDir, 'device'),
    });
    try {
      await dashboard.getByRole('textbox', { name: 'Email' }).fill(DEMO_OWNER.email);
      await dashboard.getByLabel('Password').fill(DEMO_OWNER.password);
      await dashboard.getByRole('button', { name: 'Sign in' }).click();
      await dashboard
        .getByRole('table', { name: 'Devices' })
        .getByRole('cell', { name: 'Tablet 2', exact: true })
        .waitFor();
      // The column says "Last seen" once; its cells say when.
      await dashboard
        .getByRole('cell', { name: /^(just now|\d+ seconds? ago)$/ })
        .first()
        .waitFor();
      await screenshot(dashboard, 'dashboard-devices');

      await dashboard.getByRole('button', { name: 'Add a device' }).click();
      const addDialog = dashboard.getByRole('dialog', { name: 'Add a device' });
      await addDialog.getByRole('button', { name: 'Create a pairing code' }).click();
      const code = (await addDialog.getByRole('status', { name: 'Pairing code' }).textContent()) ?? '';
      expect(code).not.toBe('');
      await addDialog.getByText(/\(in 15 minutes\)/).waitFor();
      await screenshot(dashboard, 'dashboard-add-device');

      const { page: device, errors } = await openPage(browser, extra.url, TABLET);
      await device.getByRole('heading', { name: 'Pair this device' }).waitFor();
      // The agent was started with the server: the field holds it as a value, not a placeholder.
      await expect
        .poll(() => device.getByRole('textbox', { name: 'Server URL' }).inputValue())
        .toBe(demo.server.url);
      await device.getByRole('textbox', { name: 'Pairing code' }).fill(code);
      await device.getByRole('textbox', { name: 'Device name' }).fill('Till 3');
      await screenshot(device, 'device-pairing');
      await device.getByRole('button', { name: 'Pair device' }).click();
      await pill(device, /^Synced/).waitFor({ timeout: 15_000 });
      await device.getByRole('button', { name: /^Apple, / }).waitFor();

      await addDialog.getByRole('button', { name: 'Close' }).click();
      const row = dashboard.getByRole('row', { name: /Till 3/ });
      await row.waitFor({ timeout: 10_000 });
      await row.getByRole('button', { name: 'Revoke Till 3' }).click();
      await dashboard
        .getByRole('dialog', { name: 'Revoke Till 3?' })
        .getByRole('button', { name: 'Revoke device' })
        .click();
      await row.getByText('Revoked', { exact: true }).waitFor();

      await forceSync(device);
      await pill(device, /^Not syncing$/).waitFor();
      await device
        .getByRole('alert')
        .filter({ hasText: /removed by the owner and no longer syncs/ })
        .waitFor();
      await device.getByRole('button', { name: 'Pair again' }).waitFor();
      // Said once, on the banner; nothing on Settings can sync.
      expect(await device.getByText(/removed by the owner/).count()).toBe(1);
      expect(await device.getByRole('button', { name: 'Force sync now' }).isDisabled()).toBe(true);
      expect(await device.getByRole('button', { name: 'Start sync task' }).isDisabled()).toBe(true);
      // At a tablet's width the pill stays in the header's one row, beside the links.
      const navBox = await device.getByRole('navigation', { name: 'Screens' }).boundingBox();
      const pillBox = await pill(device, /^Not syncing$/).boundingBox();
      expect(pillBox && navBox && pillBox.y < navBox.y + navBox.height).toBe(true);
      await screenshot(device, 'device-revoked');

      // A sale meanwhile stays on the device; paired again, it sends it, and the owner sees Till 3 once,
      // with nothing pending.
      await goTo(device, 'Sale');
      const search = device.getByRole('searchbox', { name: /Find a product/ });
      await search.fill('apple');
      await search.press('Enter');
      await device.getByRole('button', { name: 'Record sale' }).click();
      await device
        .getByRole('status')
        .filter({ hasText: /^Sale recorded: 1 item/ })
        .waitFor();
      await device.getByRole('button', { name: 'Pair again' }).click();
      await dashboard.getByRole('button', { name: 'Add a device' }).click();
      await addDialog.getByRole('button', { name: 'Create a pairing code' }).click();
      const newCode = (await addDialog.getByRole('status', { name: 'Pairing code' }).textContent()) ?? '';
      await addDialog.getByRole('button', { name: 'Close' }).click();
      await device.getByRole('textbox', { name: 'Pairing code' }).fill(newCode);
      await expect
        .poll(() => device.getByRole('textbox', { name: 'Device name' }).inputValue())
        .toBe('Till 3');
      await device.getByRole('button', { name: 'Pair device' }).click();
      await pill(device, /^Synced/).waitFor({ timeout: 15_000 });
      const again = dashboard.getByRole('row', { name: /Till 3/ });
      await again.filter({ hasNotText: 'Revoked' }).waitFor({ timeout: 10_000 });
      await again.getByRole('cell', { name: '0', exact: true }).waitFor({ timeout: 10_000 });
      expect(await again.count()).toBe(1);
      expect(errors).toEqual([]);
      await device.close();
    } finally {
      await extra.close();
    }
  });

  it("shows a dry-run job's diff in the dashboard", async () => {
    // With the daily summary switched off, a new sale leaves its day's summary behind: a dry run shows the gap.
    await goTo(dashboard, 'Job types');
    const dailySales = dashboard.getByRole('form', { name: 'sale-daily-sales' });
    await dailySales.getByRole('checkbox', { name: 'Disabled' }).check();
    await dailySales.getByRole('button', { name: 'Save sale-daily-sales' }).click();
    await dailySales.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    await screenshot(dashboard, 'dashboard-job-types');

    await goTo(till, 'Sale');
    await till.getByRole('button', { name: /^Banana, / }).click();
    await till.getByRole('button', { name: 'Record sale' }).click();
    await till.getByRole('status').filter({ hasText: 'Sale recorded: 1 item, €0.30.' }).waitFor();
    await forceSync(till);
    await till
      .getByRole('status')
      .filter({ hasText: /^Sync done/ })
      .waitFor();

    await dailySales.getByRole('checkbox', { name: 'Disabled' }).uncheck();
    await dailySales.getByRole('button', { name: 'Save sale-daily-sales' }).click();
    await dailySales.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();

    await goTo(dashboard, 'Sync jobs');
    await dashboard.getByRole('combobox', { name: 'Type' }).selectOption('sale-daily-sales');
    await dashboard.getByRole('combobox', { name: 'Status' }).selectOption('Finished');
    const jobs = dashboard.getByRole('table', { name: 'Sync jobs' });
    await jobs.getByRole('cell', { name: 'Finished' }).first().waitFor();
    await screenshot(dashboard, 'dashboard-jobs');
    // Named by their rows in the shop's words, not table names and UUIDs.
    await jobs
      .getByRole('link', { name: /^sale [0-9a-f]{8} → daily sales of / })
      .first()
      .click();
    await dashboard.getByRole('heading', { name: 'Timeline' }).waitFor();
    await dashboard.getByRole('button', { name: 'Dry run again' }).click();

    await dashboard.getByText('Skipped', { exact: true }).waitFor();
    const diff = dashboard.getByRole('table', { name: 'Diff' });
    await diff.waitFor();
    const salesCount = diff.getByRole('row', { name: /^Sales count/ });
    await diff.getByRole('row', { name: /^Total €\d+\.\d\d €\d+\.\d\d$/ }).waitFor();
    const cells = await salesCount.getByRole('cell').allTextContents();
    expect(cells.map(Number)).toEqual([Number(cells[0]), Number(cells[0]) + 1]);
    await dashboard.getByRole('heading', { name: 'Diff (dry run: nothing was written)' }).waitFor();
    await screenshot(dashboard, 'dashboard-job-diff');
  });

  it("shows where an overridden edit went, in the shop's words", async () => {
    await goTo(dashboard, 'Conflicts');
    const filters = dashboard.getByRole('form', { name: 'Find conflicts' });
    await filters.getByRole('combobox', { name: 'Table' }).selectOption({ label: 'Products' });
    await filters.getByRole('button', { name: 'Find' }).click();
    // The demo changed the croissant's price on both devices: Till 1's later 1.95 won over Tablet 2's 1.90.
    const conflict = dashboard
      .getByRole('article', { name: /^Conflict on Product Croissant · Price$/ })
      .filter({ has: dashboard.getByRole('row', { name: 'Price €1.95 €1.90' }) });
    await conflict.waitFor();
    // No database words: no column names, no cents.
    expect(await conflict.getByText(/price_cents|_id\b/).count()).toBe(0);
    await conflict.getByText(/Till 1.*value was kept; .*Tablet 2.*write lost/).waitFor();
    await screenshot(dashboard, 'dashboard-conflicts');
  });

  it('marks a row the server refused where the person works, with the reason in words', async () => {
    await goTo(tablet, 'Products');
    const form = tablet.getByRole('form', { name: 'Add a product' });
    await form.getByRole('textbox', { name: 'SKU' }).fill('A-100');
    await form.getByRole('textbox', { name: 'Name' }).fill('Green apple');
    await form.getByRole('textbox', { name: 'Price' }).fill('0.55');
    await form.getByRole('spinbutton', { name: 'Stock' }).fill('10');
    await form.getByRole('button', { name: 'Add product' }).click();
    await form.getByRole('status').filter({ hasText: 'Added Green apple.' }).waitFor();
    await tablet.getByRole('row', { name: /Green apple Waiting to sync/ }).waitFor();

    await forceSync(tablet);
    await tablet
      .getByRole('status')
      .filter({ hasText: /1 rejected/ })
      .waitFor();
    await goTo(tablet, 'Products');
    const refused = tablet.getByRole('row', { name: /Green apple Not synced/ });
    await refused.getByText(/sku/i).waitFor();
    await tablet.getByRole('alert').filter({ hasText: '1 product was refused by the server' }).waitFor();
    await screenshot(tablet, 'tablet-refused-row');
  });

  it('logged no console errors on any page', () => {
    expect(consoleErrors).toEqual([]);
  });
});

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDemo, type RunningDemo } from '@tillsync/cli';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/**
 * Browser tests drive Debian's Chromium (`apt-get install -y chromium`, as `.ci/run` does) with
 * playwright-core: never a browser download. Without it the browser tests skip, with this message.
 */
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = fs.existsSync(CHROMIUM);
export const NO_CHROMIUM_MESSAGE = `browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`;

const here = path.dirname(fileURLToPath(import.meta.url));
/**
 * Where the screenshots of the main screens go: a temporary folder, so a test run leaves the checkout as it
 * was; `npm run screenshots` sets TILLSYNC_SCREENSHOT_DIR to refresh the committed ones in docs/screenshots.
 */
export const SCREENSHOT_DIR = process.env.TILLSYNC_SCREENSHOT_DIR
  ? path.resolve(process.env.TILLSYNC_SCREENSHOT_DIR)
  : path.join(os.tmpdir(), 'tillsync-screenshots');

/** The two screen sizes the pages must work at. */
export const DESKTOP = { width: 1280, height: 800 } as const;
export const TABLET = { width: 800, height: 1280 } as const;

/** Builds the pages from their sources into a new folder, so the tests never run a stale build. */
export function buildPages(): string {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-pages-'));
  const result = spawnSync(process.execPath, [path.resolve(here, '../build.js'), '--out', outDir], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`the pages did not build:\n${result.stdout}\n${result.stderr}`);
  return outDir;
}

/** Chromium as this machine runs it: headless, no sandbox (root), nothing reaching outside, a fresh profile. */
export async function launchBrowser(): Promise<BrowserContext> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-chromium-'));
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: DESKTOP,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A page that records every console error and uncaught exception, for the test to assert there were none.
 */
export async function openPage(
  context: BrowserContext,
  url: string,
  viewport: { width: number; height: number } = DESKTOP,
): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${url}: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`${url}: ${error.message}`));
  await page.setViewportSize(viewport);
  await page.goto(url);
  return { page, errors };
}

/** Saves a screenshot of the page as NAME.png in {@link SCREENSHOT_DIR}. */
export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`) });
}

/** How long a browser test file may take to build the pages and start the demo on a busy machine. */
export const DEMO_START_TIMEOUT_MS = 180_000;

/** The demo that `npm start` runs, fresh, on pages built from their sources, and Chromium to look at it. */
export async function startBrowserDemo(): Promise<{
  demo: RunningDemo;
  browser: BrowserContext;
  webDir: string;
}> {
  const webDir = buildPages();
  const demo = await startDemo({
    dir: fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-demo-')),
    port: 0,
    fresh: true,
    webDir,
  });
  return { demo, browser: await launchBrowser(), webDir };
}

/** The device page's header pill, found by its words. */
export function pillButton(page: Page, name: RegExp) {
  return page.getByRole('banner').getByRole('button', { name });
}

/** Opens one of the device page's screens from its navigation. */
export async function goToScreen(page: Page, screen: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: screen }).click();
}

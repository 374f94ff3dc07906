import type { PullResponse } from '@tillsync/protocol';
import { describe, expect, it } from 'vitest';
import { emptyCycleCounts } from '../../src/cycle/cycle-counts.js';
import { PullPager, pageSizesFor, type PullPagerOptions } from '../../src/cycle/pull-pager.js';
import type { FetchFunction } from '../../src/index.js';
import { startTestServer } from '../server-fixture.js';
import { countRows, endpointOf, insertCustomers, pairedStepDevice } from './cycle-fixture.js';

/** A server with `rows` customers pushed by another device, and a fresh device whose pulls are recorded. */
async function serverWithCustomers(rows: number) {
  const server = await startTestServer();
  const writer = await server.pairedClient('writer');
  insertCustomers(writer, rows);
  expect(await writer.sync()).toMatchObject({ ok: true, pushed: rows });
  const asked: { since: string; limit: number }[] = [];
  const recording: FetchFunction = async (input, init) => {
    if (endpointOf(input.split('?')[0] ?? input) === 'pull') {
      const url = new URL(input);
      asked.push({
        since: url.searchParams.get('since') ?? '',
        limit: Number(url.searchParams.get('limit')),
      });
    }
    return fetch(input, init);
  };
  const device = await pairedStepDevice(server, 'reader', recording);
  return { server, device, asked };
}

function pagerFor(
  device: Awaited<ReturnType<typeof pairedStepDevice>>,
  options: Partial<PullPagerOptions> = {},
): PullPager {
  return new PullPager({
    remote: device.remote,
    counts: device.counts,
    knowsTable: (table) => device.cycleStore.knowsTable(table),
    refreshSchema: async () => device.cycleStore.useSchema(await device.remote.schema()),
    ...options,
  });
}

describe('pageSizesFor', () => {
  it('asks for the largest pages in a snapshot, and the app’s size for both when it gives one', () => {
    expect(pageSizesFor(undefined)).toEqual({ regular: 1000, snapshot: 5000 });
    expect(pageSizesFor(300)).toEqual({ regular: 300, snapshot: 300 });
    expect(pageSizesFor(0)).toEqual({ regular: 1, snapshot: 1 });
  });
});

describe('PullPager', () => {
  it('pulls pages until the last, snapshot pages from the start and regular pages from a cursor', async () => {
    const { device, asked } = await serverWithCustomers(7);
    const pager = pagerFor(device, { pageSizes: { regular: 2, snapshot: 3 } });
    const apply = (changes: PullResponse['changes'], cursor: string | undefined) =>
      device.cycleStore.applyPage(changes, cursor === undefined ? {} : { cursor });

    const end = await pager.pages('', apply);

    expect(asked.map((request) => request.limit)).toEqual([3, 3, 3]);
    expect(asked[0]?.since).toBe('');
    expect(device.counts.pulled).toBe(7);
    expect(countRows(device.store, 'customers')).toBe(7);
    expect(end.checksums?.['customers']?.count).toBe(7);

    // From the cursor the snapshot left, the regular size.
    asked.length = 0;
    await pager.pages(device.cycleStore.cursor(), apply);
    expect(asked).toEqual([{ since: device.cycleStore.cursor(), limit: 2 }]);
  });

  it('applies a page in slices, the cursor with the last slice only', async () => {
    const { device } = await serverWithCustomers(5);
    const pager = pagerFor(device, { applyBatchSize: 2 });
    const slices: { size: number; cursor: string | undefined; cursorBefore: string }[] = [];

    await pager.pages('', (changes, cursor) => {
      slices.push({ size: changes.length, cursor, cursorBefore: device.cycleStore.cursor() });
      return device.cycleStore.applyPage(changes, cursor === undefined ? {} : { cursor });
    });

    expect(slices.map((slice) => slice.size)).toEqual([2, 2, 1]);
    expect(slices.map((slice) => slice.cursor === undefined)).toEqual([true, true, false]);
    // Until the last slice commits, the device's cursor stays where the page started: a crash pulls it again.
    expect(slices.map((slice) => slice.cursorBefore)).toEqual(['', '', '']);
    expect(device.cycleStore.cursor()).toBe(slices[2]?.cursor);
  });

  it('takes a first page asked for early, and asks again once it was dropped', async () => {
    const { device, asked } = await serverWithCustomers(2);
    const pager = pagerFor(device);
    const apply = (changes: PullResponse['changes'], cursor: string | undefined) =>
      device.cycleStore.applyPage(changes, cursor === undefined ? {} : { cursor });

    pager.prefetch('');
    expect(asked).toHaveLength(1);
    await pager.pages('', apply);
    expect(asked).toHaveLength(1);

    pager.prefetch(device.cycleStore.cursor());
    await pager.dropPrefetched();
    await pager.pages(device.cycleStore.cursor(), apply);
    expect(asked).toHaveLength(3);
  });

  it('stops between slices when its signal is aborted, leaving the cursor where it was', async () => {
    const { device } = await serverWithCustomers(3);
    const stop = new AbortController();
    const pager = pagerFor(device, { applyBatchSize: 1, signal: stop.signal });
    let applied = 0;

    const pulling = pager.pages('', (changes, cursor) => {
      applied += 1;
      stop.abort(new Error('stopped'));
      return device.cycleStore.applyPage(changes, cursor === undefined ? {} : { cursor });
    });

    await expect(pulling).rejects.toThrow('stopped');
    expect(applied).toBe(1);
    expect(device.cycleStore.cursor()).toBe('');
    expect(emptyCycleCounts()).toEqual({
      pushed: 0,
      pulled: 0,
      expectedPulled: null,
      conflicts: 0,
      conflictRows: [],
      rejected: [],
      repairs: [],
    });
  });
});

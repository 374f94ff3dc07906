import { randomUUID } from 'node:crypto';
import {
  checksumTerm,
  addToChecksum,
  formatChecksum,
  formatStamp,
  type Change,
  type PushResponse,
  type RowValues,
} from '@tillsync/protocol';
import { applyPush, type TenantSyncStore } from '@tillsync/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PulledRow } from '../src/storage/sync-store.js';
import { productValues } from './helpers.js';
import { BASE_MS, now, schema, skipStamps, stamp, upsert, writeAsJob } from './push-changes.js';
import type { OpenedStore } from './store-conformance.js';

/** What a device's pull from a cursor receives, page after page, and where it ends. */
interface Pulled {
  readonly rows: PulledRow[];
  readonly cursor: number;
  readonly pages: number;
  readonly checksums: Readonly<Record<string, { count: number; sum: string }>>;
}

/**
 * No echo (issue 20): a device's pull does not send back a row whose stored state that device's push made
 * and nobody changed since; everything else still comes, and a fresh snapshot still hands out every row.
 * Through whole pushes (`applyPush`) and pulls on each engine's store.
 */
export function describeNoEchoConformance(name: string, open: () => Promise<OpenedStore>): void {
  describe(`${name}: no echo`, () => {
    let opened: OpenedStore;
    let store: TenantSyncStore;
    /** A row stored first, so a cursor after it is not the start (a pull from the start is a snapshot). */
    let seed: string;

    beforeEach(async () => {
      opened = await open();
      store = opened.storage.sync.forTenant(opened.tenantId);
      seed = randomUUID();
      await push('seeder', [upsert('categories', seed, { name: 'Seed' }, stamp('node-seeder'))]);
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    const push = (deviceId: string, changes: Change[]): Promise<PushResponse> =>
      applyPush(store, { pushId: randomUUID(), changes }, { schema, deviceId, now });
    const statuses = (response: PushResponse): string[] => response.results.map((result) => result.status);

    /** Every page from `since` as `deviceId` pulls them, passing back what each page answers. */
    async function pullAs(deviceId: string, since: number, limit = 1000): Promise<Pulled> {
      const rows: PulledRow[] = [];
      let cursor = since;
      let floor = 0;
      // None from the start: a fresh snapshot.
      let end: number | undefined;
      for (let pages = 1; ; pages++) {
        const page = await store.pull(cursor, limit, floor, deviceId, end);
        if (page.resyncRequired) throw new Error('unexpected resync');
        rows.push(...page.rows);
        cursor = page.cursorSeq;
        floor = page.snapshotFloor;
        end = page.snapshotEnd;
        if (!page.hasMore) return { rows, cursor, pages, checksums: page.checksums ?? {} };
      }
    }
    const ids = (pulled: Pulled): string[] => pulled.rows.map((row) => row.id);
    /** Where a device stands after a pull of everything so far. */
    const cursorNow = async (): Promise<number> => (await pullAs('observer', 0)).cursor;

    async function createdBy(
      deviceId: string,
      values: RowValues = {},
    ): Promise<{ id: string; created: string }> {
      const id = randomUUID();
      const created = stamp(`node-${deviceId}`);
      const answer = await push(deviceId, [upsert('products', id, productValues(values), created)]);
      expect(answer.results).toEqual([{ table: 'products', id, status: 'applied' }]);
      return { id, created };
    }

    /** Rows created by these devices, one push after another. */
    async function createdInTurn(
      devices: readonly string[],
    ): Promise<Array<{ id: string; created: string }>> {
      const created: Array<{ id: string; created: string }> = [];
      for (const deviceId of devices) created.push(await createdBy(deviceId));
      return created;
    }

    it('sends a device none of the rows it pushed whole, and every other device all of them, checksums whole', async () => {
      const before = await cursorNow();
      const mine = await createdInTurn(['a', 'a', 'a']);
      const theirs = await createdBy('b');
      const pulledByA = await pullAs('a', before);
      expect(ids(pulledByA)).toEqual([theirs.id]);
      expect(ids(await pullAs('b', before))).toEqual(mine.map((row) => row.id));
      // The last page's checksums still count every live row: the device holds its own.
      let sum = 0n;
      for (const row of [...mine, theirs]) sum = addToChecksum(sum, checksumTerm(row.id, row.created));
      expect(pulledByA.checksums['products']).toEqual({ count: 4, sum: formatChecksum(sum) });
    });

    it('keeps a row held while its device edits columns of it that all stand, and sends it once another device writes it', async () => {
      const { id, created } = await createdBy('a', { name: 'Apple', stock: 10 });
      const before = await cursorNow();
      const edited = stamp('node-a');
      expect(
        statuses(
          await push('a', [
            upsert('products', id, { name: 'Red apple', stock: { delta: -2 } }, edited, created),
          ]),
        ),
      ).toEqual(['applied']);
      expect(ids(await pullAs('a', before))).toEqual([]);

      await push('b', [upsert('products', id, { price_cents: 99 }, stamp('node-b'), edited)]);
      const pulled = await pullAs('a', before);
      expect(ids(pulled)).toEqual([id]);
      expect(JSON.parse(pulled.rows[0]?.valuesJson ?? 'null')).toMatchObject({
        name: 'Red apple',
        price_cents: 99,
        stock: 8,
      });
      // Its own edit of a row another device wrote last comes back: the server cannot tell what it held.
      const after = await cursorNow();
      await push('a', [upsert('products', id, { name: 'Green apple' }, stamp('node-a'))]);
      expect(ids(await pullAs('a', after))).toEqual([id]);
    });

    it('sends a device its row when its push lost a column to a later write (applied with current)', async () => {
      const { id, created } = await createdBy('a');
      const before = await cursorNow();
      const [fromA, fromB] = [stamp('node-a'), stamp('node-b')];
      await push('b', [upsert('products', id, { name: 'B name' }, fromB, created)]);
      const answer = await push('a', [
        upsert('products', id, { name: 'A name', price_cents: 300 }, fromA, created),
      ]);
      expect(answer.results[0]).toMatchObject({
        status: 'applied',
        current: { values: { name: 'B name', price_cents: 300 } },
      });
      expect(ids(await pullAs('a', before))).toEqual([id]);
    });

    it("sends a counter's row to a device whose delta met another device's, whichever arrived first", async () => {
      const first = await createdBy('a', { stock: 10 });
      const second = await createdBy('a', { stock: 10 });
      const before = await cursorNow();
      // B's sale reached the server first: A's delta is added to 9, not to the 10 A held.
      await push('b', [
        upsert('products', first.id, { stock: { delta: -1 } }, stamp('node-b'), first.created),
      ]);
      await push('a', [
        upsert('products', first.id, { stock: { delta: -3 } }, stamp('node-a'), first.created),
      ]);
      // A's sale first, then B's: A holds 7, the server 6.
      await push('a', [
        upsert('products', second.id, { stock: { delta: -3 } }, stamp('node-a'), second.created),
      ]);
      expect(ids(await pullAs('a', before))).toEqual([first.id]);
      await push('b', [
        upsert('products', second.id, { stock: { delta: -1 } }, stamp('node-b'), second.created),
      ]);
      const pulled = await pullAs('a', before);
      expect(ids(pulled)).toEqual([first.id, second.id]);
      expect(pulled.rows.map((row) => (JSON.parse(row.valuesJson ?? '{}') as RowValues)['stock'])).toEqual([
        6, 6,
      ]);
    });

    it("sends a row whose counter only another device's stale change moved", async () => {
      const { id, created } = await createdBy('a', { stock: 10 });
      const before = await cursorNow();
      // Made before A's row was created, sent late: its name loses, its delta is added all the same.
      const late = formatStamp({ ms: BASE_MS, counter: 0, nodeId: 'node-b' });
      const answer = await push('b', [
        upsert('products', id, { name: 'Late', stock: { delta: -4 } }, late, created),
      ]);
      expect(statuses(answer)).toEqual(['stale']);
      const pulled = await pullAs('a', before);
      expect(ids(pulled)).toEqual([id]);
      expect(JSON.parse(pulled.rows[0]?.valuesJson ?? 'null')).toMatchObject({ stock: 6 });
    });

    it('sends the rows whose optional reference the server cleared, to the device that wrote them too', async () => {
      const category = randomUUID();
      await push('b', [upsert('categories', category, { name: 'Fruit' }, stamp('node-b'))]);
      const { id } = await createdBy('a', { category_id: category });
      const before = await cursorNow();
      await push('b', [{ table: 'categories', id: category, op: 'delete', updatedAt: stamp('node-b') }]);
      const pulled = await pullAs('a', before);
      expect(ids(pulled).sort()).toEqual([category, id].sort());
      expect(JSON.parse(pulled.rows.find((row) => row.id === id)?.valuesJson ?? 'null')).toMatchObject({
        category_id: null,
      });

      // A sale naming a customer deleted before it arrived: the server clears the reference in A's own push.
      const customer = randomUUID();
      await push('b', [upsert('customers', customer, { name: 'Ann' }, stamp('node-b'))]);
      await push('b', [{ table: 'customers', id: customer, op: 'delete', updatedAt: stamp('node-b') }]);
      const after = await cursorNow();
      const sale = randomUUID();
      await push('a', [
        upsert(
          'sales',
          sale,
          { customer_id: customer, total_cents: 100, created_at: '2026-11-22T12:00:00.000Z' },
          stamp('node-a'),
        ),
      ]);
      const cleared = await pullAs('a', after);
      expect(ids(cleared)).toEqual([sale]);
      expect(JSON.parse(cleared.rows[0]?.valuesJson ?? 'null')).toMatchObject({ customer_id: null });
    });

    it("sends a row a sync job wrote after the device's push", async () => {
      const { id } = await createdBy('a', { name: 'Apple' });
      const before = await cursorNow();
      await writeAsJob(opened, 'products', id, { name: 'Named by a job' });
      skipStamps(10);
      const pulled = await pullAs('a', before);
      expect(ids(pulled)).toEqual([id]);
      expect(JSON.parse(pulled.rows[0]?.valuesJson ?? 'null')).toMatchObject({ name: 'Named by a job' });
    });

    it('sends a device none of its own deletes, and every other device each of them', async () => {
      const { id } = await createdBy('a');
      const before = await cursorNow();
      await push('a', [{ table: 'products', id, op: 'delete', updatedAt: stamp('node-a') }]);
      expect(ids(await pullAs('a', before))).toEqual([]);
      const byB = await pullAs('b', before);
      expect(byB.rows.map((row) => [row.id, row.valuesJson])).toEqual([[id, null]]);
    });

    it('hands out every row in a fresh snapshot, on each of its pages, the ones the device pushed too', async () => {
      const created = await createdInTurn(
        Array.from({ length: 12 }, (_, index) => (index % 3 === 0 ? 'b' : 'a')),
      );
      const snapshot = await pullAs('a', 0, 5);
      expect(snapshot.pages).toBe(3);
      expect(ids(snapshot)).toEqual([seed, ...created.map((row) => row.id)]);
      // A snapshot resumed at a later page (its cursor kept) still hands out the device's own rows.
      const first = await store.pull(0, 5, 0, 'a');
      if (first.resyncRequired) throw new Error('unexpected resync');
      const resumed = await store.pull(first.cursorSeq, 5, first.snapshotFloor, 'a', first.snapshotEnd);
      if (resumed.resyncRequired) throw new Error('unexpected resync');
      expect(resumed.rows.map((row) => row.id)).toEqual(created.slice(4, 9).map((row) => row.id));
      // Past the point the snapshot began, its own rows are skipped again.
      const later = await createdBy('a');
      const other = await createdBy('b');
      const rest = await pullAs('a', snapshot.cursor);
      expect(ids(rest)).toEqual([other.id]);
      expect(ids(rest)).not.toContain(later.id);
    });

    it('skips no change of another device among many held rows, page after page, reading a bounded number each', async () => {
      const before = await cursorNow();
      const expected: string[] = [];
      for (let round = 0; round < 6; round++) {
        const many = Array.from({ length: 15 }, () => randomUUID());
        await push(
          'a',
          many.map((id) => upsert('products', id, productValues(), stamp('node-a'))),
        );
        const theirs = await createdBy('b');
        expected.push(theirs.id);
      }
      const pulled = await pullAs('a', before, 2);
      expect(ids(pulled)).toEqual(expected);
      // A page reads at most 20 times its limit past the rows the device holds: 96 rows, at 2 a page.
      expect(pulled.pages).toBeGreaterThanOrEqual(3);
      expect(pulled.pages).toBeLessThanOrEqual(6);
      const onlyHeld = await store.pull(before, 1, 0, 'a', 0);
      if (onlyHeld.resyncRequired) throw new Error('unexpected resync');
      expect(onlyHeld.rows).toHaveLength(1);
      expect(onlyHeld.rows[0]?.id).toBe(expected[0]);
      expect(onlyHeld.hasMore).toBe(true);
      expect(onlyHeld.cursorSeq).toBe(before + 16);
      // A change stored while the pages are read arrives in a later page.
      const middle = await store.pull(onlyHeld.cursorSeq, 2, 0, 'a', 0);
      if (middle.resyncRequired) throw new Error('unexpected resync');
      const late = await createdBy('b');
      const tail = await pullAs('a', middle.cursorSeq, 2);
      expect([...middle.rows.map((row) => row.id), ...ids(tail)]).toEqual([...expected.slice(1), late.id]);
    });
  });
}

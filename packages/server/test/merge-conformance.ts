import { randomUUID } from 'node:crypto';
import { type Change, type PushResponse, type RowValues } from '@tillsync/protocol';
import { applyPush, type TenantSyncStore } from '@tillsync/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rowKey, type StoredRow } from '../src/storage/sync-store.js';
import { productValues } from './helpers.js';
import { now, remove, schema, skipStamps, stamp, upsert, writeAsJob } from './push-changes.js';
import type { OpenedStore } from './store-conformance.js';

/** A product of the built-in schema, with a unique sku. */
const product = (overrides: RowValues = {}): RowValues => productValues(overrides) as RowValues;

/**
 * Merges per column (PROTOCOL.md §5) and deletes that respect references (§2 push), through a whole push
 * (`applyPush`) on a store, so that every engine runs the same scenarios with its own SQL: column stamps
 * written and read back, the rows that reference a deleted one found, the server's own writes pulled.
 */
export function describeMergeConformance(name: string, open: () => Promise<OpenedStore>): void {
  describe(`${name}: merges per column`, () => {
    let opened: OpenedStore;
    let store: TenantSyncStore;

    beforeEach(async () => {
      opened = await open();
      store = opened.storage.sync.forTenant(opened.tenantId);
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    const push = (deviceId: string, changes: Change[], pushId = randomUUID()): Promise<PushResponse> =>
      applyPush(store, { pushId, changes }, { schema, deviceId, now });
    const rowOf = async (table: string, id: string): Promise<StoredRow | undefined> =>
      (await store.readRows([{ table, id }])).get(rowKey(table, id));
    const statuses = (response: PushResponse): string[] => response.results.map((result) => result.status);

    /** A product created whole by device `a`; its stamp is the base of the edits that follow. */
    async function createdProduct(values: RowValues = {}): Promise<{ id: string; created: string }> {
      const id = randomUUID();
      const created = stamp('nodeA');
      expect(statuses(await push('a', [upsert('products', id, product(values), created)]))).toEqual([
        'applied',
      ]);
      return { id, created };
    }

    it('keeps both edits when two devices change different columns of one row, and records no conflict', async () => {
      const { id, created } = await createdProduct();
      // A renames the product offline; B, later, raises its price and syncs first.
      const [renamed, repriced] = [stamp('nodeA'), stamp('nodeB')];
      expect(
        await push('b', [upsert('products', id, { price_cents: 150 }, repriced, created)]),
      ).toMatchObject({
        results: [{ status: 'applied' }],
      });
      const answer = await push('a', [upsert('products', id, { name: 'Red apple' }, renamed, created)]);
      expect(answer.results).toEqual([{ table: 'products', id, status: 'applied' }]);

      const row = await rowOf('products', id);
      expect(row?.values).toMatchObject({ name: 'Red apple', price_cents: 150, stock: 10 });
      // The row's stamp is its largest column stamp; the older column keeps its own.
      expect(row?.updatedAt).toBe(repriced);
      expect(row?.deviceId).toBe('b');
      expect(row?.stamps?.name).toEqual([renamed, 'a']);
      expect(await store.conflicts('products', id)).toEqual([]);
      // A pull hands out the whole row in its latest state.
      const page = await store.pull(0, 1000);
      if (page.resyncRequired) throw new Error('unexpected resync');
      const pulled = page.rows.find((pulledRow) => pulledRow.id === id);
      expect(pulled?.updatedAt).toBe(repriced);
      expect(JSON.parse(pulled?.valuesJson ?? 'null')).toMatchObject({ name: 'Red apple', price_cents: 150 });
    });

    it('records one conflict per column two devices set without seeing each other, naming the loser', async () => {
      const { id, created } = await createdProduct();
      const [fromA, fromB] = [stamp('nodeA'), stamp('nodeB')];
      await push('b', [upsert('products', id, { name: 'B name', price_cents: 200 }, fromB, created)]);
      // A's older write loses its name and price to B's, and sets `active`, which B left alone.
      const answer = await push('a', [
        upsert('products', id, { name: 'A name', price_cents: 300, active: 0 }, fromA, created),
      ]);
      expect(answer.results[0]).toMatchObject({
        status: 'applied',
        current: { op: 'upsert', updatedAt: fromB, values: { name: 'B name', price_cents: 200, active: 0 } },
      });
      const conflicts = await store.conflicts('products', id);
      conflicts.sort((x, y) => (x.column ?? '').localeCompare(y.column ?? ''));
      expect(conflicts).toEqual([
        {
          table: 'products',
          id,
          column: 'name',
          winner: { table: 'products', id, op: 'upsert', updatedAt: fromB, values: { name: 'B name' } },
          loser: { table: 'products', id, op: 'upsert', updatedAt: fromA, values: { name: 'A name' } },
          winnerDeviceId: 'b',
          loserDeviceId: 'a',
        },
        {
          table: 'products',
          id,
          column: 'price_cents',
          winner: { table: 'products', id, op: 'upsert', updatedAt: fromB, values: { price_cents: 200 } },
          loser: { table: 'products', id, op: 'upsert', updatedAt: fromA, values: { price_cents: 300 } },
          winnerDeviceId: 'b',
          loserDeviceId: 'a',
        },
      ]);
    });

    it('records a value overridden by a later write made without seeing it, and not a plain later edit', async () => {
      const { id, created } = await createdProduct();
      // B had received A's row: its edit replaces a value it knew.
      const edited = stamp('nodeB');
      await push('b', [upsert('products', id, { name: 'Edited' }, edited, created)]);
      // A edits again after receiving B's edit.
      const again = stamp('nodeA');
      await push('a', [upsert('products', id, { name: 'Edited again' }, again, edited)]);
      expect(await store.conflicts('products', id)).toEqual([]);
      // C had only seen the created row: it overrides A's latest name without having seen it.
      await push('c', [upsert('products', id, { name: 'Unseen' }, stamp('nodeC'), created)]);
      expect(await store.conflicts('products', id)).toMatchObject([
        {
          column: 'name',
          winner: { values: { name: 'Unseen' } },
          loser: { updatedAt: again, values: { name: 'Edited again' } },
          winnerDeviceId: 'c',
          loserDeviceId: 'a',
        },
      ]);
    });

    it('answers stale with the row as stored a partial upsert whose every column lost', async () => {
      const { id, created } = await createdProduct();
      const [older, newer] = [stamp('nodeA'), stamp('nodeB')];
      await push('b', [upsert('products', id, { name: 'Newer' }, newer, created)]);
      const answer = await push('a', [upsert('products', id, { name: 'Older' }, older, created)]);
      expect(answer.results).toEqual([
        {
          table: 'products',
          id,
          status: 'stale',
          current: {
            table: 'products',
            id,
            op: 'upsert',
            updatedAt: newer,
            values: expect.objectContaining({ name: 'Newer', price_cents: 120 }) as RowValues,
          },
        },
      ]);
      expect((await rowOf('products', id))?.values?.name).toBe('Newer');
    });

    it('adds counter deltas exactly once under partial upserts, stale ones and retried pushIds too', async () => {
      const { id, created } = await createdProduct({ stock: 10 });
      const [lateSale, sale, rename] = [stamp('nodeB'), stamp('nodeA'), stamp('nodeA')];
      await push('a', [upsert('products', id, { stock: { delta: -1 } }, sale, created)]);
      await push('a', [upsert('products', id, { name: 'Renamed' }, rename, sale)]);
      // B's sale was made before both: its name loses, its delta counts.
      const pushId = randomUUID();
      const lateChanges = [upsert('products', id, { name: 'B', stock: { delta: -3 } }, lateSale, created)];
      const answer = await push('b', lateChanges, pushId);
      expect(answer.results[0]).toMatchObject({
        status: 'stale',
        current: { values: { name: 'Renamed', stock: 6 } },
      });
      // The same push again (a lost answer) adds nothing.
      expect(await push('b', lateChanges, pushId)).toEqual(answer);
      expect((await rowOf('products', id))?.values).toMatchObject({ name: 'Renamed', stock: 6 });
      // A counter is a delta for a row that exists, even in a partial upsert.
      const plain = await push('a', [upsert('products', id, { stock: 5 }, stamp('nodeA'), rename)]);
      expect(plain.results[0]).toMatchObject({ status: 'rejected', error: { code: 'INVALID_VALUE' } });
    });

    it('rejects the delete of a row live rows still reference through a required reference, naming one', async () => {
      const [productId, sale, item] = [randomUUID(), randomUUID(), randomUUID()];
      await push('a', [
        upsert('products', productId, product(), stamp('nodeA')),
        upsert(
          'sales',
          sale,
          { customer_id: null, total_cents: 120, created_at: '2026-11-22T12:00:00.000Z' },
          stamp('nodeA'),
        ),
        upsert(
          'sale_items',
          item,
          { sale_id: sale, product_id: productId, quantity: 1, price_cents: 120 },
          stamp('nodeA'),
        ),
      ]);
      const answer = await push('b', [remove('products', productId, stamp('nodeB'))]);
      expect(answer.results[0]).toMatchObject({ status: 'rejected', error: { code: 'FK_VIOLATION' } });
      const message = answer.results[0]?.status === 'rejected' ? answer.results[0].error.message : '';
      expect(message).toContain(`sale_items ${item}`);
      expect((await rowOf('products', productId))?.values).not.toBeNull();
    });

    it('applies the delete of a parent and its children in one push, the parent first', async () => {
      const [productId, sale, item1, item2] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      const saleValues = { customer_id: null, total_cents: 240, created_at: '2026-11-22T12:00:00.000Z' };
      const itemValues = { sale_id: sale, product_id: productId, quantity: 1, price_cents: 120 };
      await push('a', [
        upsert('products', productId, product(), stamp('nodeA')),
        upsert('sales', sale, saleValues, stamp('nodeA')),
        upsert('sale_items', item1, itemValues, stamp('nodeA')),
        upsert('sale_items', item2, itemValues, stamp('nodeA')),
      ]);
      const answer = await push('a', [
        remove('sales', sale, stamp('nodeA')),
        remove('sale_items', item1, stamp('nodeA')),
        remove('sale_items', item2, stamp('nodeA')),
      ]);
      expect(statuses(answer)).toEqual(['applied', 'applied', 'applied']);
      expect((await rowOf('sales', sale))?.values).toBeNull();
      expect((await rowOf('products', productId))?.values).not.toBeNull();
    });

    it("clears optional references to a deleted row as a write of the server's own, which a pull delivers", async () => {
      const [category, productId] = [randomUUID(), randomUUID()];
      const productStamp = stamp('nodeA');
      await push('a', [
        upsert('categories', category, { name: 'Fruit' }, stamp('nodeA')),
        upsert('products', productId, product({ category_id: category }), productStamp),
      ]);
      const before = await store.pull(0, 1000);
      if (before.resyncRequired) throw new Error('unexpected resync');
      const deletion = stamp('nodeB');
      expect(statuses(await push('b', [remove('categories', category, deletion)]))).toEqual(['applied']);

      const cleared = await rowOf('products', productId);
      expect(cleared?.values).toMatchObject({ category_id: null, name: 'Apple' });
      expect(cleared?.deviceId).toBeNull();
      // The clear is stamped just past the value it clears: it wins over that write, not over later ones.
      expect(cleared?.updatedAt).toBe(`${productStamp}-server`);
      // Every other column keeps the stamp it had.
      expect(cleared?.stamps?.name).toEqual([productStamp, 'a']);

      const after = await store.pull(before.cursorSeq, 1000);
      if (after.resyncRequired) throw new Error('unexpected resync');
      expect(after.rows.map((row) => [row.table, row.id, row.updatedAt])).toEqual(
        expect.arrayContaining([
          ['categories', category, deletion],
          ['products', productId, cleared?.updatedAt],
        ]),
      );
      expect(JSON.parse(after.rows.find((row) => row.id === productId)?.valuesJson ?? 'null')).toMatchObject({
        category_id: null,
      });
    });

    it('keeps a reference a device moved to another row before a delete reached the server, whichever arrives first', async () => {
      // Till B moves a product from Fruit to Veg while offline; meanwhile till A deletes Fruit. Whether B's
      // edit reaches the server before A's delete or after it, the product ends in Veg on every device: the
      // server's clear of the reference to Fruit overrides only the write that named Fruit.
      const outcomes: unknown[] = [];
      for (const deleteFirst of [false, true]) {
        const [fruit, veg] = [randomUUID(), randomUUID()];
        const created = stamp('nodeA');
        const id = randomUUID();
        await push('a', [
          upsert('categories', fruit, { name: 'Fruit' }, created),
          upsert('categories', veg, { name: 'Veg' }, created),
          upsert('products', id, product({ category_id: fruit }), created),
        ]);
        const moved = upsert('products', id, { category_id: veg }, stamp('nodeB'), created);
        const deletion = remove('categories', fruit, stamp('nodeA'), created);
        if (deleteFirst) {
          expect(statuses(await push('a', [deletion]))).toEqual(['applied']);
          expect((await rowOf('products', id))?.values).toMatchObject({ category_id: null });
          expect(statuses(await push('b', [moved]))).toEqual(['applied']);
        } else {
          expect(statuses(await push('b', [moved]))).toEqual(['applied']);
          expect(statuses(await push('a', [deletion]))).toEqual(['applied']);
        }
        const row = await rowOf('products', id);
        outcomes.push(row?.values?.category_id === veg ? 'veg' : row?.values?.category_id);
        expect(row?.stamps?.category_id?.[0] ?? row?.updatedAt).toBe(moved.updatedAt);
      }
      expect(outcomes).toEqual(['veg', 'veg']);
    });

    it('lets a delete win over later writes that did not set every required column, and records what it took', async () => {
      const { id, created } = await createdProduct();
      const [deletion, rename] = [stamp('nodeA'), stamp('nodeB')];
      await push('b', [upsert('products', id, { name: 'Renamed' }, rename, created)]);
      // A's delete was made before B's rename, but B's rename alone cannot keep the row: the delete wins.
      expect(statuses(await push('a', [remove('products', id, deletion, created)]))).toEqual(['applied']);
      expect((await rowOf('products', id))?.values).toBeNull();
      expect(await store.conflicts('products', id)).toMatchObject([
        {
          column: 'name',
          winner: { op: 'delete', updatedAt: deletion },
          loser: { op: 'upsert', updatedAt: rename, values: { name: 'Renamed' } },
          winnerDeviceId: 'a',
          loserDeviceId: 'b',
        },
      ]);
      // A later edit of a few columns does not bring the row back; a later whole row does.
      const partial = await push('b', [upsert('products', id, { price_cents: 1 }, stamp('nodeB'), deletion)]);
      expect(partial.results[0]).toMatchObject({
        status: 'stale',
        current: { op: 'delete', updatedAt: deletion },
      });
      const whole = await push('b', [
        upsert('products', id, product({ name: 'Back' }), stamp('nodeB'), deletion),
      ]);
      expect(statuses(whole)).toEqual(['applied']);
      expect((await rowOf('products', id))?.values?.name).toBe('Back');
    });

    it('answers stale a delete older than a later whole-row write, and records it for the row', async () => {
      const { id, created } = await createdProduct();
      const [deletion, rewrite] = [stamp('nodeA'), stamp('nodeB')];
      const whole = { ...product({ name: 'Rewritten' }), stock: { delta: 0 } };
      expect(statuses(await push('b', [upsert('products', id, whole, rewrite, created)]))).toEqual([
        'applied',
      ]);
      const answer = await push('a', [remove('products', id, deletion, created)]);
      expect(answer.results[0]).toMatchObject({
        status: 'stale',
        current: { op: 'upsert', updatedAt: rewrite },
      });
      expect(await store.conflicts('products', id)).toMatchObject([
        {
          column: null,
          winner: { op: 'upsert' },
          loser: { op: 'delete', updatedAt: deletion },
          loserDeviceId: 'a',
        },
      ]);
    });

    it("adds a delete's counter deltas to the row a later whole-row write kept, and ignores other values", async () => {
      const { id, created } = await createdProduct({ stock: 10 });
      const [deletion, rewrite] = [stamp('nodeA'), stamp('nodeB')];
      const whole = { ...product({ name: 'Rewritten' }), stock: { delta: 5 } };
      expect(statuses(await push('b', [upsert('products', id, whole, rewrite, created)]))).toEqual([
        'applied',
      ]);
      const wrong = await push('a', [
        { ...remove('products', id, deletion, created), values: { name: 'X' } },
      ]);
      // Values other than counter deltas are ignored, as a delete's values always were.
      expect(wrong.results[0]).toMatchObject({
        status: 'stale',
        current: { values: { name: 'Rewritten', stock: 15 } },
      });
      const carried = { ...remove('products', id, deletion, created), values: { stock: { delta: -3 } } };
      const pushId = randomUUID();
      const answer = await push('a', [carried], pushId);
      expect(answer.results[0]).toMatchObject({
        status: 'stale',
        current: { op: 'upsert', updatedAt: rewrite, values: { stock: 12 } },
      });
      // The same push again adds nothing.
      expect(await push('a', [carried], pushId)).toEqual(answer);
      expect((await rowOf('products', id))?.values).toMatchObject({ name: 'Rewritten', stock: 12 });
    });

    it('lets any write set a column the stored row lacks (a column added to the schema later)', async () => {
      const id = randomUUID();
      const [olderWrite, rowStamp] = [stamp('nodeA'), stamp('nodeB')];
      // A row stored before its table had `active`, written last by B.
      const { active: _active, ...withoutActive } = product();
      await store.push(async (tx) => {
        await tx.writeRows([
          {
            table: 'products',
            id,
            values: withoutActive,
            updatedAt: rowStamp,
            deviceId: 'b',
            stamps: null,
            previous: undefined,
            scope: '',
            uniqueValues: [],
          },
        ]);
      });
      const answer = await push('a', [upsert('products', id, { active: 0 }, olderWrite)]);
      expect(answer.results).toEqual([{ table: 'products', id, status: 'applied' }]);
      expect((await rowOf('products', id))?.values?.active).toBe(0);
      expect(await store.conflicts('products', id)).toEqual([]);
    });

    it('accepts a protocol-1 push: a whole row without base sets every column it carries', async () => {
      const { id } = await createdProduct({ name: 'Apple', stock: 10 });
      const whole = { ...(await rowOf('products', id))?.values, name: 'Pear', stock: { delta: -2 } };
      const answer = await push('b', [upsert('products', id, whole, stamp('nodeB'))]);
      expect(answer.results).toEqual([{ table: 'products', id, status: 'applied' }]);
      expect((await rowOf('products', id))?.values).toMatchObject({ name: 'Pear', stock: 8 });
      expect((await rowOf('products', id))?.stamps).toBeNull();
      // Without base, overriding another device's value is a conflict; the columns it left as they were are not.
      expect((await store.conflicts('products', id)).map((conflict) => conflict.column)).toEqual(['name']);
    });

    it("lets a device's partial write follow a sync job's whole-row write, column by column", async () => {
      const id = randomUUID();
      const beforeJob = stamp('nodeA');
      await writeAsJob(opened, 'products', id, product({ name: 'From job' }));
      const written = await rowOf('products', id);
      expect(written?.deviceId).toBeNull();
      expect(written?.stamps).toBeNull();
      skipStamps(10);

      const edit = await push('a', [
        upsert('products', id, { price_cents: 99 }, stamp('nodeA'), written?.updatedAt),
      ]);
      expect(edit.results).toEqual([{ table: 'products', id, status: 'applied' }]);
      expect((await rowOf('products', id))?.values).toMatchObject({ name: 'From job', price_cents: 99 });
      expect((await rowOf('products', id))?.stamps?.name).toEqual([written?.updatedAt, null]);
      // A write made before the job's, sent late, loses to it.
      const late = await push('b', [upsert('products', id, { name: 'Too late' }, beforeJob)]);
      expect(late.results[0]).toMatchObject({ status: 'stale', current: { values: { name: 'From job' } } });
      expect(await store.conflicts('products', id)).toMatchObject([
        { column: 'name', winnerDeviceId: null, loserDeviceId: 'b', loser: { values: { name: 'Too late' } } },
      ]);
    });
  });
}

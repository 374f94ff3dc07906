import { createHash, randomUUID } from 'node:crypto';
import {
  addToChecksum,
  checksumTerm,
  formatChecksum,
  formatStamp,
  type RowValues,
  type StoredChange,
  type TableChecksum,
} from '@tillsync/protocol';
import type { Storage, TenantSyncStore } from '@tillsync/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rowKey, type ColumnStamps, type PulledRow } from '../src/storage/sync-store.js';

/** What a store under test gives the suite: fresh storage with two tenants made through its account store. */
export interface OpenedStore {
  readonly storage: Storage;
  readonly tenantId: string;
  readonly otherTenantId: string;
  cleanup(): Promise<void>;
}

/** A row state to write, as a push would hand it to `writeRows`. */
interface RowState {
  readonly table: string;
  readonly id: string;
  /** Null writes a tombstone. */
  readonly values: RowValues | null;
  readonly updatedAt: string;
  /** Unique columns: the values the row holds while it is live. */
  readonly unique?: Readonly<Record<string, string | number>>;
  readonly deviceId?: string | null;
  /** The columns last written before `updatedAt`. */
  readonly stamps?: ColumnStamps | null;
}

const BASE_MS = Date.parse('2026-11-22T10:00:00.000Z');
let stampCounter = 0;

/** Stamps that grow through the whole run, so every write is newer than the one before it. */
function nextStamp(nodeId = 'node1'): string {
  stampCounter += 1;
  return formatStamp({ ms: BASE_MS + stampCounter, counter: 0, nodeId });
}

/** Writes states in one push transaction, with the stored states they replace read in the same transaction. */
export async function write(store: TenantSyncStore, states: readonly RowState[]): Promise<void> {
  await store.push(async (tx) => {
    const previous = await tx.getRows(states);
    await tx.writeRows(
      states.map((state) => ({
        table: state.table,
        id: state.id,
        values: state.values,
        updatedAt: state.updatedAt,
        deviceId: state.deviceId === undefined ? 'device-1' : state.deviceId,
        stamps: state.stamps ?? null,
        previous: previous.get(rowKey(state.table, state.id)),
        scope: '',
        uniqueValues:
          state.values === null
            ? []
            : Object.entries(state.unique ?? {}).map(([column, value]) => ({
                column,
                value: JSON.stringify(value),
              })),
      })),
    );
  });
}

function product(id: string, sku: string, extra: RowValues = {}): RowState {
  return {
    table: 'products',
    id,
    values: { sku, name: `Product ${sku}`, price_cents: 100, stock: 5, ...extra },
    updatedAt: nextStamp(),
    unique: { sku },
  };
}

export function row(table: string, id: string, values: RowValues | null): RowState {
  return { table, id, values, updatedAt: nextStamp() };
}

/** A pulled row with its values parsed: null for a tombstone. */
interface PulledState {
  readonly table: string;
  readonly id: string;
  readonly values: RowValues | null;
  readonly updatedAt: string;
  readonly seq: number;
}

function parsed(rows: readonly PulledRow[]): PulledState[] {
  return rows.map((pulled) => ({
    table: pulled.table,
    id: pulled.id,
    values: pulled.valuesJson === null ? null : (JSON.parse(pulled.valuesJson) as RowValues),
    updatedAt: pulled.updatedAt,
    seq: pulled.seq,
  }));
}

/** Every page from `sinceSeq` to the end, checking the paging rules on the way. */
async function pullEverything(
  store: TenantSyncStore,
  sinceSeq: number,
  limit: number,
): Promise<{
  rows: PulledState[];
  pages: number;
  cursorSeq: number;
  checksums: Record<string, TableChecksum>;
}> {
  const rows: PulledState[] = [];
  let cursorSeq = sinceSeq;
  let snapshotFloor = 0;
  for (let pages = 1; pages < 10_000; pages++) {
    const page = await store.pull(cursorSeq, limit, snapshotFloor);
    if (page.resyncRequired) throw new Error(`pull(${cursorSeq}) asked for a resync`);
    expect(page.rows.length).toBeLessThanOrEqual(limit);
    const seqs = page.rows.map((stored) => stored.seq);
    expect(seqs, 'a page is in sequence order').toEqual([...seqs].sort((a, b) => a - b));
    if (seqs.length > 0) expect(seqs[0]).toBeGreaterThan(cursorSeq);
    rows.push(...parsed(page.rows));
    if (page.hasMore) {
      expect(page.rows.length).toBe(limit);
      expect(page.cursorSeq).toBe(seqs[seqs.length - 1]);
    } else {
      expect(page.checksums, 'the last page carries checksums').toBeDefined();
      expect(page.cursorSeq).toBeGreaterThanOrEqual(seqs[seqs.length - 1] ?? cursorSeq);
      return { rows, pages, cursorSeq: page.cursorSeq, checksums: { ...page.checksums } };
    }
    cursorSeq = page.cursorSeq;
    snapshotFloor = page.snapshotFloor;
  }
  throw new Error('paging did not end');
}

/** Checksums recomputed from scratch over live rows, leaving out tables without live rows. */
function recompute(rows: readonly PulledState[]): Record<string, TableChecksum> {
  const sums = new Map<string, { count: number; sum: bigint }>();
  for (const stored of rows) {
    if (stored.values === null) continue;
    const entry = sums.get(stored.table) ?? { count: 0, sum: 0n };
    entry.count += 1;
    entry.sum = addToChecksum(entry.sum, checksumTerm(stored.id, stored.updatedAt));
    sums.set(stored.table, entry);
  }
  return Object.fromEntries(
    [...sums].map(([table, { count, sum }]) => [table, { count, sum: formatChecksum(sum) }]),
  );
}

/** Drops tables whose count is 0: a store may keep an empty table's entry or not. */
export function nonEmpty(checksums: Readonly<Record<string, TableChecksum>>): Record<string, TableChecksum> {
  return Object.fromEntries(Object.entries(checksums).filter(([, checksum]) => checksum.count > 0));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const fakeHash = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * The behaviour every implementation of the server's storage must have (`SyncStore`, `TenantSyncStore`,
 * `PushTransaction`, `AccountStore`), tested through those interfaces only, so the same suite runs on
 * SQLite and PostgreSQL.
 *
 * @example
 * describeSyncStoreConformance('SQLite', async () => { ...; return { storage, tenantId, otherTenantId, cleanup } });
 */
/** A store opened for the suite with the two tenants it needs: a shop and another shop. */
export async function withTwoTenants(
  storage: Storage,
  cleanup: () => Promise<void>,
): Promise<{ storage: Storage; tenantId: string; otherTenantId: string; cleanup(): Promise<void> }> {
  const tenant = await storage.accounts.createTenant({
    name: 'Shop',
    email: 'owner@shop.test',
    passwordHash: 'x',
  });
  const other = await storage.accounts.createTenant({
    name: 'Other',
    email: 'owner@other.test',
    passwordHash: 'x',
  });
  return { storage, tenantId: tenant.tenantId, otherTenantId: other.tenantId, cleanup };
}

export function describeSyncStoreConformance(name: string, open: () => Promise<OpenedStore>): void {
  describe(`${name} storage conformance`, () => {
    let opened: OpenedStore;
    let store: TenantSyncStore;
    let otherStore: TenantSyncStore;

    beforeEach(async () => {
      opened = await open();
      store = opened.storage.sync.forTenant(opened.tenantId);
      otherStore = opened.storage.sync.forTenant(opened.otherTenantId);
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    describe('writeRows and pull', () => {
      it('hands out increasing sequence numbers in the order rows are written', async () => {
        const [a, b, c, d] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
        await write(store, [row('categories', a, { name: 'a' }), row('categories', b, { name: 'b' })]);
        await write(store, [row('categories', c, { name: 'c' })]);
        await write(store, [row('categories', d, { name: 'd' }), row('categories', a, { name: 'a2' })]);

        const page = await store.pull(0, 100);
        if (page.resyncRequired) throw new Error('unexpected resync');
        expect(page.rows.map((stored) => stored.id)).toEqual([b, c, d, a]);
        const seqs = page.rows.map((stored) => stored.seq);
        for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] ?? Infinity);
        expect(parsed(page.rows)[3]?.values).toEqual({ name: 'a2' });
        expect(page.cursorSeq).toBe(seqs[3]);

        const stored = await store.push((tx) => tx.getRows([{ table: 'categories', id: a }]));
        expect(stored.get(rowKey('categories', a))).toMatchObject({ seq: seqs[3], values: { name: 'a2' } });
      });

      it('writes thousands of rows in one writeRows, new and replacing ones mixed, exactly as given', async () => {
        const first = Array.from({ length: 1500 }, (_, index) =>
          row('categories', randomUUID(), { name: `old ${index}` }),
        );
        await write(store, first);
        // Every other stored row is replaced (every sixth by a tombstone) between rows the store never held;
        // values keep quotes, backslashes, non-ASCII text and numbers as they were sent.
        const second = first.flatMap((stored, index) => {
          if (index % 2 === 1) return [row('categories', randomUUID(), { name: `new "${index}" \\ ü 🍎` })];
          const values = index % 6 === 0 ? null : { name: `renamed ${index}`, rank: index / 4 };
          return [
            row('categories', stored.id, values),
            row('customers', randomUUID(), { name: `c${index}` }),
          ];
        });
        await write(store, second);

        const pulled = await pullEverything(store, 0, 700);
        const replacedIds = new Set(second.map((state) => state.id));
        const expected = [...first.filter((state) => !replacedIds.has(state.id)), ...second];
        expect(
          pulled.rows.map(({ table, id, values, updatedAt }) => ({ table, id, values, updatedAt })),
        ).toEqual(expected.map(({ table, id, values, updatedAt }) => ({ table, id, values, updatedAt })));
        expect(nonEmpty(pulled.checksums)).toEqual(recompute(pulled.rows));

        const found = await store.push((tx) => tx.getRows(second));
        expect(found.size).toBe(second.length);
        for (const state of second)
          expect(found.get(rowKey(state.table, state.id))).toMatchObject({
            values: state.values,
            updatedAt: state.updatedAt,
            deviceId: 'device-1',
          });
      });

      it('stores values, stamp and device, and getRows finds only the rows asked for', async () => {
        const id = randomUUID();
        const stamp = nextStamp('tillA');
        await write(store, [
          {
            table: 'products',
            id,
            values: { sku: 'X', price_cents: 5, active: null },
            updatedAt: stamp,
            deviceId: 'dev-9',
          },
          {
            table: 'categories',
            id: randomUUID(),
            values: { name: 'n' },
            updatedAt: nextStamp(),
            deviceId: null,
          },
        ]);
        const found = await store.push((tx) =>
          tx.getRows([
            { table: 'products', id },
            { table: 'categories', id },
            { table: 'products', id: randomUUID() },
          ]),
        );
        expect([...found.keys()]).toEqual([rowKey('products', id)]);
        expect(found.get(rowKey('products', id))).toMatchObject({
          table: 'products',
          id,
          values: { sku: 'X', price_cents: 5, active: null },
          updatedAt: stamp,
          deviceId: 'dev-9',
        });
      });

      it('pages in sequence order with limit, hasMore and cursorSeq, each row once', async () => {
        const ids = Array.from({ length: 23 }, () => randomUUID());
        for (let i = 0; i < ids.length; i += 5) {
          await write(
            store,
            ids.slice(i, i + 5).map((id) => row('customers', id, { name: id })),
          );
        }
        // Rewriting rows moves them to the end; they must still come once, in their latest state.
        await write(store, [
          row('customers', ids[0] ?? '', { name: 'renamed' }),
          row('customers', ids[7] ?? '', null),
        ]);

        const everything = await pullEverything(store, 0, 4);
        expect(everything.pages).toBe(6);
        expect(everything.rows.map((stored) => stored.id).sort()).toEqual([...ids].sort());
        expect(everything.rows.at(-2)).toMatchObject({ id: ids[0], values: { name: 'renamed' } });
        expect(everything.rows.at(-1)).toMatchObject({ id: ids[7], values: null });

        const after = await store.pull(everything.cursorSeq, 4);
        expect(after).toMatchObject({
          resyncRequired: false,
          rows: [],
          hasMore: false,
          cursorSeq: everything.cursorSeq,
        });

        const [first] = ids;
        await write(store, [row('customers', first ?? '', { name: 'later' })]);
        const later = await pullEverything(store, everything.cursorSeq, 4);
        expect(later.rows.map((stored) => stored.id)).toEqual([first]);
        expect(later.cursorSeq).toBeGreaterThan(everything.cursorSeq);
      });

      it('pulls tombstones with null values and does not count them in checksums', async () => {
        const [keep, gone] = [randomUUID(), randomUUID()];
        await write(store, [
          row('categories', keep, { name: 'keep' }),
          row('categories', gone, { name: 'gone' }),
        ]);
        await write(store, [row('categories', gone, null)]);
        const everything = await pullEverything(store, 0, 100);
        expect(everything.rows.find((stored) => stored.id === gone)).toMatchObject({ values: null });
        expect(everything.checksums.categories).toEqual(recompute(everything.rows).categories);
        expect(everything.checksums.categories?.count).toBe(1);
      });

      it('keeps checksums equal to a recomputation over the live rows through inserts, updates and deletes', async () => {
        const ids = Array.from({ length: 12 }, () => randomUUID());
        await write(
          store,
          ids.map((id, i) => row(i % 2 ? 'customers' : 'categories', id, { name: `n${i}` })),
        );
        await write(store, [
          row('customers', ids[1] ?? '', { name: 'updated' }),
          row('categories', ids[2] ?? '', null),
          row('customers', ids[3] ?? '', null),
        ]);
        // Deleted, then back again.
        await write(store, [row('categories', ids[2] ?? '', { name: 'back' })]);
        await write(store, [row('categories', ids[4] ?? '', null)]);

        const everything = await pullEverything(store, 0, 5);
        const expected = recompute(everything.rows);
        expect(expected.categories?.count).toBe(5);
        expect(expected.customers?.count).toBe(5);
        expect(nonEmpty(everything.checksums)).toEqual(expected);
        expect(nonEmpty(await store.checksums())).toEqual(expected);
      });

      it('reads the last page and its checksums from one state', async () => {
        const id = randomUUID();
        await write(store, [row('categories', id, { name: 'x' })]);
        const page = await store.pull(0, 10);
        if (page.resyncRequired) throw new Error('unexpected resync');
        expect(page.hasMore).toBe(false);
        expect(nonEmpty(page.checksums ?? {})).toEqual(recompute(parsed(page.rows)));
      });
    });

    describe('unique values', () => {
      it('finds the row holding a value, and releases it when the row changes or is deleted', async () => {
        const [a, b] = [randomUUID(), randomUUID()];
        await write(store, [product(a, 'A-1'), product(b, 'B-1')]);
        const holders = (values: string[]): Promise<Map<string, string>> =>
          store.push((tx) =>
            tx.findUniqueHolders(
              'products',
              'sku',
              values.map((value) => JSON.stringify(value)),
            ),
          );

        expect(await holders(['A-1', 'B-1', 'C-1'])).toEqual(
          new Map([
            [JSON.stringify('A-1'), a],
            [JSON.stringify('B-1'), b],
          ]),
        );
        await write(store, [product(a, 'A-2')]);
        expect(await holders(['A-1', 'A-2'])).toEqual(new Map([[JSON.stringify('A-2'), a]]));
        await write(store, [row('products', b, null)]);
        expect(await holders(['B-1'])).toEqual(new Map());
        // A freed value can be taken by another row.
        const c = randomUUID();
        await write(store, [product(c, 'B-1')]);
        expect(await holders(['B-1'])).toEqual(new Map([[JSON.stringify('B-1'), c]]));
      });

      it('lets two rows swap their values in one writeRows', async () => {
        const [a, b] = [randomUUID(), randomUUID()];
        await write(store, [product(a, 'SWAP-A'), product(b, 'SWAP-B')]);
        await write(store, [product(a, 'SWAP-B'), product(b, 'SWAP-A')]);
        const found = await store.push((tx) =>
          tx.findUniqueHolders('products', 'sku', [JSON.stringify('SWAP-A'), JSON.stringify('SWAP-B')]),
        );
        expect(found).toEqual(
          new Map([
            [JSON.stringify('SWAP-A'), b],
            [JSON.stringify('SWAP-B'), a],
          ]),
        );
      });

      it('keeps values of different types, columns and tables apart', async () => {
        const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
        await write(store, [
          product(a, '1'),
          { ...product(b, 'unused'), unique: { sku: 1 } },
          { table: 'daily_sales', id: c, values: { day: '1' }, updatedAt: nextStamp(), unique: { day: '1' } },
        ]);
        const found = await store.push(async (tx) => ({
          text: await tx.findUniqueHolders('products', 'sku', [JSON.stringify('1')]),
          number: await tx.findUniqueHolders('products', 'sku', [JSON.stringify(1)]),
          otherColumn: await tx.findUniqueHolders('products', 'name', [JSON.stringify('1')]),
          otherTable: await tx.findUniqueHolders('daily_sales', 'day', [JSON.stringify('1')]),
        }));
        expect(found).toEqual({
          text: new Map([[JSON.stringify('1'), a]]),
          number: new Map([[JSON.stringify(1), b]]),
          otherColumn: new Map(),
          otherTable: new Map([[JSON.stringify('1'), c]]),
        });
      });
    });

    describe('push transactions', () => {
      it('saves push answers per device', async () => {
        await store.push((tx) => tx.savePushAnswer('device-a', 'push-1', '{"results":[1]}'));
        const found = await store.push(async (tx) => ({
          same: await tx.findPushAnswers('device-a', 'push-1'),
          otherDevice: await tx.findPushAnswers('device-b', 'push-1'),
          otherPush: await tx.findPushAnswers('device-a', 'push-2'),
        }));
        // 'device-a' is no device of the tenant's, so only it finds its answer.
        expect(found).toEqual({
          same: [{ deviceId: 'device-a', answer: '{"results":[1]}' }],
          otherDevice: [],
          otherPush: [],
        });

        await sleep(2);
        expect(await opened.storage.sync.purgePushAnswers(Date.now() - 60_000)).toBe(0);
        expect(await opened.storage.sync.purgePushAnswers(Date.now() + 1)).toBe(1);
        expect(await store.push((tx) => tx.findPushAnswers('device-a', 'push-1'))).toEqual([]);
      });

      it('writes nothing when the work throws: no rows, no sequence numbers, no unique values, no answer', async () => {
        const before = randomUUID();
        await write(store, [product(before, 'KEEP')]);
        const first = await pullEverything(store, 0, 100);

        const failed = randomUUID();
        await expect(
          store.push(async (tx) => {
            await tx.writeRows([
              {
                table: 'products',
                id: failed,
                values: { sku: 'LOST' },
                updatedAt: nextStamp(),
                deviceId: 'device-1',
                stamps: null,
                previous: undefined,
                scope: '',
                uniqueValues: [{ column: 'sku', value: JSON.stringify('LOST') }],
              },
            ]);
            await tx.addConflicts([
              {
                table: 'products',
                id: failed,
                column: null,
                winner: { table: 'products', id: failed, op: 'delete', updatedAt: nextStamp() },
                loser: { table: 'products', id: failed, op: 'delete', updatedAt: nextStamp() },
                winnerDeviceId: null,
                loserDeviceId: null,
              },
            ]);
            await tx.savePushAnswer('device-1', 'failed-push', '{}');
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');

        const after = await store.pull(first.cursorSeq, 100);
        expect(after).toMatchObject({ resyncRequired: false, rows: [], cursorSeq: first.cursorSeq });
        expect(nonEmpty(await store.checksums())).toEqual(first.checksums);
        const found = await store.push(async (tx) => ({
          rows: await tx.getRows([{ table: 'products', id: failed }]),
          holders: await tx.findUniqueHolders('products', 'sku', [JSON.stringify('LOST')]),
          answers: await tx.findPushAnswers('device-1', 'failed-push'),
        }));
        expect(found).toEqual({ rows: new Map(), holders: new Map(), answers: [] });
        expect(await store.conflicts('products', failed)).toEqual([]);

        // The sequence did not move: the next write takes the number after the last stored one.
        const next = randomUUID();
        await write(store, [row('categories', next, { name: 'next' })]);
        const page = await store.pull(first.cursorSeq, 100);
        if (page.resyncRequired) throw new Error('unexpected resync');
        expect(page.rows.map((stored) => stored.seq)).toEqual([first.cursorSeq + 1]);
      });

      it('records conflicts and returns them for their row, oldest first', async () => {
        const id = randomUUID();
        const change = (updatedAt: string, name: string): StoredChange => ({
          table: 'categories',
          id,
          op: 'upsert',
          updatedAt,
          values: { name },
        });
        const [s1, s2, s3] = [nextStamp(), nextStamp(), nextStamp()];
        const first = {
          table: 'categories',
          id,
          column: 'name',
          winner: change(s2, 'two'),
          loser: change(s1, 'one'),
          winnerDeviceId: 'b',
          loserDeviceId: 'a',
        };
        const second = {
          table: 'categories',
          id,
          column: null,
          winner: change(s3, 'three'),
          loser: change(s2, 'two'),
          winnerDeviceId: 'a',
          loserDeviceId: null,
        };
        await store.push((tx) => tx.addConflicts([first]));
        await sleep(2);
        await store.push((tx) => tx.addConflicts([second]));
        const conflicts = await store.conflicts('categories', id);
        expect(conflicts).toEqual([first, second]);
        expect(await store.conflicts('customers', id)).toEqual([]);
        expect(await otherStore.conflicts('categories', id)).toEqual([]);
      });
    });

    describe('column stamps and references', () => {
      it('keeps the stamps of the columns written before the row, and none for a tombstone', async () => {
        const id = randomUUID();
        const [older, newer] = [nextStamp('nodeA'), nextStamp('nodeB')];
        await write(store, [
          {
            ...row('categories', id, { name: 'Fruit' }),
            updatedAt: newer,
            stamps: { name: [older, null] },
          },
        ]);
        const read = await store.readRows([{ table: 'categories', id }]);
        expect(read.get(rowKey('categories', id))).toMatchObject({
          updatedAt: newer,
          stamps: { name: [older, null] },
        });
        // A row written whole lists none; so does a tombstone, whatever it was given.
        await write(store, [{ ...row('categories', id, null), stamps: { name: [older, 'a'] } }]);
        await store.push(async (tx) => {
          expect(
            (await tx.getRows([{ table: 'categories', id }])).get(rowKey('categories', id))?.stamps,
          ).toBeNull();
        });
      });

      it('finds the live rows of a table that hold given ids in a column, in its own tenant only', async () => {
        const [fruit, veg, apple, pear, carrot, gone] = Array.from({ length: 6 }, (): string =>
          randomUUID(),
        ) as [string, string, string, string, string, string];
        await write(store, [
          product(apple, 'REF-1', { category_id: fruit }),
          product(pear, 'REF-2', { category_id: fruit }),
          product(carrot, 'REF-3', { category_id: veg }),
          product(gone, 'REF-4', { category_id: fruit }),
        ]);
        await write(store, [row('products', gone, null)]);
        await write(otherStore, [product(randomUUID(), 'REF-5', { category_id: fruit })]);
        await store.push(async (tx) => {
          const found = await tx.findReferencingRows('products', 'category_id', [fruit, randomUUID()]);
          expect(found.sort((a, b) => a.id.localeCompare(b.id))).toEqual(
            [
              { id: apple, target: fruit, scope: '' },
              { id: pear, target: fruit, scope: '' },
            ].sort((a, b) => a.id.localeCompare(b.id)),
          );
          expect(await tx.findReferencingRows('categories', 'name', [])).toEqual([]);
        });
      });
    });

    describe('tenants', () => {
      it('keeps tenants apart: the same row ids in two tenants, pulls and lookups never cross', async () => {
        const [shared, onlyMine] = [randomUUID(), randomUUID()];
        await write(store, [
          product(shared, 'SAME-SKU', { name: 'mine' }),
          row('categories', onlyMine, { name: 'mine' }),
        ]);
        await write(otherStore, [product(shared, 'SAME-SKU', { name: 'theirs' })]);
        await write(otherStore, [row('products', shared, null)]);

        const mine = await pullEverything(store, 0, 1);
        const theirs = await pullEverything(otherStore, 0, 1);
        expect(mine.rows.map((stored) => [stored.id, stored.values?.name])).toEqual([
          [shared, 'mine'],
          [onlyMine, 'mine'],
        ]);
        expect(theirs.rows.map((stored) => [stored.id, stored.values])).toEqual([[shared, null]]);
        expect(nonEmpty(mine.checksums)).toEqual(recompute(mine.rows));
        expect(nonEmpty(theirs.checksums)).toEqual({});

        const lookups = await otherStore.push(async (tx) => ({
          rows: await tx.getRows([
            { table: 'products', id: shared },
            { table: 'categories', id: onlyMine },
          ]),
          holders: await tx.findUniqueHolders('products', 'sku', [JSON.stringify('SAME-SKU')]),
        }));
        expect([...lookups.rows.values()].map((stored) => stored.values)).toEqual([null]);
        expect(lookups.holders.size).toBe(0);
        const myHolders = await store.push((tx) =>
          tx.findUniqueHolders('products', 'sku', [JSON.stringify('SAME-SKU')]),
        );
        expect(myHolders).toEqual(new Map([[JSON.stringify('SAME-SKU'), shared]]));
      });

      it('purges old tombstones; an older cursor must resync while a fresh snapshot still works', async () => {
        const [a, b, c, d] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
        await write(store, [row('categories', a, { name: 'a' }), row('categories', b, { name: 'b' })]);
        const beforeDelete = (await pullEverything(store, 0, 100)).cursorSeq;
        await write(store, [row('categories', a, null)]);
        const afterDelete = (await pullEverything(store, 0, 100)).cursorSeq;
        await write(otherStore, [row('categories', d, { name: 'd' })]);
        await write(otherStore, [row('categories', d, null)]);
        await sleep(5);
        const cutoff = Date.now();
        await sleep(5);
        // Deleted after the cutoff: kept.
        await write(store, [row('categories', c, { name: 'c' })]);
        await write(store, [row('categories', c, null)]);

        const purged = await opened.storage.sync.purgeTombstones(cutoff);
        expect(purged).toBe(2);

        expect(await store.pull(beforeDelete, 100)).toEqual({ resyncRequired: true });
        const fromDelete = await store.pull(afterDelete, 100);
        expect(fromDelete.resyncRequired).toBe(false);

        const snapshot = await pullEverything(store, 0, 1);
        expect(snapshot.rows.map((stored) => [stored.id, stored.values])).toEqual([
          [b, { name: 'b' }],
          [c, null],
        ]);
        expect(nonEmpty(snapshot.checksums)).toEqual(recompute(snapshot.rows));
        // A cursor from the fresh snapshot goes on working.
        expect((await store.pull(snapshot.cursorSeq, 10)).resyncRequired).toBe(false);

        // The other tenant's tombstone went too, and only its own old cursors must resync.
        expect(await otherStore.pull(1, 10)).toEqual({ resyncRequired: true });
        expect((await otherStore.pull(0, 10)).resyncRequired).toBe(false);

        // Nothing left that old: a second purge removes nothing and changes nothing.
        expect(await opened.storage.sync.purgeTombstones(cutoff)).toBe(0);
        expect(await store.pull(beforeDelete, 100)).toEqual({ resyncRequired: true });
      });

      it('asks a snapshot to resync when a purge during it takes a tombstone of a row it delivered', async () => {
        const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
        await write(store, [row('categories', a, { name: 'a' }), row('categories', b, { name: 'b' })]);
        await write(store, [row('categories', c, { name: 'c' })]);
        const first = await store.pull(0, 1);
        if (first.resyncRequired) throw new Error('a fresh snapshot was asked to resync');
        expect(parsed(first.rows).map((pulled) => pulled.id)).toEqual([a]);

        await write(store, [row('categories', a, null)]);
        await sleep(2);
        expect(await opened.storage.sync.purgeTombstones(Date.now() + 1)).toBe(1);
        expect(await store.pull(first.cursorSeq, 1, first.snapshotFloor)).toEqual({ resyncRequired: true });
        // Started afresh, the snapshot completes without the deleted row, in pages of one.
        const again = await pullEverything(store, 0, 1);
        expect(again.rows.map((pulled) => pulled.id)).toEqual([b, c]);
      });

      it('never forces a resync on a tenant whose tombstones were not purged', async () => {
        const a = randomUUID();
        await write(store, [row('categories', a, { name: 'a' })]);
        const cursorSeq = (await pullEverything(store, 0, 10)).cursorSeq;
        await write(store, [row('categories', a, { name: 'a2' })]);
        await write(otherStore, [row('categories', a, null)]);
        await sleep(2);
        expect(await opened.storage.sync.purgeTombstones(Date.now() + 1)).toBe(1);
        const page = await store.pull(cursorSeq, 10);
        if (page.resyncRequired) throw new Error('a tenant without purged tombstones was asked to resync');
        expect(parsed(page.rows)).toMatchObject([{ id: a, values: { name: 'a2' } }]);
      });
    });

    describe('accounts', () => {
      const tokens = (label: string, expiresAt: number) => ({
        accessHash: fakeHash(`${label}-access`),
        accessExpiresAt: expiresAt,
        refreshHash: fakeHash(`${label}-refresh`),
        refreshExpiresAt: expiresAt + 1_000_000,
      });

      async function pairedDevice(tenantId: string, label: string, now = Date.now()): Promise<string> {
        const accounts = opened.storage.accounts;
        await accounts.createPairingCode({
          codeHash: fakeHash(`code-${label}`),
          tenantId,
          expiresAt: now + 60_000,
        });
        const deviceId = randomUUID();
        const paired = await accounts.pairDevice({
          codeHash: fakeHash(`code-${label}`),
          now,
          deviceId,
          name: `Till ${label}`,
          platform: 'linux',
          appVersion: '1.0.0',
          tokens: tokens(label, now + 3_600_000),
        });
        expect(paired).toEqual({ tenantId, storeId: expect.any(String) as string });
        return deviceId;
      }

      it('creates tenants and finds their owner by email, whatever its case', async () => {
        const accounts = opened.storage.accounts;
        const before = await accounts.countTenants();
        const created = await accounts.createTenant({
          name: 'Corner shop',
          email: 'Mixed.Case@Example.COM',
          passwordHash: 'h1',
        });
        expect(await accounts.countTenants()).toBe(before + 1);
        expect(await accounts.findOwnerByEmail('mixed.case@example.com')).toEqual({
          id: created.ownerId,
          tenantId: created.tenantId,
          email: 'mixed.case@example.com',
          passwordHash: 'h1',
        });
        expect((await accounts.findOwnerByEmail('MIXED.CASE@EXAMPLE.COM'))?.id).toBe(created.ownerId);
        expect(await accounts.findOwnerByEmail('nobody@example.com')).toBeNull();
        await expect(
          accounts.createTenant({ name: 'Copy', email: 'mixed.case@EXAMPLE.com', passwordHash: 'h2' }),
        ).rejects.toThrow();
        expect((await accounts.findOwnerByEmail('mixed.case@example.com'))?.passwordHash).toBe('h1');
      });

      it('keeps owner sessions until they are deleted', async () => {
        const accounts = opened.storage.accounts;
        const created = await accounts.createTenant({
          name: 'S',
          email: 'session@example.com',
          passwordHash: 'h',
        });
        const expiresAt = Date.now() + 1000;
        await accounts.createOwnerSession({
          tokenHash: 'session-1',
          ownerId: created.ownerId,
          tenantId: created.tenantId,
          expiresAt,
        });
        expect(await accounts.findOwnerSession('session-1')).toEqual({
          ownerId: created.ownerId,
          tenantId: created.tenantId,
          expiresAt,
        });
        expect(await accounts.findOwnerSession('session-2')).toBeNull();
        await accounts.deleteOwnerSession('session-1');
        expect(await accounts.findOwnerSession('session-1')).toBeNull();
      });

      it('spends a pairing code once, refuses an expired one and creates the device with its tokens', async () => {
        const accounts = opened.storage.accounts;
        const now = Date.now();
        const deviceId = await pairedDevice(opened.tenantId, 'once', now);
        // A new device named `name`, with tokens labelled `label`, from the code labelled `code`.
        const pairWith = (code: string, at: number, name: string, label: string): Promise<unknown> =>
          accounts.pairDevice({
            codeHash: fakeHash(`code-${code}`),
            now: at,
            deviceId: randomUUID(),
            name,
            platform: 'linux',
            appVersion: null,
            tokens: tokens(label, now + 3_600_000),
          });

        expect(await pairWith('once', now + 1, 'Second', 'second')).toBeNull();

        await accounts.createPairingCode({
          codeHash: fakeHash('code-old'),
          tenantId: opened.tenantId,
          expiresAt: now,
        });
        expect(await pairWith('old', now, 'Late', 'late')).toBeNull();
        expect(await pairWith('never-made', now, 'Nobody', 'nobody')).toBeNull();

        const devices = await accounts.listDevices(opened.tenantId);
        expect(devices).toHaveLength(1);
        expect(devices[0]).toMatchObject({
          id: deviceId,
          tenantId: opened.tenantId,
          name: 'Till once',
          platform: 'linux',
          appVersion: '1.0.0',
          pendingChanges: null,
          revokedAt: null,
        });
        expect(await accounts.findDeviceToken(fakeHash('second-access'))).toBeNull();
        expect(await accounts.findDeviceToken(fakeHash('once-access'))).toMatchObject({
          deviceId,
          tenantId: opened.tenantId,
          kind: 'access',
          expiresAt: now + 3_600_000,
          usedAt: null,
          deviceRevokedAt: null,
        });
        const refresh = await accounts.findDeviceToken(fakeHash('once-refresh'));
        expect(refresh).toMatchObject({
          deviceId,
          kind: 'refresh',
          expiresAt: now + 3_600_000 + 1_000_000,
          usedAt: null,
        });
      });

      it('rotates a refresh token once; the old pair stops working and the new pair stays in the family', async () => {
        const accounts = opened.storage.accounts;
        const deviceId = await pairedDevice(opened.tenantId, 'rot');
        const first = await accounts.findDeviceToken(fakeHash('rot-refresh'));
        if (!first) throw new Error('no refresh token');
        const rotate = (label: string, oldHash: string): Promise<boolean> =>
          accounts.rotateRefreshToken({
            oldHash,
            now: Date.now(),
            deviceId,
            tenantId: opened.tenantId,
            familyId: first.familyId,
            tokens: tokens(label, Date.now() + 3_600_000),
          });

        expect(await rotate('rot2', fakeHash('rot-refresh'))).toBe(true);
        expect(await rotate('rot3', fakeHash('rot-refresh'))).toBe(false);
        expect(await accounts.findDeviceToken(fakeHash('rot3-access'))).toBeNull();

        expect((await accounts.findDeviceToken(fakeHash('rot-refresh')))?.usedAt).toEqual(expect.any(Number));
        expect(await accounts.findDeviceToken(fakeHash('rot-access'))).toBeNull();
        expect(await accounts.findDeviceToken(fakeHash('rot2-access'))).toMatchObject({
          kind: 'access',
          familyId: first.familyId,
        });
        expect(await accounts.findDeviceToken(fakeHash('rot2-refresh'))).toMatchObject({
          kind: 'refresh',
          familyId: first.familyId,
          usedAt: null,
        });

        await accounts.revokeTokenFamily(first.familyId);
        expect(await accounts.findDeviceToken(fakeHash('rot2-access'))).toBeNull();
        expect(await accounts.findDeviceToken(fakeHash('rot2-refresh'))).toBeNull();
      });

      it('revokes, renames and touches a device, within its tenant only', async () => {
        const accounts = opened.storage.accounts;
        const deviceId = await pairedDevice(opened.tenantId, 'dev');
        const otherDevice = await pairedDevice(opened.otherTenantId, 'other');

        expect(await accounts.listDevices(opened.otherTenantId)).toEqual([
          expect.objectContaining({ id: otherDevice, tenantId: opened.otherTenantId }),
        ]);
        expect(await accounts.renameDevice(opened.otherTenantId, deviceId, 'Stolen')).toBe(false);
        expect(await accounts.revokeDevice(opened.otherTenantId, deviceId, '2100-11-22T10:00:00.000Z')).toBe(
          false,
        );
        expect(await accounts.revokeDevice(opened.tenantId, randomUUID(), '2100-11-22T10:00:00.000Z')).toBe(
          false,
        );

        expect(await accounts.renameDevice(opened.tenantId, deviceId, 'Front till')).toBe(true);
        // Calls dated after the pairing (now): "last seen" only moves forward.
        await accounts.touchDevice(deviceId, {
          at: '2100-11-22T11:00:00.000Z',
          appVersion: '2.0.0',
          pendingChanges: 4,
        });
        expect((await accounts.listDevices(opened.tenantId))[0]).toMatchObject({
          name: 'Front till',
          lastSeenAt: '2100-11-22T11:00:00.000Z',
          appVersion: '2.0.0',
          pendingChanges: 4,
        });
        // A call without the headers keeps what the device reported last.
        await accounts.touchDevice(deviceId, {
          at: '2100-11-22T12:00:00.000Z',
          appVersion: null,
          pendingChanges: null,
        });
        expect((await accounts.listDevices(opened.tenantId))[0]).toMatchObject({
          lastSeenAt: '2100-11-22T12:00:00.000Z',
          appVersion: '2.0.0',
          pendingChanges: 4,
        });

        expect(await accounts.revokeDevice(opened.tenantId, deviceId, '2100-11-22T13:00:00.000Z')).toBe(true);
        expect(await accounts.revokeDevice(opened.tenantId, deviceId, '2100-11-22T14:00:00.000Z')).toBe(true);
        expect((await accounts.listDevices(opened.tenantId))[0]?.revokedAt).toBe('2100-11-22T13:00:00.000Z');
        // Its tokens are still found, and say the device was revoked, so their next use can say so.
        expect(await accounts.findDeviceToken(fakeHash('dev-access'))).toMatchObject({
          deviceRevokedAt: '2100-11-22T13:00:00.000Z',
        });
        expect(await accounts.findDeviceToken(fakeHash('dev-refresh'))).toMatchObject({
          kind: 'refresh',
          deviceRevokedAt: '2100-11-22T13:00:00.000Z',
        });

        expect((await accounts.listDevices(opened.otherTenantId))[0]).toMatchObject({
          name: 'Till other',
          revokedAt: null,
        });
        expect((await accounts.findDeviceToken(fakeHash('other-access')))?.deviceRevokedAt).toBeNull();
      });

      it('touches many devices in one call, keeping what a device did not report', async () => {
        const accounts = opened.storage.accounts;
        const front = await pairedDevice(opened.tenantId, 'front');
        const back = await pairedDevice(opened.tenantId, 'back');
        await accounts.touchDevice(back, {
          at: '2100-11-22T09:00:00.000Z',
          appVersion: '1.0.0',
          pendingChanges: 2,
        });
        await accounts.touchDevices([
          { deviceId: front, at: '2100-11-22T10:00:00.000Z', appVersion: '2.0.0', pendingChanges: 0 },
          { deviceId: back, at: '2100-11-22T10:00:01.000Z', appVersion: null, pendingChanges: null },
          // A device removed meanwhile, or never there, is skipped.
          { deviceId: randomUUID(), at: '2100-11-22T10:00:02.000Z', appVersion: '9.9.9', pendingChanges: 1 },
        ]);
        await accounts.touchDevices([]);
        // An older call written late (noted by another process) does not move "last seen" back.
        await accounts.touchDevices([
          { deviceId: front, at: '2100-11-22T09:59:55.000Z', appVersion: '1.9.0', pendingChanges: 7 },
        ]);
        const devices = new Map(
          (await accounts.listDevices(opened.tenantId)).map((device) => [device.id, device]),
        );
        expect(devices.get(front)).toMatchObject({
          lastSeenAt: '2100-11-22T10:00:00.000Z',
          appVersion: '2.0.0',
          pendingChanges: 0,
        });
        expect(devices.get(back)).toMatchObject({
          lastSeenAt: '2100-11-22T10:00:01.000Z',
          appVersion: '1.0.0',
          pendingChanges: 2,
        });
      });
    });
  });
}

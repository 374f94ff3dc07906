import { randomUUID } from 'node:crypto';
import {
  addToChecksum,
  checksumTerm,
  formatChecksum,
  type RowValues,
  type TableChecksum,
} from '@tillsync/protocol';
import type { TenantSyncStore } from '@tillsync/server';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../test/simulation/src/random.js';
import { cursorAfter, pullAt } from '../src/pull-cursor.js';
import { nonEmpty, row, write, type OpenedStore } from './store-conformance.js';

/** The snapshot's table order, as a server passes its schema's; `notes` is a table it does not name. */
const TABLE_ORDER = ['categories', 'customers'];
const SEED = Number(process.env.TILLSYNC_SEED ?? Date.now() % 100_000);

/** A device's copy of the rows as the pages leave it: key → values and stamp. */
type Replica = Map<string, { table: string; id: string; values: RowValues; updatedAt: string }>;

const keyOf = (table: string, id: string): string => `${table}\u0000${id}`;

/** The snapshot's order of rows among the first ones: table rank, then key. */
function rankOf(table: string): number {
  const index = TABLE_ORDER.indexOf(table);
  return index === -1 ? TABLE_ORDER.length : index;
}
function compareKeys(a: { table: string; id: string }, b: { table: string; id: string }): number {
  const byTable = rankOf(a.table) - rankOf(b.table) || (a.table < b.table ? -1 : a.table > b.table ? 1 : 0);
  if (byTable !== 0) return byTable;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The tenant's live rows as the server holds them, read in sequence order from the start. */
async function liveRows(store: TenantSyncStore): Promise<Replica> {
  const live: Replica = new Map();
  const page = await store.pull(0, 1_000_000);
  if (page.resyncRequired) throw new Error('a pull from the start was asked to resync');
  for (const pulled of page.rows)
    if (pulled.valuesJson !== null)
      live.set(keyOf(pulled.table, pulled.id), {
        table: pulled.table,
        id: pulled.id,
        values: JSON.parse(pulled.valuesJson) as RowValues,
        updatedAt: pulled.updatedAt,
      });
  return live;
}

function checksumsOf(replica: Replica): Record<string, TableChecksum> {
  const sums = new Map<string, bigint>();
  const counts = new Map<string, number>();
  for (const held of replica.values()) {
    sums.set(held.table, addToChecksum(sums.get(held.table) ?? 0n, checksumTerm(held.id, held.updatedAt)));
    counts.set(held.table, (counts.get(held.table) ?? 0) + 1);
  }
  return Object.fromEntries(
    [...sums].map(([table, sum]) => [table, { count: counts.get(table) ?? 0, sum: formatChecksum(sum) }]),
  );
}

/**
 * A fresh snapshot in key order (PROTOCOL.md §2, `TenantSyncStore.pullSnapshot`) on every store: the rows
 * that existed when it began come table by table by key, then the changes made while it was paged; pushes
 * commit between its pages (edits and deletes of rows it delivered and of rows still to come, new rows),
 * and it is resumed from an earlier page's cursor as after a kill. Its end state is the server's.
 */
export function describeSnapshotConformance(name: string, open: () => Promise<OpenedStore>): void {
  describe(`${name}: a fresh snapshot by key (seed ${SEED}; replay with TILLSYNC_SEED=${SEED})`, () => {
    /** Runs `test` on a store opened for it alone, closed after. */
    async function withStore(
      test: (store: TenantSyncStore, opened: OpenedStore) => Promise<void>,
    ): Promise<void> {
      const opened = await open();
      try {
        await test(opened.storage.sync.forTenant(opened.tenantId), opened);
      } finally {
        await opened.cleanup();
      }
    }

    /** Writes random ids in random tables, then edits and deletes old rows in random order. */
    async function seedShop(store: TenantSyncStore, next: () => number, count: number): Promise<string[][]> {
      const tables = ['categories', 'customers', 'notes'];
      const made: string[][] = [];
      for (let push = 0; push < 4; push++) {
        const batch = Array.from({ length: count / 4 }, () => [
          tables[Math.floor(next() * tables.length)] ?? 'notes',
          randomUUID(),
        ]);
        await write(
          store,
          batch.map(([table = '', id = '']) => row(table, id, { name: `made ${id}` })),
        );
        made.push(...batch);
      }
      const pick = (share: number): string[][] => made.filter(() => next() < share);
      await write(
        store,
        pick(0.5).map(([table = '', id = '']) => row(table, id, { name: `edited ${id}` })),
      );
      await write(
        store,
        pick(0.1).map(([table = '', id = '']) => row(table, id, null)),
      );
      return made;
    }

    it('delivers the rows that existed by key, then the changes made meanwhile; resumed at any page', () =>
      withStore(async (store) => {
        for (let round = 0; round < 3; round++) {
          const random = new SeededRandom(SEED * 10 + round);
          const next = (): number => random.next();
          // Each round adds to the rows of the rounds before, and takes a fresh snapshot of them all.
          const made = await seedShop(store, next, 120);
          // Pages outrun the pushes between them (about 1.5 rows a page), so the snapshot ends.
          const limit = 4 + Math.floor(next() * 8);
          const replica: Replica = new Map();
          let cursor = '';
          /** Where the stored cursor stands: the start, among the rows stored up to the mark, or past them. */
          let resumeKey: { table: string; id: string } | null = null;
          let mark: number | null = null;
          let lastKey: { table: string; id: string } | null = null;
          let killed = 0;
          const killAt = Math.floor(next() * 6);
          let checksums: Readonly<Record<string, TableChecksum>> | undefined;
          for (let pages = 0; checksums === undefined; pages++) {
            if (pages > 1000) throw new Error('the snapshot did not end');
            const page = await pullAt(store, cursor, limit, { tableOrder: TABLE_ORDER });
            if (page === null) throw new Error(`the server refused its own cursor ${cursor}`);
            if (page.resyncRequired) throw new Error('a snapshot with no purge was asked to resync');
            expect(page.rows.length).toBeLessThanOrEqual(limit);
            const keys = new Set(page.rows.map((pulled) => keyOf(pulled.table, pulled.id)));
            expect(keys.size, 'a row at most once in a page').toBe(page.rows.length);
            // The first page notes the mark: the rows stored up to it come first, live ones only, by key.
            mark ??= page.hasMore && page.snapshot ? page.cursorSeq : (mark ?? Number.MAX_SAFE_INTEGER);
            for (const pulled of page.rows) {
              if (pulled.seq > mark) {
                lastKey = { table: '\uffff', id: '' };
                continue;
              }
              expect(
                pulled.valuesJson,
                'a snapshot hands out no tombstone of before it began',
              ).not.toBeNull();
              if (lastKey) expect(compareKeys(lastKey, pulled), 'the first rows come by key').toBeLessThan(0);
              lastKey = { table: pulled.table, id: pulled.id };
            }
            // A kill at a random page: half the page is applied, its cursor never stored; the device asks
            // again from the cursor it has.
            const kill = (pages === killAt || next() < 0.1) && page.rows.length > 0;
            const applied = kill ? page.rows.slice(0, Math.ceil(page.rows.length / 2)) : page.rows;
            for (const pulled of applied) {
              const key = keyOf(pulled.table, pulled.id);
              if (pulled.valuesJson === null) replica.delete(key);
              else
                replica.set(key, {
                  table: pulled.table,
                  id: pulled.id,
                  values: JSON.parse(pulled.valuesJson) as RowValues,
                  updatedAt: pulled.updatedAt,
                });
            }
            // Pushes commit between pages: edits and deletes of old rows (delivered or to come), new rows.
            if ((page.hasMore || kill) && next() < 0.5) {
              const some = made.filter(() => next() < 0.015);
              await write(store, [
                ...some.map(([table = '', id = '']) =>
                  row(table, id, next() < 0.3 ? null : { name: `again ${id} ${pages}` }),
                ),
                row('customers', randomUUID(), { name: `new ${pages}` }),
              ]);
            }
            if (kill) {
              killed += 1;
              // Resumed from the stored cursor: the order of the first rows starts again from its key.
              lastKey = resumeKey;
              // Killed before its first cursor was stored, the device begins a new snapshot, with a new mark.
              if (cursor === '') mark = null;
              continue;
            }
            if (!page.hasMore) checksums = page.checksums;
            cursor = cursorAfter(page);
            resumeKey = lastKey;
          }
          const server = await liveRows(store);
          expect([...replica.keys()].sort(), 'the snapshot ends holding exactly the live rows').toEqual(
            [...server.keys()].sort(),
          );
          for (const [key, held] of replica)
            expect(held, 'each in its latest state').toEqual(server.get(key));
          expect(nonEmpty(checksums ?? {})).toEqual(checksumsOf(server));
          expect(killed, 'the test resumed no snapshot').toBeGreaterThan(0);
        }
      }));

    it('pages tables its order does not name after the ones it names, and ends after the rows existed', () =>
      withStore(async (store) => {
        const ids = Array.from({ length: 6 }, () => randomUUID());
        await write(store, [
          row('notes', ids[0] ?? '', { name: 'n0' }),
          row('customers', ids[1] ?? '', { name: 'c1' }),
          row('categories', ids[2] ?? '', { name: 'k2' }),
          row('customers', ids[3] ?? '', { name: 'c3' }),
          row('aardvarks', ids[4] ?? '', { name: 'a4' }),
        ]);
        const first = await store.pullSnapshot(null, 2, { tableOrder: TABLE_ORDER });
        if (first.resyncRequired || !first.snapshot) throw new Error('the first page has no key');
        await write(store, [row('categories', ids[5] ?? '', { name: 'after' })]);
        const rest = await store.pullSnapshot({ mark: first.cursorSeq, key: first.snapshot }, 100, {
          tableOrder: TABLE_ORDER,
        });
        if (rest.resyncRequired) throw new Error('asked to resync');
        const order = [...first.rows, ...rest.rows].map((pulled) => pulled.table);
        expect(order).toEqual(['categories', 'customers', 'customers', 'aardvarks', 'notes', 'categories']);
        expect(rest.rows.at(-1)?.id).toBe(ids[5]);
        expect(rest.hasMore).toBe(false);
        expect(rest.snapshot).toBeUndefined();
      }));

    it('asks a snapshot to resync when a purge during it takes a tombstone past its mark', () =>
      withStore(async (store, opened) => {
        const ids = Array.from({ length: 4 }, () => randomUUID());
        await write(
          store,
          ids.map((id) => row('categories', id, { name: id })),
        );
        const first = await store.pullSnapshot(null, 1, { tableOrder: TABLE_ORDER });
        if (first.resyncRequired || !first.snapshot) throw new Error('the first page has no key');
        await write(store, [row('categories', ids[3] ?? '', null)]);
        await new Promise((resolve) => setTimeout(resolve, 2));
        expect(await opened.storage.sync.purgeTombstones(Date.now() + 1)).toBe(1);
        expect(
          await store.pullSnapshot({ mark: first.cursorSeq, key: first.snapshot }, 1, {
            tableOrder: TABLE_ORDER,
          }),
        ).toEqual({ resyncRequired: true });
        // Begun again, it completes without the deleted row.
        const again = await store.pullSnapshot(null, 100, { tableOrder: TABLE_ORDER });
        if (again.resyncRequired) throw new Error('a fresh snapshot was asked to resync');
        expect(again.rows.map((pulled) => pulled.id)).toEqual(ids.slice(0, 3).sort());
      }));
  });
}

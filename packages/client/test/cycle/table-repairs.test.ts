import type { PullResponse } from '@tillsync/protocol';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { ALL_TABLES } from '../../src/cycle/cycle-store.js';
import { PullPager } from '../../src/cycle/pull-pager.js';
import { TableRepairs } from '../../src/cycle/table-repairs.js';
import type { LocalStore } from '../../src/local-store.js';
import { startTestServer } from '../server-fixture.js';
import { countRows, insertCustomers, pairedStepDevice, type StepDevice } from './cycle-fixture.js';

/** A device that holds the server's customers (written by another device), and its repair step. */
async function syncedDevice(customers: number) {
  const server = await startTestServer();
  const writer = await server.pairedClient('writer');
  const ids = insertCustomers(writer, customers);
  await writer.sync();
  const device = await pairedStepDevice(server, 'reader');
  const pager = new PullPager({
    remote: device.remote,
    counts: device.counts,
    knowsTable: (table) => device.cycleStore.knowsTable(table),
    refreshSchema: async () => device.cycleStore.useSchema(await device.remote.schema()),
  });
  const pull = (): Promise<{ checksums: PullResponse['checksums'] }> =>
    pager.pages(device.cycleStore.cursor(), (changes, cursor) =>
      device.cycleStore.applyPage(changes, cursor === undefined ? {} : { cursor }),
    );
  await pull();
  const repairs = new TableRepairs({ store: device.cycleStore, pager, counts: device.counts });
  return { device, repairs, pull, ids };
}

/** Writes a customer behind the sync's back, as the server's: a row the server never had. */
function insertStray(store: LocalStore): string {
  const stray = uuidv7();
  store.applying(() => {
    store.db.prepare("INSERT INTO customers (id, name) VALUES (?, 'Stray')").run(stray);
    store.db
      .prepare(
        "INSERT INTO _sync_rows (tbl, id, stamp) VALUES ('customers', ?, '2026-01-01T00:00:00.000Z-0000-x')",
      )
      .run(stray);
    store.db.prepare("UPDATE _sync_checksums SET count = count + 1 WHERE tbl = 'customers'").run();
  });
  return stray;
}

function customerIds(device: StepDevice): string[] {
  return (device.store.db.prepare('SELECT id FROM customers ORDER BY id').all() as { id: string }[]).map(
    (row) => row.id,
  );
}

describe('TableRepairs', () => {
  it('finds nothing to repair when the checksums match', async () => {
    const { device, repairs, pull } = await syncedDevice(3);
    const end = await pull();
    await repairs.compareChecksums(end.checksums ?? {});
    expect(device.counts.repairs).toEqual([]);
    expect(repairs.due()).toEqual(new Set());
  });

  it('repairs a table whose checksum differs from a fresh snapshot, sweeping the rows the server lacks', async () => {
    const { device, repairs, pull, ids } = await syncedDevice(3);
    insertStray(device.store);
    const end = await pull();

    await repairs.compareChecksums(end.checksums ?? {});

    expect(device.counts.repairs).toEqual([{ table: 'customers', reason: 'checksum', matched: true }]);
    expect(customerIds(device)).toEqual([...ids].sort());
    expect(device.store.getState('repairs_due')).toBeNull();
  });

  it('keeps a pending row the server lacks, to be pushed as new', async () => {
    const { device, repairs } = await syncedDevice(1);
    const [mine] = insertCustomers(device.client, 1);

    await repairs.repair(new Set(['customers']), 'checksum');

    expect(customerIds(device)).toContain(mine);
    expect(countRows(device.store, '_sync_pending')).toBe(1);
  });

  it('notes a resync as due until its snapshot ends, then moves the cursor to the snapshot’s end', async () => {
    const { device, repairs } = await syncedDevice(2);
    const stray = insertStray(device.store);
    device.store.setState('cursor', null);
    device.cycleStore.markDue([ALL_TABLES]);
    expect(repairs.due()).toBe(ALL_TABLES);

    const end = await repairs.resync('resumed');

    expect(end.checksums).toBeUndefined();
    expect(repairs.due()).toEqual(new Set());
    expect(device.cycleStore.cursor()).not.toBe('');
    expect(customerIds(device)).not.toContain(stray);
    expect(device.counts.repairs.map((repair) => repair.table)).toEqual(device.cycleStore.tableNames());
    expect(device.counts.repairs.every((repair) => repair.reason === 'resumed' && repair.matched)).toBe(true);
  });

  it('sets pending rows aside on discard-local and restores the server’s rows', async () => {
    const { device, repairs, ids } = await syncedDevice(2);
    const [first] = ids;
    device.client.database.prepare("UPDATE customers SET name = 'Changed here' WHERE id = ?").run(first);
    const [added] = insertCustomers(device.client, 1);

    await repairs.discardLocal();

    expect(countRows(device.store, '_sync_pending')).toBe(0);
    expect(countRows(device.store, '_sync_set_aside')).toBe(2);
    expect(customerIds(device)).toEqual([...ids].sort());
    expect(customerIds(device)).not.toContain(added);
    expect(device.store.db.prepare('SELECT name FROM customers WHERE id = ?').get(first)).toEqual({
      name: 'Customer 0',
    });
    expect(device.counts.repairs).toEqual([{ table: 'customers', reason: 'discard-local', matched: true }]);
  });
});

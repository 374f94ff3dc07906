import type { EvictChange, StoredChange } from '@tillsync/protocol';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { openDeviceParts } from './helpers.js';

/**
 * A row that moved to another store reaches the devices of its old store once, as `evict` (PROTOCOL.md §7):
 * each drops its copy, which is not a delete. Applied here to a real device file; the whole round trip
 * through a server is in `chain.test.ts`.
 */
const stampAt = (ms: number): string => `${new Date(ms).toISOString()}-0000-server`;
const PAST = Date.parse('2020-01-01T00:00:00Z');

function sale(id: string, updatedAt: string, total = 500): StoredChange {
  return {
    table: 'sales',
    id,
    op: 'upsert',
    updatedAt,
    values: { customer_id: null, total_cents: total, created_at: '2020-01-01T00:00:00Z' },
  };
}

const evict = (table: string, id: string, updatedAt: string): EvictChange => ({
  table,
  id,
  op: 'evict',
  updatedAt,
});

describe('an evicted row', () => {
  it('leaves the device without a tombstone, a pending change or a lost edit, and out of its checksums', () => {
    const { store, applier, outbox, serverRows, lostEdits, conflicts } = openDeviceParts();
    const [kept, moved] = [uuidv7(), uuidv7()];
    applier.applyPage([sale(kept, stampAt(PAST)), sale(moved, stampAt(PAST))], { cursor: 'c1' });
    const before = serverRows.checksum('sales');

    const outcome = applier.applyPage([evict('sales', moved, stampAt(PAST + 1000))], { cursor: 'c2' });

    expect(outcome).toEqual({ applied: 1, conflicts: 0, conflictRows: [] });
    expect(store.db.prepare('SELECT id FROM sales').all()).toEqual([{ id: kept }]);
    expect(outbox.count()).toBe(0);
    expect(lostEdits.list()).toEqual([]);
    expect(conflicts.conflicts()).toEqual([]);
    // The server's row list and checksums no longer hold it, as if the device had never received it.
    expect(serverRows.stampOf('sales', moved)).toBeNull();
    expect(serverRows.checksum('sales')).not.toEqual(before);
    expect(serverRows.checksum('sales')).toEqual(serverRows.recompute('sales'));
    expect(serverRows.checksum('sales').count).toBe(1);
  });

  it('of a row the device never had changes nothing but the cursor', () => {
    const { store, applier, serverRows } = openDeviceParts();
    applier.applyPage([evict('sales', uuidv7(), stampAt(PAST))], { cursor: 'c9' });
    expect(store.db.prepare('SELECT count(*) AS n FROM sales').get()).toEqual({ n: 0 });
    expect(serverRows.checksum('sales')).toEqual({ count: 0, sum: '0000000000000000' });
    expect(store.db.prepare("SELECT value FROM _sync_state WHERE key = 'cursor'").get()).toEqual({
      value: 'c9',
    });
  });

  it("drops a pending change to it, which the server would refuse, and tells the cashier it didn't stick", () => {
    const { store, applier, outbox, lostEdits } = openDeviceParts();
    const [edited, deleted] = [uuidv7(), uuidv7()];
    applier.applyPage([sale(edited, stampAt(PAST)), sale(deleted, stampAt(PAST))]);
    store.db.prepare('UPDATE sales SET total_cents = 450 WHERE id = ?').run(edited);
    store.db.prepare('DELETE FROM sales WHERE id = ?').run(deleted);
    expect(outbox.count()).toBe(2);

    applier.applyPage([
      evict('sales', edited, stampAt(PAST + 1000)),
      evict('sales', deleted, stampAt(PAST + 1000)),
    ]);

    expect(store.db.prepare('SELECT count(*) AS n FROM sales').get()).toEqual({ n: 0 });
    expect(outbox.count()).toBe(0);
    expect(
      lostEdits
        .list()
        .map((edit) => [edit.rowId, edit.kind])
        .sort(),
    ).toEqual(
      [
        [edited, 'moved-away'],
        [deleted, 'moved-away'],
      ].sort(),
    );
  });

  it("keeps the device's own rows that the server has never had, and the pending changes of other rows", () => {
    const { store, applier, outbox } = openDeviceParts();
    const [moved, other] = [uuidv7(), uuidv7()];
    applier.applyPage([sale(moved, stampAt(PAST)), sale(other, stampAt(PAST))]);
    const rungUpHere = uuidv7();
    store.db
      .prepare(
        "INSERT INTO sales (id, customer_id, total_cents, created_at) VALUES (?, NULL, 120, '2020-01-02')",
      )
      .run(rungUpHere);
    store.db.prepare('UPDATE sales SET total_cents = 1 WHERE id = ?').run(other);

    applier.applyPage([evict('sales', moved, stampAt(PAST + 1000))]);

    expect(
      (store.db.prepare('SELECT id FROM sales ORDER BY id').all() as { id: string }[]).map((row) => row.id),
    ).toEqual([other, rungUpHere].sort());
    expect(
      outbox
        .list()
        .map((row) => row.id)
        .sort(),
    ).toEqual([other, rungUpHere].sort());
  });

  it('comes back whole when the row moves back to this store', () => {
    const { store, applier, serverRows } = openDeviceParts();
    const id = uuidv7();
    applier.applyPage([sale(id, stampAt(PAST), 500)]);
    applier.applyPage([evict('sales', id, stampAt(PAST + 1000))]);
    applier.applyPage([sale(id, stampAt(PAST + 2000), 700)]);
    expect(store.db.prepare('SELECT total_cents FROM sales WHERE id = ?').get(id)).toEqual({
      total_cents: 700,
    });
    expect(serverRows.checksum('sales')).toEqual(serverRows.recompute('sales'));
  });
});

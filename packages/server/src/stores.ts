import { HybridClock, STORES_TABLE, type CompiledSchema, type RowValues } from '@tillsync/protocol';
import { toRowWrite } from './rows/row-writer.js';
import type { AccountStore } from './storage/account-store.js';
import { rowKey, type StoredRow, type SyncStore } from './storage/sync-store.js';

/** The node id of the stamps the server issues for the rows of `stores` it writes. */
const SERVER_NODE = 'server';

/**
 * Writes the tenant's stores into the synced `stores` table (PROTOCOL.md §7), where the schema declares it:
 * one row per store, its id the store's, as the server's own write, so every device pulls the chain's
 * stores and a store column's reference resolves like any other. Writes only what is missing or renamed, so
 * it is called freely: when a store is made, when a device pairs (a tenant made by `tillsync admin` while
 * the server runs) and at start. With `storeId`, only that store's row: a pairing or a new store in a chain
 * of a thousand stores reads one row, not a thousand. The rows are read first without the tenant's write
 * lock, which is taken only when something is to be written. A schema without `stores` has nothing to write.
 */
export async function writeStoreRows(
  parts: {
    readonly accounts: AccountStore;
    readonly sync: SyncStore;
    readonly schema: CompiledSchema;
    readonly now: () => number;
  },
  tenantId: string,
  storeId?: string,
): Promise<void> {
  const table = parts.schema.table(STORES_TABLE);
  if (!table) return;
  const found = storeId === undefined ? null : await parts.accounts.findStore(tenantId, storeId);
  const stores = storeId === undefined ? await parts.accounts.listStores(tenantId) : found ? [found] : [];
  const keys = stores.map((store) => ({ table: STORES_TABLE, id: store.id }));
  const tenant = parts.sync.forTenant(tenantId);
  const missing = (stored: ReadonlyMap<string, StoredRow>): typeof stores =>
    stores.filter((store) => stored.get(rowKey(STORES_TABLE, store.id))?.values?.['name'] !== store.name);
  if (missing(await tenant.readRows(keys)).length === 0) return;
  await tenant.push(async (tx) => {
    const stored = await tx.getRows(keys);
    const clock = new HybridClock({ nodeId: SERVER_NODE, now: parts.now });
    for (const row of stored.values()) clock.receive(row.updatedAt);
    const writes = missing(stored).map((store) => {
      const previous = stored.get(rowKey(STORES_TABLE, store.id));
      const values: RowValues = { ...(previous?.values ?? {}), name: store.name };
      return toRowWrite(table, {
        table: STORES_TABLE,
        id: store.id,
        values,
        updatedAt: clock.issue(),
        deviceId: null,
        stamps: null,
        previous,
      });
    });
    await tx.writeRows(writes);
  });
}

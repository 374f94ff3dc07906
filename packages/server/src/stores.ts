import { HybridClock, STORES_TABLE, type CompiledSchema, type RowValues } from '@tillsync/protocol';
import { toRowWrite } from './rows/row-writer.js';
import type { AccountStore } from './storage/account-store.js';
import { rowKey, type SyncStore } from './storage/sync-store.js';

/** The node id of the stamps the server issues for the rows of `stores` it writes. */
const SERVER_NODE = 'server';

/**
 * Writes the tenant's stores into the synced `stores` table (PROTOCOL.md §7), where the schema declares it:
 * one row per store, its id the store's, as the server's own write, so every device pulls the chain's
 * stores and a store column's reference resolves like any other. Writes only what is missing or renamed, so
 * it is called freely: when a store is made, when a device pairs (a tenant made by `tillsync admin` while
 * the server runs) and at start. A schema without `stores` has nothing to write.
 */
export async function writeStoreRows(
  parts: {
    readonly accounts: AccountStore;
    readonly sync: SyncStore;
    readonly schema: CompiledSchema;
    readonly now: () => number;
  },
  tenantId: string,
): Promise<void> {
  const table = parts.schema.table(STORES_TABLE);
  if (!table) return;
  const stores = await parts.accounts.listStores(tenantId);
  await parts.sync.forTenant(tenantId).push(async (tx) => {
    const stored = await tx.getRows(stores.map((store) => ({ table: STORES_TABLE, id: store.id })));
    const clock = new HybridClock({ nodeId: SERVER_NODE, now: parts.now });
    for (const row of stored.values()) clock.receive(row.updatedAt);
    const writes = stores.flatMap((store) => {
      const previous = stored.get(rowKey(STORES_TABLE, store.id));
      if (previous?.values?.['name'] === store.name) return [];
      const values: RowValues = { ...(previous?.values ?? {}), name: store.name };
      return [
        toRowWrite(table, {
          table: STORES_TABLE,
          id: store.id,
          values,
          updatedAt: clock.issue(),
          deviceId: null,
          stamps: null,
          previous,
        }),
      ];
    });
    await tx.writeRows(writes);
  });
}

import { defineSyncJobType, type SyncJobType } from '@tillsync/jobs';
import { v5 as uuidv5 } from 'uuid';

/**
 * The chain's back office as sync jobs on the server (PROTOCOL.md §6, §7): what writes rows no till may
 * write. A new product gets a stock level in every store (so that no two tills ever create the same level,
 * and a till only ever sends deltas of it), and the owner moves a sale rung up in the wrong store, with its
 * items, to the store it belongs to: a write that changes a row's store column, which only the server may
 * make, and which the old store's devices receive as an eviction.
 */

const STOCK_LEVEL_NAMESPACE = '9a3c51e4-7d0b-4f26-8b1e-2c5d7e9f0a14';

/** The id of a store's stock level of a product: the same whoever makes it. */
export function stockLevelId(storeId: string, productId: string): string {
  return uuidv5(`stock_levels:${storeId}:${productId}`, STOCK_LEVEL_NAMESPACE);
}

/** The tables whose rows the owner moves to another store, by the job of each named here. */
export const MOVE_JOB_TYPES = { sales: 'sales-move-store', sale_items: 'sale_items-move-store' } as const;

/**
 * The owner's job that moves a row (its source) to the store its context names (`{"storeId"}`): a write of
 * the row's store column, which a device never may make.
 */
export function moveToStore(table: keyof typeof MOVE_JOB_TYPES): SyncJobType {
  return defineSyncJobType({
    name: MOVE_JOB_TYPES[table],
    sourceTable: table,
    targetTable: table,
    mode: 'single',
    getTargetDocument: (_job, source) =>
      source && !source.deleted ? { operation: 'update', id: source.id } : null,
    updateTargetDoc(job, _source, target) {
      target.values.store_id = String(job.context.storeId);
    },
  });
}

/** The chain's job types, for a tenant of these stores. */
export function chainJobTypes(stores: readonly string[]): SyncJobType[] {
  return [
    defineSyncJobType({
      name: 'product-stock-levels',
      sourceTable: 'products',
      targetTable: 'stock_levels',
      mode: 'single',
      triggers: ['insert'],
      defaults: { queue: 'short' },
      planTrigger: (change) =>
        stores.map((storeId) => ({
          context: { storeId },
          title: `products ${change.id} > stock_levels of store ${storeId}`,
        })),
      async getTargetDocument(job, source) {
        if (!source || source.deleted) return null;
        const id = stockLevelId(String(job.context.storeId), source.id);
        return (await job.rows.get('stock_levels', id)) ? null : { operation: 'insert', id };
      },
      updateTargetDoc(job, source, target) {
        target.values.store_id = String(job.context.storeId);
        target.values.product_id = source?.id ?? null;
        target.values.quantity = 0;
      },
    }),
    moveToStore('sales'),
    moveToStore('sale_items'),
  ];
}

import { useMemo } from 'react';
import { deviceApi } from './device-api.js';
import type { Product, StockLevelValues } from './types.js';
import { useRows } from './use-rows.js';

/** The most stock levels read at once: a store's count of every product the till shows. */
const STOCK_LEVELS_READ = 5000;

/** The stock as this device counts it, whatever the schema. */
export interface Stock {
  /** Whether each store counts its own (a chain): a product's stock is then written apart from it. */
  readonly perStore: boolean;
  /** A product's stock here; `null` when this store has not counted it yet. */
  of(product: Product): number | null;
  /** Sets a product's stock here to a count (a stock-take): sent as the difference, like a sale. */
  set(product: Product, quantity: number): Promise<void>;
}

/**
 * Stock on the till: `products.stock` in a shop (PROTOCOL.md §3); in a chain (§7), where products carry no
 * stock, this store's row of `stock_levels` for the product (the device holds its own store's rows only, and
 * the agent fills in the store when it adds one).
 */
export function useStock(productColumns: readonly string[] | null): Stock {
  const perStore = productColumns !== null && !productColumns.includes('stock');
  const levels = useRows<StockLevelValues>('stock_levels', { limit: STOCK_LEVELS_READ }, perStore);
  return useMemo<Stock>(() => {
    const byProduct = new Map((levels.rows ?? []).map((row) => [row.values.product_id, row]));
    return {
      perStore,
      of: (product) =>
        perStore ? (byProduct.get(product.id)?.values.quantity ?? null) : (product.values.stock ?? null),
      async set(product, quantity) {
        if (!perStore) {
          await deviceApi.updateRow('products', product.id, { stock: quantity });
          return;
        }
        const level = byProduct.get(product.id);
        if (level) await deviceApi.updateRow('stock_levels', level.id, { quantity });
        else await deviceApi.addRow('stock_levels', { product_id: product.id, quantity });
      },
    };
  }, [perStore, levels.rows]);
}

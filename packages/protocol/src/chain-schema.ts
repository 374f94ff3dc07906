import type { SyncSchema } from './schema-model.js';

/**
 * The built-in schema of a chain of shops (PROTOCOL.md §7), served by `serve --schema chain`: the shop of
 * §3 with the catalogue and customers shared by the tenant, and sales, their items, the daily totals and
 * the stock levels kept per store. `stores` is the tenant's list of stores, written by the server (see
 * `STORES_TABLE`). Stock is not a column of `products` here: each store counts its own in `stock_levels`, one
 * row per store and product, so a sale on a till takes stock from its own store only.
 */
export const CHAIN_SCHEMA: SyncSchema = {
  version: 1,
  tables: {
    stores: {
      serverOnly: true,
      columns: { name: { type: 'text', required: true } },
    },
    categories: {
      columns: { name: { type: 'text', required: true } },
    },
    products: {
      columns: {
        sku: { type: 'text', required: true, unique: true },
        name: { type: 'text', required: true },
        price_cents: { type: 'integer', required: true },
        category_id: { type: 'text', references: 'categories' },
        active: { type: 'integer', default: 1, allowed: [0, 1] },
      },
    },
    customers: {
      columns: {
        name: { type: 'text', required: true },
        phone: { type: 'text' },
        email: { type: 'text' },
      },
    },
    sales: {
      scope: { storeColumn: 'store_id' },
      columns: {
        store_id: { type: 'text', required: true, references: 'stores' },
        customer_id: { type: 'text', references: 'customers' },
        total_cents: { type: 'integer', required: true },
        created_at: { type: 'text', required: true, format: 'iso-time' },
      },
    },
    sale_items: {
      scope: { storeColumn: 'store_id' },
      columns: {
        store_id: { type: 'text', required: true, references: 'stores' },
        sale_id: { type: 'text', required: true, references: 'sales' },
        product_id: { type: 'text', required: true, references: 'products' },
        quantity: { type: 'integer', required: true },
        price_cents: { type: 'integer', required: true },
      },
    },
    daily_sales: {
      serverOnly: true,
      scope: { storeColumn: 'store_id' },
      unique: [['store_id', 'day']],
      columns: {
        store_id: { type: 'text', required: true, references: 'stores' },
        day: { type: 'text', required: true, format: 'date' },
        sales_count: { type: 'integer' },
        total_cents: { type: 'integer' },
      },
    },
    stock_levels: {
      scope: { storeColumn: 'store_id' },
      unique: [['store_id', 'product_id']],
      columns: {
        store_id: { type: 'text', required: true, references: 'stores' },
        product_id: { type: 'text', required: true, references: 'products' },
        quantity: { type: 'integer', required: true, merge: 'counter' },
      },
    },
  },
};

/** The built-in schemas `serve --schema` takes by name instead of a file. */
export const BUILT_IN_SCHEMAS: Readonly<Record<string, SyncSchema>> = { chain: CHAIN_SCHEMA };

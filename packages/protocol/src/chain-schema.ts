import type { ColumnSpec, SyncSchema, TableSpec } from './schema-model.js';
import { SHOP_SCHEMA } from './shop-schema.js';

/** A table of the single-shop schema (PROTOCOL.md §3), which the chain's tables are made from. */
function shopTable(name: string): TableSpec {
  const table = SHOP_SCHEMA.tables[name];
  if (table === undefined) throw new Error(`the shop schema has no table "${name}"`);
  return table;
}

/** The column that names a row's store in every per-store table. */
const STORE_COLUMN: ColumnSpec = { type: 'text', required: true, references: 'stores' };

/** A shop table kept per store: its store column first, then the shop's columns. */
function perStore(name: string): TableSpec {
  const { columns, ...rest } = shopTable(name);
  return { ...rest, scope: { storeColumn: 'store_id' }, columns: { store_id: STORE_COLUMN, ...columns } };
}

/** The shop's daily totals kept per store: one row per store and day (the day alone is not unique in a chain). */
function dailySalesPerStore(): TableSpec {
  const { columns, ...rest } = perStore('daily_sales');
  const { unique: _unique, ...day } = columns['day'] ?? { type: 'text' };
  return { ...rest, unique: [['store_id', 'day']], columns: { ...columns, day } };
}

/** The shop's products less `stock`: a chain counts stock per store, in `stock_levels`. */
function chainProducts(): TableSpec {
  const { columns, ...rest } = shopTable('products');
  const { stock: _stock, ...kept } = columns;
  return { ...rest, columns: kept };
}

/**
 * The built-in schema of a chain of shops (PROTOCOL.md §7), served by `serve --schema chain`: the shop of
 * §3 with the catalogue and customers shared by the tenant, and sales, their items, the daily totals and
 * the stock levels kept per store. `stores` is the tenant's list of stores, written by the server (see
 * `STORES_TABLE`). Stock is not a column of `products` here: each store counts its own in `stock_levels`, one
 * row per store and product, so a sale on a till takes stock from its own store only. The tables the shop
 * has too are made from {@link SHOP_SCHEMA}, so the two schemas cannot drift apart.
 */
export const CHAIN_SCHEMA: SyncSchema = {
  version: 1,
  tables: {
    stores: {
      serverOnly: true,
      columns: { name: { type: 'text', required: true } },
    },
    categories: shopTable('categories'),
    products: chainProducts(),
    customers: shopTable('customers'),
    sales: perStore('sales'),
    sale_items: perStore('sale_items'),
    daily_sales: dailySalesPerStore(),
    stock_levels: {
      scope: { storeColumn: 'store_id' },
      unique: [['store_id', 'product_id']],
      columns: {
        store_id: STORE_COLUMN,
        product_id: { type: 'text', required: true, references: 'products' },
        quantity: { type: 'integer', required: true, merge: 'counter' },
      },
    },
  },
};

/** The built-in schemas `serve --schema` takes by name instead of a file. */
export const BUILT_IN_SCHEMAS: Readonly<Record<string, SyncSchema>> = { chain: CHAIN_SCHEMA };

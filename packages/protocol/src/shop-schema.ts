import type { SyncSchema } from './schema-model.js';

/** The built-in schema of a small shop (PROTOCOL.md §3), used when `serve` is given no `--schema`. */
export const SHOP_SCHEMA: SyncSchema = {
  version: 1,
  tables: {
    categories: {
      columns: { name: { type: 'text', required: true } },
    },
    products: {
      columns: {
        sku: { type: 'text', required: true, unique: true },
        name: { type: 'text', required: true },
        price_cents: { type: 'integer', required: true },
        stock: { type: 'integer', required: true, merge: 'counter' },
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
      columns: {
        customer_id: { type: 'text', references: 'customers' },
        total_cents: { type: 'integer', required: true },
        created_at: { type: 'text', required: true, format: 'iso-time' },
      },
    },
    sale_items: {
      columns: {
        sale_id: { type: 'text', required: true, references: 'sales' },
        product_id: { type: 'text', required: true, references: 'products' },
        quantity: { type: 'integer', required: true },
        price_cents: { type: 'integer', required: true },
      },
    },
    daily_sales: {
      serverOnly: true,
      columns: {
        day: { type: 'text', required: true, unique: true, format: 'date' },
        sales_count: { type: 'integer' },
        total_cents: { type: 'integer' },
      },
    },
  },
};

import { describe, expect, it } from 'vitest';
import {
  CHAIN_SCHEMA,
  SHOP_SCHEMA,
  compareSchemas,
  fitValue,
  parseSchema,
  sameSchemaContent,
  type SyncSchema,
} from '../src/index.js';

const V1: SyncSchema = parseSchema({
  version: 1,
  tables: {
    categories: { columns: { name: { type: 'text', required: true } } },
    products: {
      columns: {
        sku: { type: 'text', required: true },
        name: { type: 'text', required: true },
        price_cents: { type: 'integer', required: true },
        stock: { type: 'integer', merge: 'counter' },
        category_id: { type: 'text' },
        size: { type: 'text', allowed: ['S', 'M', 'L'] },
        note: { type: 'text' },
      },
    },
    notes: { columns: { body: { type: 'text' } } },
  },
});

/** V1 with `edit` applied to a copy, as version 2. */
function v2(edit: (tables: SyncSchema['tables']) => void): SyncSchema {
  const copy = structuredClone(V1) as SyncSchema & { version: number };
  copy.version = 2;
  edit(copy.tables);
  return parseSchema(copy);
}

const products = (tables: SyncSchema['tables']): SyncSchema['tables'][string]['columns'] =>
  tables.products!.columns;

describe('comparing two schemas', () => {
  it('finds nothing between a schema and itself, whatever the order of its keys', () => {
    const reordered = parseSchema({
      version: 1,
      tables: { notes: V1.tables.notes, products: V1.tables.products, categories: V1.tables.categories },
    });
    expect(sameSchemaContent(V1, reordered)).toBe(true);
    expect(compareSchemas(V1, reordered).changes).toEqual([]);
    expect(
      sameSchemaContent(
        V1,
        v2((tables) => (products(tables).note = { type: 'integer' })),
      ),
    ).toBe(false);
  });

  it('calls additive: a new table, a new optional, default or counter column, required made optional, relaxed rules', () => {
    const next = v2((tables) => {
      tables.tags = { columns: { label: { type: 'text', required: true } } };
      const columns = products(tables);
      columns.barcode = { type: 'text' };
      columns.active = { type: 'integer', required: true, default: 1 };
      columns.sold = { type: 'integer', required: true, merge: 'counter' };
      columns.price_cents = { type: 'integer' };
      columns.size = { type: 'text', allowed: ['S', 'M', 'L', 'XL'] };
    });
    const comparison = compareSchemas(V1, next);
    expect(comparison.breaking).toEqual([]);
    expect(comparison.storedRowRules).toEqual([]);
    expect(comparison.changes.map((change) => change.message)).toEqual([
      'products.price_cents: a required column made optional',
      'products.size: its values are widened (allowed values or format)',
      'products.barcode: a new optional column',
      'products.active: a new column with a default',
      'products.sold: a new counter column',
      'tags: a new table',
    ]);
  });

  it('asks the stored rows about a new reference, a new unique rule and narrower values', () => {
    const next = v2((tables) => {
      const columns = products(tables);
      columns.category_id = { type: 'text', references: 'categories' };
      columns.sku = { type: 'text', required: true, unique: true };
      columns.size = { type: 'text', allowed: ['S', 'M'] };
      columns.note = { type: 'text', format: 'date' };
    });
    const comparison = compareSchemas(V1, next);
    expect(comparison.breaking).toEqual([]);
    expect(comparison.storedRowRules).toEqual([
      { table: 'products', column: 'sku', rule: 'unique' },
      { table: 'products', column: 'category_id', rule: 'references' },
      { table: 'products', column: 'size', rule: 'values' },
      { table: 'products', column: 'note', rule: 'values' },
    ]);
  });

  it('calls breaking, naming table and column: removed, renamed, retyped, newly required, merge changed, made server-only', () => {
    const next = v2((tables) => {
      delete tables.notes;
      const columns = products(tables);
      columns.title = columns.name!;
      delete columns.name;
      columns.price_cents = { type: 'real', required: true };
      columns.note = { type: 'text', required: true };
      columns.stock = { type: 'integer' };
      columns.supplier = { type: 'text', required: true };
      tables.categories!.serverOnly = true;
    });
    expect(
      compareSchemas(V1, next).breaking.map((change) => [change.table, change.column, change.message]),
    ).toEqual([
      ['categories', null, 'categories: devices may no longer write the table (it became serverOnly)'],
      ['products', 'name', 'products.name: the column was removed (or renamed)'],
      ['products', 'price_cents', 'products.price_cents: its type changed from integer to real'],
      ['products', 'stock', 'products.stock: its merge rule changed from counter to lww'],
      ['products', 'note', 'products.note: an optional column made required'],
      [
        'products',
        'title',
        'products.title: a new required column without a default (give it a default, or make it optional)',
      ],
      [
        'products',
        'supplier',
        'products.supplier: a new required column without a default (give it a default, or make it optional)',
      ],
      ['notes', null, 'notes: the table was removed (or renamed)'],
    ]);
  });

  it("judges a table's scope and its unique rules over several columns", () => {
    const chain = (edit: (tables: SyncSchema['tables']) => void, version = 1): SyncSchema => {
      const copy = structuredClone({ ...CHAIN_SCHEMA, version });
      edit(copy.tables);
      return parseSchema(copy);
    };
    const before = chain((tables) => {
      tables.sales = { ...tables.sales!, scope: 'tenant' };
      delete tables.stock_levels!.unique;
    });
    const after = chain((tables) => {
      tables.sale_items = { ...tables.sale_items!, scope: 'tenant' };
      delete tables.daily_sales!.unique;
      tables.sale_items.unique = [['sale_id', 'product_id']];
    }, 2);
    const comparison = compareSchemas(before, after);
    expect(comparison.breaking.map((change) => [change.table, change.column, change.message])).toEqual([
      [
        'sales',
        null,
        'sales: its scope changed from the whole tenant to per store (by store_id) (devices hold rows they no longer receive, or lack rows they now receive)',
      ],
      [
        'sale_items',
        null,
        'sale_items: its scope changed from per store (by store_id) to the whole tenant (devices hold rows they no longer receive, or lack rows they now receive)',
      ],
    ]);
    expect(
      comparison.changes.filter((change) => change.kind === 'additive').map((change) => change.message),
    ).toEqual([
      'sale_items: a new unique rule over (sale_id, product_id)',
      'daily_sales: its unique rule over (store_id, day) was dropped',
      'stock_levels: a new unique rule over (store_id, product_id)',
    ]);
    expect(comparison.storedRowRules).toEqual([
      {
        table: 'sale_items',
        column: 'sale_id+product_id',
        rule: 'unique',
        columns: ['sale_id', 'product_id'],
      },
      {
        table: 'stock_levels',
        column: 'store_id+product_id',
        rule: 'unique',
        columns: ['store_id', 'product_id'],
      },
    ]);
    // The same rules and scopes in another order of keys: nothing.
    expect(
      compareSchemas(
        CHAIN_SCHEMA,
        chain(() => undefined, 2),
      ).changes,
    ).toEqual([]);
  });

  it('brings a value to a changed type where it has such a form', () => {
    expect(fitValue({ type: 'text' }, 12)).toEqual({ fits: true, value: '12' });
    expect(fitValue({ type: 'integer' }, ' 12 ')).toEqual({ fits: true, value: 12 });
    expect(fitValue({ type: 'integer' }, '1.5')).toEqual({ fits: false });
    expect(fitValue({ type: 'integer' }, 'twelve')).toEqual({ fits: false });
    expect(fitValue({ type: 'real' }, '1.5')).toEqual({ fits: true, value: 1.5 });
    expect(fitValue({ type: 'real' }, 2)).toEqual({ fits: true, value: 2 });
    expect(fitValue({ type: 'text', allowed: ['S'] }, 'M')).toEqual({ fits: false });
    expect(fitValue({ type: 'text', required: true }, null)).toEqual({ fits: true, value: null });
  });
});

describe('the chain schema', () => {
  it('is the shop schema with sales, items and daily totals per store, stock per store, and stores', () => {
    expect(parseSchema(CHAIN_SCHEMA)).toBe(CHAIN_SCHEMA);
    const shop = SHOP_SCHEMA.tables;
    const chain = CHAIN_SCHEMA.tables;
    expect(Object.keys(chain)).toEqual(['stores', ...Object.keys(shop), 'stock_levels']);
    for (const table of ['categories', 'customers']) expect(chain[table]).toEqual(shop[table]);
    const { stock: _stock, ...products } = shop.products!.columns;
    expect(chain.products).toEqual({ columns: products });
    const storeColumn = { type: 'text', required: true, references: 'stores' };
    for (const table of ['sales', 'sale_items'])
      expect(chain[table]).toEqual({
        scope: { storeColumn: 'store_id' },
        columns: { store_id: storeColumn, ...shop[table]!.columns },
      });
    expect(chain.daily_sales).toEqual({
      serverOnly: true,
      scope: { storeColumn: 'store_id' },
      unique: [['store_id', 'day']],
      columns: {
        store_id: storeColumn,
        day: { type: 'text', required: true, format: 'date' },
        sales_count: { type: 'integer' },
        total_cents: { type: 'integer' },
      },
    });
    // The shop's own tables are left as they were.
    expect(shop.daily_sales!.columns.day).toEqual({
      type: 'text',
      required: true,
      unique: true,
      format: 'date',
    });
    expect(shop.products!.columns.stock).toBeDefined();
  });
});

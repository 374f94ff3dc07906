import { describe, expect, it } from 'vitest';
import {
  cellText,
  columnLabel,
  dayText,
  readableText,
  referencedTable,
  rowText,
  tableWord,
} from '../src/shared/shop-words.js';

/** The shop's words the owner's pages use for the database's (apps/web/src/shared/shop-words.ts). */
describe("the shop's words", () => {
  const id = '0193a4b2-7c1e-7d2a-9f00-1234567890ab';

  it('labels columns and tables as words', () => {
    expect(['price_cents', 'category_id', 'created_at', 'sales_count'].map(columnLabel)).toEqual([
      'Price',
      'Category',
      'Created',
      'Sales count',
    ]);
    expect([tableWord('sale_items'), tableWord('sale_items', 2), tableWord('stock_moves')]).toEqual([
      'sale item',
      'sale items',
      'stock moves',
    ]);
    expect([referencedTable('category_id'), referencedTable('sale_id'), referencedTable('name')]).toEqual([
      'categories',
      'sales',
      null,
    ]);
    // A chain's tables (PROTOCOL.md §7): a store column names a store, by its name where known.
    expect([referencedTable('store_id'), tableWord('stock_levels'), tableWord('stores', 2)]).toEqual([
      'stores',
      'stock level',
      'stores',
    ]);
    expect(cellText('store_id', id)).toBe('store 0193a4b2');
  });

  it('shows money as money, flags as yes or no, references by name, and nothing as a dash', () => {
    expect(cellText('price_cents', 135)).toBe('€1.35');
    expect([cellText('active', 1), cellText('active', 0), cellText('is_open', true)]).toEqual([
      'Yes',
      'No',
      'Yes',
    ]);
    const names = (table: string, key: string) =>
      table === 'categories' && key === id ? 'Bakery' : undefined;
    expect(cellText('category_id', id, names)).toBe('Bakery');
    expect(cellText('customer_id', id, names)).toBe('customer 0193a4b2');
    expect([cellText('phone', null), cellText('phone', '')]).toEqual(['—', '—']);
    expect([cellText('stock', { delta: 3 }), cellText('stock', { delta: -2 })]).toEqual(['+3', '−2']);
    expect(cellText('stock', 12)).toBe('12');
    expect(cellText('day', '2026-12-06')).toBe(dayText('2026-12-06'));
    expect(dayText('2026-12-06')).toMatch(/6/);
    expect(dayText('2026-12-06')).toMatch(/Dec/);
    expect(cellText('created_at', '2026-12-06T14:03:12.000Z')).not.toContain('T14');
  });

  it('names rows and rewrites job titles made of table names and ids', () => {
    expect(rowText({ table: 'sales', id })).toBe('sale 0193a4b2');
    expect(readableText(`sales ${id} > daily_sales 2026-12-06`)).toBe(
      `sale 0193a4b2 → daily sales of ${dayText('2026-12-06')}`,
    );
    expect(readableText('Recount the stock')).toBe('Recount the stock');
  });
});

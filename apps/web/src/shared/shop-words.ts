import { formatCents } from './money.js';
import { dateTime } from './time.js';

/**
 * The shop's words for the database's: what the owner's pages (and the device's) show for a table, a
 * column, a value and a row, so no screen says `price_cents 135`, `active 1` or a bare UUID.
 *
 * @example
 * columnLabel('price_cents');                    // "Price"
 * cellText('price_cents', 135);                  // "€1.35"
 * cellText('active', 1);                         // "Yes"
 * cellText('category_id', id, nameOf);           // "Bakery" (or "category 0193a4b2" when no name is known)
 * rowText({ table: 'sales', id });               // "sale 0193a4b2"
 * readableText('sales 0193a4b2-… > daily_sales 2026-12-06'); // "sale 0193a4b2 → daily sales of 6 Dec 2026"
 */

/** Finds a referenced row's name: the table it is in (`category_id` → `categories`) and its id. */
export type NameLookup = (table: string, id: string) => string | undefined;

/**
 * The built-in tables' words (PROTOCOL.md §3, and the chain's of §7): [one, many]. Other tables read their
 * name with spaces.
 */
const TABLE_WORDS: Readonly<Record<string, readonly [string, string]>> = {
  products: ['product', 'products'],
  categories: ['category', 'categories'],
  customers: ['customer', 'customers'],
  sales: ['sale', 'sales'],
  sale_items: ['sale item', 'sale items'],
  daily_sales: ['daily sales', 'daily sales'],
  stores: ['store', 'stores'],
  stock_levels: ['stock level', 'stock levels'],
};

/** A table as words: "sale_items" → "sale item" (or "sale items" for many). */
export function tableWord(table: string, count = 1): string {
  const words = TABLE_WORDS[table] ?? [spaced(table), spaced(table)];
  return count === 1 ? words[0] : words[1];
}

/** The table a reference column points to, by its name: `category_id` → `categories`, `sale_id` → `sales`. */
export function referencedTable(column: string): string | null {
  if (!column.endsWith('_id')) return null;
  const stem = column.slice(0, -'_id'.length);
  const found = Object.entries(TABLE_WORDS).find(([, [one]]) => one === spaced(stem));
  return found ? found[0] : `${stem}s`;
}

/** A column as a heading: "price_cents" → "Price", "category_id" → "Category", "created_at" → "Created". */
export function columnLabel(column: string): string {
  const stem = column.replace(/_(cents|id|at)$/, '');
  const words = spaced(stem);
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Whether a column holds a yes-or-no flag: `active`, `is_…`, `has_…`, `…_enabled`. */
export function isFlagColumn(column: string): boolean {
  return column === 'active' || /^(is|has)_/.test(column) || /_enabled$/.test(column);
}

/** An id as people can compare it at a glance: its first 8 characters. */
export function shortId(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}

/** A row by its name when known, else its table's word and a short id: "Bakery", "sale 0193a4b2". */
export function rowText(row: { readonly table: string; readonly id: string }, nameOf?: NameLookup): string {
  return nameOf?.(row.table, row.id) ?? `${tableWord(row.table)} ${shortId(row.id)}`;
}

/** A calendar day as a person reads it: "2026-12-06" → "6 Dec 2026". */
export function dayText(day: string): string {
  const time = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(time)) return day;
  return new Date(time).toLocaleDateString(undefined, {
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    timeZone: 'UTC',
  });
}

const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;
const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;

/**
 * A column's value in the shop's words: money as money (`…_cents`), a flag as Yes or No, a reference by
 * the referenced row's name (or its word and a short id), a time or a day as people read them, a counter
 * change as "+3", and nothing as "—".
 */
export function cellText(column: string, value: unknown, nameOf?: NameLookup): string {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value === 'object' && !Array.isArray(value) && 'delta' in value) {
    const delta = Number(value.delta);
    return delta >= 0 ? `+${delta}` : `−${Math.abs(delta)}`;
  }
  if (typeof value === 'number' && column.endsWith('_cents')) return formatCents(value);
  if (isFlagColumn(column) && (value === 0 || value === 1 || typeof value === 'boolean')) {
    return value === 1 || value === true ? 'Yes' : 'No';
  }
  if (typeof value === 'string') {
    const table = referencedTable(column);
    if (table !== null) return rowText({ table, id: value }, nameOf);
    if (ISO_TIME.test(value)) return dateTime(value);
    if (ISO_DAY.test(value)) return dayText(value);
    return value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * A text the server made from table names and ids (a job's title) in the shop's words: table names as
 * words, ids shortened, days as dates, `>` as an arrow.
 */
export function readableText(text: string): string {
  const tables = new RegExp(`\\b(${Object.keys(TABLE_WORDS).join('|')}) (?=\\S)`, 'g');
  return text
    .replace(UUID, (id) => shortId(id))
    .replace(/\b\d{4}-\d{2}-\d{2}\b(?!T)/g, (day) => dayText(day))
    .replace(tables, (_match, table: string) => `${tableWord(table)}${table === 'daily_sales' ? ' of' : ''} `)
    .replace(/ > /g, ' → ');
}

function spaced(name: string): string {
  return name.replaceAll('_', ' ');
}

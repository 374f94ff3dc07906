// Multi-row VALUES statements of a few fixed texts, which SQLite keeps prepared.

/** The most rows of one multi-row VALUES statement on SQLite: 256 rows of 10 values stay far below its 32,766. */
const MAX_VALUES_ROWS = 256;

/**
 * Rows in groups for multi-row `VALUES` statements on SQLite, each a power of two of at most
 * {@link MAX_VALUES_ROWS} rows: a push of any size then runs a handful of statement texts, which stay prepared,
 * where a text per row count would crowd the statement cache. On SQLite a statement of many rows costs far less
 * than a JSON array taken apart by `json_each` (every value parsed out of its text) or than a statement per row
 * through Kysely.
 */
export function valuesGroups<T>(rows: readonly T[]): T[][] {
  const groups: T[][] = [];
  for (let start = 0; start < rows.length;) {
    let size = MAX_VALUES_ROWS;
    while (size > rows.length - start) size /= 2;
    groups.push(rows.slice(start, start + size));
    start += size;
  }
  return groups;
}

/**
 * Items padded to a power of two with copies of the last: for a statement that may see an item twice (an IN
 * list, the rows an update is joined to), whose text then has one of a few sizes and stays prepared.
 */
export function paddedToPowerOfTwo<T>(items: readonly T[]): T[] {
  const last = items[items.length - 1];
  if (last === undefined) return [];
  const size = 2 ** Math.ceil(Math.log2(items.length));
  return [...items, ...new Array<T>(size - items.length).fill(last)];
}

const placeholderTexts = new Map<string, string>();

/** `(?, ?), (?, ?)`: the placeholders of `rowCount` rows of `columnCount` values, for a SQLite `VALUES`. */
export function valuesPlaceholders(rowCount: number, columnCount: number): string {
  const key = `${rowCount}x${columnCount}`;
  let text = placeholderTexts.get(key);
  if (text === undefined) {
    const row = `(${new Array<string>(columnCount).fill('?').join(', ')})`;
    text = new Array<string>(rowCount).fill(row).join(', ');
    placeholderTexts.set(key, text);
  }
  return text;
}

/** Items in chunks of at most `size`, one statement each: statements stay under the engines' bound-value limits. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
}

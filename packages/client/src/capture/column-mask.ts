import type { SchemaColumn, SchemaTable } from '@tillsync/protocol';

/**
 * Which synced columns of a row a pending write set, as one integer the capture triggers can OR together
 * cheaply (`_sync_pending.cols`): bit i stands for the table's column i (in the schema's order). The last
 * bit stands for every column from there on, so a table of any width fits, and the mask stays below 2^53,
 * which JavaScript reads exactly (no BigInt on the push's path).
 *
 * A mask is only meaningful with the column order it was made for: when the schema changes, the masks of
 * pending rows are moved to the new order ({@link remapMask}), so a column the schema adds is never in the
 * mask of a write captured before it existed.
 */

/** How many bits a mask uses. */
export const MASK_BITS = 52;

/** The bit of column `index`. */
export function columnBit(index: number): number {
  return 2 ** Math.min(index, MASK_BITS - 1);
}

/** The mask with every column of a table of `columnCount` columns: a whole-row write. */
export function fullMask(columnCount: number): number {
  return 2 ** Math.min(columnCount, MASK_BITS) - 1;
}

/** Whether `mask` holds column `index`. */
export function hasColumn(mask: number, index: number): boolean {
  return Math.floor(mask / columnBit(index)) % 2 === 1;
}

/** The columns of `table` that `mask` holds; `null` (a whole-row write of an older file) holds them all. */
export function columnsOfMask(table: SchemaTable, mask: number | null): SchemaColumn[] {
  if (mask === null) return [...table.columns];
  return table.columns.filter((_, index) => hasColumn(mask, index));
}

/** The mask of some columns of `table`, by name; names the table does not have are left out. */
export function maskOf(table: SchemaTable, names: Iterable<string>): number {
  return maskOfNames(
    table.columns.map((column) => column.name),
    names,
  );
}

/**
 * A mask made for the column order `from`, moved to the order `to` (a schema change). A column `to` does
 * not have is dropped; a column only `to` has is never set.
 */
export function remapMask(mask: number, from: readonly string[], to: readonly string[]): number {
  return maskOfNames(
    to,
    from.filter((_, index) => hasColumn(mask, index)),
  );
}

/** The mask, in the column order `order`, of the columns named. */
function maskOfNames(order: readonly string[], names: Iterable<string>): number {
  const wanted = new Set(names);
  const bits = new Set<number>();
  order.forEach((name, index) => {
    if (wanted.has(name)) bits.add(columnBit(index));
  });
  let mask = 0;
  for (const bit of bits) mask += bit;
  return mask;
}

import type { DeviceRow, ProductValues } from './types.js';

/** The products whose name or SKU contains `search` (in any case; all when it is blank), sorted by name. */
export function productsFound(
  products: readonly DeviceRow<ProductValues>[],
  search: string,
): DeviceRow<ProductValues>[] {
  const needle = search.trim().toLowerCase();
  return products
    .filter(
      (product) =>
        needle === '' ||
        product.values.name.toLowerCase().includes(needle) ||
        product.values.sku.toLowerCase().includes(needle),
    )
    .sort((a, b) => a.values.name.localeCompare(b.values.name));
}

import type { SeededRandom } from './random.js';
import type { SimDevice } from './world.js';

/**
 * What a shop does on its tills: categories and products, sales that take stock (a sale and its items in one
 * transaction, a foreign-key chain), stock-takes and deliveries, renames and price changes of the same few
 * products on every till (concurrent edits), customers added, edited and deleted, sales voided.
 *
 * The workload keeps to what a shop's rules allow, so that every change can be accepted in the end: products
 * and categories are never deleted (sales and products point at them), a sale is voided only by the till
 * that rang it up, and sales name no customer (a customer deleted on another till would leave the sale
 * pointing at nothing, which the server rightly refuses for good).
 */

/** The counters' oracle: per product, its starting stock plus every delta any device made. */
export class StockLedger {
  readonly expected = new Map<string, number>();

  created(productId: string, stock: number): void {
    this.expected.set(productId, stock);
  }

  moved(productId: string, delta: number): void {
    this.expected.set(productId, (this.expected.get(productId) ?? 0) + delta);
  }
}

export type WriteKind =
  | 'category'
  | 'product'
  | 'sale'
  | 'stock-take'
  | 'delivery'
  | 'rename-product'
  | 'customer'
  | 'edit-customer'
  | 'delete-customer'
  | 'void-sale';

const WRITE_WEIGHTS: Readonly<Record<WriteKind, number>> = {
  category: 5,
  product: 10,
  sale: 22,
  'stock-take': 5,
  delivery: 5,
  'rename-product': 12,
  customer: 10,
  'edit-customer': 14,
  'delete-customer': 8,
  'void-sale': 5,
};

/** The sales each device rang up: only that till voids them. */
export class Workload {
  readonly stock = new StockLedger();
  readonly #random: SeededRandom;
  readonly #salesBy = new Map<number, string[]>();

  constructor(random: SeededRandom) {
    this.#random = random;
  }

  /** One write on the device's file, as the shop's program would make it; returns what it did. */
  write(device: SimDevice): string {
    const random = this.#random;
    const db = device.client.database;
    const ids = (table: string): string[] =>
      (db.prepare(`SELECT id FROM ${table} ORDER BY id`).all() as { id: string }[]).map((row) => row.id);
    // The same few rows on every till, so that edits meet.
    const hot = (table: string): string | undefined => random.pick(ids(table).slice(0, 3));
    const kind = random.weighted(WRITE_WEIGHTS);
    const now = new Date(device.now()).toISOString();
    switch (kind) {
      case 'category': {
        const id = random.id();
        db.prepare('INSERT INTO categories (id, name) VALUES (?, ?)').run(
          id,
          `category ${random.below(1000)}`,
        );
        return `category ${id}`;
      }
      case 'product': {
        const id = random.id();
        const stock = random.below(100);
        const category = random.chance(0.7) ? random.pick(ids('categories')) : undefined;
        db.prepare(
          'INSERT INTO products (id, sku, name, price_cents, stock, category_id) VALUES (?, ?, ?, ?, ?, ?)',
        ).run(id, `SKU-${id}`, `product ${random.below(1000)}`, random.below(1000), stock, category ?? null);
        this.stock.created(id, stock);
        return `product ${id} stock ${stock}`;
      }
      case 'sale': {
        const product = random.chance(0.5) ? hot('products') : random.pick(ids('products'));
        if (!product) return 'no product to sell';
        const quantity = random.between(1, 3);
        const sale = random.id();
        const item = random.id();
        db.transaction(() => {
          db.prepare('INSERT INTO sales (id, total_cents, created_at) VALUES (?, ?, ?)').run(
            sale,
            quantity * 100,
            now,
          );
          db.prepare(
            'INSERT INTO sale_items (id, sale_id, product_id, quantity, price_cents) VALUES (?, ?, ?, ?, 100)',
          ).run(item, sale, product, quantity);
          db.prepare('UPDATE products SET stock = stock - ? WHERE id = ?').run(quantity, product);
        })();
        this.stock.moved(product, -quantity);
        this.#salesBy.set(device.index, [...(this.#salesBy.get(device.index) ?? []), sale]);
        return `sale ${sale} of ${quantity} × ${product}`;
      }
      case 'stock-take':
      case 'delivery': {
        const product = hot('products');
        if (!product) return 'no product to count';
        const before = (
          db.prepare('SELECT stock FROM products WHERE id = ?').get(product) as { stock: number }
        ).stock;
        // A stock-take sets the count it saw; on the wire that is a delta from what this till knew.
        const after = kind === 'stock-take' ? random.below(100) : before + random.between(1, 20);
        db.prepare('UPDATE products SET stock = ? WHERE id = ?').run(after, product);
        this.stock.moved(product, after - before);
        return `${kind} ${product}: ${before} → ${after}`;
      }
      case 'rename-product': {
        const product = hot('products');
        if (!product) return 'no product to rename';
        db.prepare('UPDATE products SET name = ?, price_cents = ? WHERE id = ?').run(
          `renamed ${random.below(1000)}`,
          random.below(1000),
          product,
        );
        return `rename ${product}`;
      }
      case 'customer': {
        const id = random.id();
        db.prepare('INSERT INTO customers (id, name, phone) VALUES (?, ?, ?)').run(
          id,
          `customer ${random.below(1000)}`,
          null,
        );
        return `customer ${id}`;
      }
      case 'edit-customer': {
        const customer = hot('customers');
        if (!customer) return 'no customer to edit';
        db.prepare('UPDATE customers SET phone = ? WHERE id = ?').run(String(random.below(1e6)), customer);
        return `edit customer ${customer}`;
      }
      case 'delete-customer': {
        const customer = hot('customers');
        if (!customer) return 'no customer to delete';
        db.prepare('DELETE FROM customers WHERE id = ?').run(customer);
        return `delete customer ${customer}`;
      }
      case 'void-sale': {
        const local = new Set(ids('sales'));
        const sale = random.pick((this.#salesBy.get(device.index) ?? []).filter((id) => local.has(id)));
        if (!sale) return 'no sale to void';
        db.transaction(() => {
          db.prepare('DELETE FROM sale_items WHERE sale_id = ?').run(sale);
          db.prepare('DELETE FROM sales WHERE id = ?').run(sale);
        })();
        return `void sale ${sale}`;
      }
    }
  }
}

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

/** One entry of the ledger: a product made with its stock, or a delta, by a device's write with this mark. */
interface StockEntry {
  readonly productId: string;
  readonly kind: 'created' | 'moved';
  readonly amount: number;
  readonly deviceIndex: number;
  /** The device file's commit mark after the write (`SimDevice.commitMark`). */
  readonly mark: number;
}

/**
 * The counters' oracle: per product, its starting stock plus every delta any device made, less the writes a
 * power cut took from a device before they were on its disk (those never happened).
 */
export class StockLedger {
  #entries: StockEntry[] = [];

  created(productId: string, stock: number, device: SimDevice): void {
    this.#record(productId, 'created', stock, device);
  }

  moved(productId: string, delta: number, device: SimDevice): void {
    this.#record(productId, 'moved', delta, device);
  }

  /** A power cut took the device's writes after mark `survived`. */
  forget(deviceIndex: number, survived: number): void {
    this.#entries = this.#entries.filter(
      (entry) => entry.deviceIndex !== deviceIndex || entry.mark <= survived,
    );
  }

  /** Per product, the stock it must end with. */
  get expected(): Map<string, number> {
    const expected = new Map<string, number>();
    for (const entry of this.#entries) {
      const before = entry.kind === 'created' ? 0 : (expected.get(entry.productId) ?? 0);
      expected.set(entry.productId, before + entry.amount);
    }
    return expected;
  }

  #record(productId: string, kind: StockEntry['kind'], amount: number, device: SimDevice): void {
    this.#entries.push({ productId, kind, amount, deviceIndex: device.index, mark: device.commitMark() });
  }
}

export type WriteKind =
  | 'category'
  | 'product'
  | 'sale'
  | 'stock-take'
  | 'delivery'
  | 'rename-product'
  | 'reprice-product'
  | 'set-barcode'
  | 'customer'
  | 'edit-customer'
  | 'email-customer'
  | 'delete-customer'
  | 'void-sale';

const WRITE_WEIGHTS: Readonly<Record<WriteKind, number>> = {
  category: 5,
  product: 10,
  sale: 22,
  'stock-take': 5,
  delivery: 5,
  'rename-product': 8,
  'reprice-product': 8,
  'set-barcode': 6,
  customer: 10,
  'edit-customer': 8,
  'email-customer': 8,
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
        this.stock.created(id, stock, device);
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
        this.stock.moved(product, -quantity, device);
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
        this.stock.moved(product, after - before, device);
        return `${kind} ${product}: ${before} → ${after}`;
      }
      case 'rename-product': {
        const product = hot('products');
        if (!product) return 'no product to rename';
        // One column: another till may be repricing the same product meanwhile, and both edits stay.
        db.prepare('UPDATE products SET name = ? WHERE id = ?').run(`renamed ${random.below(1000)}`, product);
        return `rename ${product}`;
      }
      case 'reprice-product': {
        const product = hot('products');
        if (!product) return 'no product to reprice';
        db.prepare('UPDATE products SET price_cents = ? WHERE id = ?').run(random.below(1000), product);
        return `reprice ${product}`;
      }
      case 'set-barcode': {
        // The column comes with the schema's second version; a till that has not synced since does not have it.
        const product = hot('products');
        const hasBarcode = (
          db.prepare('SELECT name FROM pragma_table_info(?)').all('products') as {
            name: string;
          }[]
        ).some((column) => column.name === 'barcode');
        if (!product || !hasBarcode) return 'no barcode column or product yet';
        db.prepare('UPDATE products SET barcode = ? WHERE id = ?').run(String(random.below(1e8)), product);
        return `barcode for ${product}`;
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
      case 'email-customer': {
        const customer = hot('customers');
        if (!customer) return 'no customer to email';
        db.prepare('UPDATE customers SET email = ? WHERE id = ?').run(
          `c${random.below(1e6)}@shop.test`,
          customer,
        );
        return `email of customer ${customer}`;
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

import type { Database } from 'better-sqlite3';
import type { SeededRandom } from './random.js';

/** What the workload needs of a device: its file, its clock, and the commit mark of its writes. */
export interface WorkloadDevice {
  readonly index: number;
  /** The store the device belongs to in a chain (PROTOCOL.md §7); none in a single shop. */
  readonly storeId?: string | null;
  readonly client: { readonly database: Database };
  now(): number;
  /** How many commits the device's file has seen (`SimDevice.commitMark`); 0 where power never fails. */
  commitMark(): number;
}

/**
 * What a shop does on its tills: categories and products, sales that take stock (a sale and its items in one
 * transaction, a foreign-key chain), stock-takes and deliveries, renames and price changes of the same few
 * products on every till (concurrent edits), customers added, edited and deleted, sales voided.
 *
 * Two shapes of data (see {@link WorkloadShape}). In creation order, the workload keeps to what a shop's rules
 * allow, so that every change can be accepted in the end: products and categories are never deleted (sales
 * and products point at them), a sale is voided only by the till that rang it up, and sales name no customer.
 * Real shapes are what a shop open for a year makes: random ids beside time-ordered ones, edits of old rows
 * across the whole table, sales that name a customer, and deletes of parents that rows still point at.
 */

/**
 * - `real`: ids both random (UUIDv4, as `crypto.randomUUID()` makes them) and time-ordered (UUIDv7-like),
 *   every seed both; edits of any row, old ones included; deletes of categories and customers that rows
 *   still point at through an optional reference (the server clears it), and of products that sale items
 *   point at through a required one (the server refuses while they do).
 * - `creation-order`: the workload the simulation had before: UUIDv7-like ids only, edits of the same few
 *   rows, parents deleted only with their children. Kept so that the schedules of seeds that once failed
 *   replay as they were found.
 */
export type WorkloadShape = 'real' | 'creation-order';

/**
 * In a chain (`chainStores`), the same shop on the chain schema: the catalogue and customers are shared,
 * each sale and its items are rung up in the till's own store, and stock is counted per store and product
 * in `stock_levels` (the server makes each store's level of a new product: chain-jobs.ts), which sales,
 * stock-takes and deliveries change by deltas; the ledger then counts per level.
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
  /** Products a device deleted: their stock is not counted where the delete stood. */
  readonly deleted = new Set<string>();

  created(productId: string, stock: number, device: WorkloadDevice): void {
    this.#record(productId, 'created', stock, device);
  }

  moved(productId: string, delta: number, device: WorkloadDevice): void {
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

  #record(productId: string, kind: StockEntry['kind'], amount: number, device: WorkloadDevice): void {
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
  | 'void-sale'
  | 'recategorize-product'
  | 'edit-old-row'
  | 'delete-category'
  | 'delete-product';

/** The writes of the creation-order shape, weighted as they always were (so old schedules replay). */
const CREATION_ORDER_WEIGHTS: Readonly<Partial<Record<WriteKind, number>>> = {
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

const REAL_WEIGHTS: Readonly<Record<WriteKind, number>> = {
  ...(CREATION_ORDER_WEIGHTS as Record<WriteKind, number>),
  'delete-customer': 5,
  'recategorize-product': 5,
  'edit-old-row': 10,
  'delete-category': 3,
  'delete-product': 3,
};

/**
 * The ids of the real shape: each row's id is a random UUIDv4 or a time-ordered UUIDv7-like one, in a share
 * drawn per seed; a seed's first two ids are one of each, so every seed has both.
 */
class MixedIds {
  readonly #random: SeededRandom;
  readonly #randomShare: number;
  #made = { random: 0, ordered: 0 };

  constructor(random: SeededRandom) {
    this.#random = random;
    this.#randomShare = 0.2 + 0.6 * random.next();
  }

  next(): string {
    const { random, ordered } = this.#made;
    const useRandom =
      random === 0 && ordered > 0
        ? true
        : ordered === 0 && random > 0
          ? false
          : this.#random.chance(this.#randomShare);
    if (useRandom) this.#made.random += 1;
    else this.#made.ordered += 1;
    return useRandom ? this.#random.uuid4() : this.#random.id();
  }
}

/** What the shop's program does on its tills, drawn from the seed; the sales each device rang up (only that till voids them). */
export class Workload {
  readonly stock = new StockLedger();
  readonly shape: WorkloadShape;
  readonly #random: SeededRandom;
  readonly #ids: MixedIds | null;
  readonly #salesBy = new Map<number, string[]>();
  /** Every row a device deleted, as `table\u0000id`, whether or not the delete stood. */
  readonly deletedRows = new Set<string>();
  /** Sales whose items keep a product the workload tried to delete: never voided. */
  readonly #kept = new Set<string>();
  /** Per table, the ids made so far on any device, oldest first: the table's history. */
  readonly #history = new Map<string, string[]>();
  /** Each sale made, with its items' ids. */
  readonly saleItems = new Map<string, string[]>();
  /** Whether the shop is a chain (chain schema): stock per store, sales in the till's store. */
  readonly #chain: boolean;

  constructor(random: SeededRandom, shape: WorkloadShape = 'real', chain = false) {
    this.#random = random;
    this.shape = shape;
    this.#chain = chain;
    this.#ids = shape === 'real' ? new MixedIds(random) : null;
  }

  /** One write on the device's file, as the shop's program would make it; returns what it did. */
  write(device: WorkloadDevice): string {
    const random = this.#random;
    const real = this.shape === 'real';
    const db = device.client.database;
    const ids = (table: string): string[] =>
      (db.prepare(`SELECT id FROM ${table} ORDER BY id`).all() as { id: string }[]).map((row) => row.id);
    // The same few rows on every till, so that edits meet.
    const hot = (table: string): string | undefined => random.pick(ids(table).slice(0, 3));
    // Real shapes edit any row, old or new, half the time; the other half the same few rows, so edits meet.
    const edited = (table: string): string | undefined =>
      real && random.chance(0.5) ? random.pick(ids(table)) : hot(table);
    const newId = (table: string): string => {
      const id = this.#ids?.next() ?? random.id();
      this.#history.set(table, [...(this.#history.get(table) ?? []), id]);
      return id;
    };
    const kind = random.weighted(real ? REAL_WEIGHTS : (CREATION_ORDER_WEIGHTS as Record<WriteKind, number>));
    const now = new Date(device.now()).toISOString();
    switch (kind) {
      case 'category': {
        const id = newId('categories');
        db.prepare('INSERT INTO categories (id, name) VALUES (?, ?)').run(
          id,
          `category ${random.below(1000)}`,
        );
        return `category ${id}`;
      }
      case 'product': {
        const id = newId('products');
        const stock = random.below(100);
        const category = random.chance(0.7) ? random.pick(ids('categories')) : undefined;
        if (this.#chain) {
          // The server makes the product's stock level in every store.
          db.prepare(
            'INSERT INTO products (id, sku, name, price_cents, category_id) VALUES (?, ?, ?, ?, ?)',
          ).run(id, `SKU-${id}`, `product ${random.below(1000)}`, random.below(1000), category ?? null);
          return `product ${id}`;
        }
        db.prepare(
          'INSERT INTO products (id, sku, name, price_cents, stock, category_id) VALUES (?, ?, ?, ?, ?, ?)',
        ).run(id, `SKU-${id}`, `product ${random.below(1000)}`, random.below(1000), stock, category ?? null);
        this.stock.created(id, stock, device);
        return `product ${id} stock ${stock}`;
      }
      case 'sale': {
        if (this.#chain) return this.#chainSale(device, now);
        const product = random.chance(0.5) ? hot('products') : random.pick(ids('products'));
        if (!product) return 'no product to sell';
        const quantity = random.between(1, 3);
        const sale = newId('sales');
        const item = newId('sale_items');
        // A sale may name a customer another till deletes meanwhile: the server clears the reference.
        const customer = real && random.chance(0.5) ? (random.pick(ids('customers')) ?? null) : null;
        db.transaction(() => {
          db.prepare('INSERT INTO sales (id, total_cents, created_at, customer_id) VALUES (?, ?, ?, ?)').run(
            sale,
            quantity * 100,
            now,
            customer,
          );
          db.prepare(
            'INSERT INTO sale_items (id, sale_id, product_id, quantity, price_cents) VALUES (?, ?, ?, ?, 100)',
          ).run(item, sale, product, quantity);
          db.prepare('UPDATE products SET stock = stock - ? WHERE id = ?').run(quantity, product);
        })();
        this.stock.moved(product, -quantity, device);
        this.#salesBy.set(device.index, [...(this.#salesBy.get(device.index) ?? []), sale]);
        return `sale ${sale} of ${quantity} × ${product}${customer ? ` to ${customer}` : ''}`;
      }
      case 'stock-take':
      case 'delivery': {
        if (this.#chain) return this.#chainCount(device, kind);
        const product = edited('products');
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
        const product = edited('products');
        if (!product) return 'no product to rename';
        // One column: another till may be repricing the same product meanwhile, and both edits stay.
        db.prepare('UPDATE products SET name = ? WHERE id = ?').run(`renamed ${random.below(1000)}`, product);
        return `rename ${product}`;
      }
      case 'reprice-product': {
        const product = edited('products');
        if (!product) return 'no product to reprice';
        db.prepare('UPDATE products SET price_cents = ? WHERE id = ?').run(random.below(1000), product);
        return `reprice ${product}`;
      }
      case 'set-barcode': {
        // The column comes with the schema's second version; a till that has not synced since does not have it.
        const product = edited('products');
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
        const id = newId('customers');
        db.prepare('INSERT INTO customers (id, name, phone) VALUES (?, ?, ?)').run(
          id,
          `customer ${random.below(1000)}`,
          null,
        );
        return `customer ${id}`;
      }
      case 'edit-customer': {
        const customer = edited('customers');
        if (!customer) return 'no customer to edit';
        db.prepare('UPDATE customers SET phone = ? WHERE id = ?').run(String(random.below(1e6)), customer);
        return `edit customer ${customer}`;
      }
      case 'email-customer': {
        const customer = edited('customers');
        if (!customer) return 'no customer to email';
        db.prepare('UPDATE customers SET email = ? WHERE id = ?').run(
          `c${random.below(1e6)}@shop.test`,
          customer,
        );
        return `email of customer ${customer}`;
      }
      case 'delete-customer': {
        // Sales that name the customer keep their rows; the server clears their reference. Any customer of
        // this till, one made here and not pushed yet too: the till then tells the server of the delete, so
        // the sales that named the customer are not refused.
        const customer = real ? random.pick(ids('customers')) : hot('customers');
        if (!customer) return 'no customer to delete';
        db.prepare('DELETE FROM customers WHERE id = ?').run(customer);
        this.deletedRows.add(`customers\u0000${customer}`);
        return `delete customer ${customer}`;
      }
      case 'void-sale': {
        // A till voids its sales in the store it belongs to now (it holds no other store's).
        const local = new Set(
          this.#chain
            ? (
                db.prepare('SELECT id FROM sales WHERE store_id = ?').all(device.storeId ?? null) as {
                  id: string;
                }[]
              ).map((row) => row.id)
            : ids('sales'),
        );
        const sale = random.pick(
          (this.#salesBy.get(device.index) ?? []).filter((id) => local.has(id) && !this.#kept.has(id)),
        );
        if (!sale) return 'no sale to void';
        db.transaction(() => {
          db.prepare('DELETE FROM sale_items WHERE sale_id = ?').run(sale);
          db.prepare('DELETE FROM sales WHERE id = ?').run(sale);
        })();
        return `void sale ${sale}`;
      }
      case 'recategorize-product': {
        // Meets a category deleted on another till: the server clears the reference it no longer can hold.
        const product = edited('products');
        const category = random.pick(ids('categories'));
        if (!product || !category) return 'no product or category to file it under';
        db.prepare('UPDATE products SET category_id = ? WHERE id = ?').run(category, product);
        return `file ${product} under ${category}`;
      }
      case 'edit-old-row': {
        // A row from the oldest half of the table's history, edited long after it was made (the schedule
        // moves the clock on by hours and days): the pull order by last change is no longer key order.
        const table = random.chance(0.5) ? 'products' : 'customers';
        const local = new Set(ids(table));
        const history = (this.#history.get(table) ?? []).filter((id) => local.has(id));
        const row = random.pick(history.slice(0, Math.max(1, Math.ceil(history.length / 2))));
        if (!row) return `no old ${table} row to edit`;
        if (table === 'products')
          db.prepare('UPDATE products SET name = ? WHERE id = ?').run(
            `old renamed ${random.below(1000)}`,
            row,
          );
        else db.prepare('UPDATE customers SET phone = ? WHERE id = ?').run(String(random.below(1e6)), row);
        return `edit old ${table} ${row}`;
      }
      case 'delete-category': {
        // Products filed under it stay; the server clears their category_id as its own write. Any category
        // of this till, one made here and not pushed yet too (see delete-customer).
        const category = random.pick(ids('categories'));
        if (!category) return 'no category to delete';
        db.prepare('DELETE FROM categories WHERE id = ?').run(category);
        this.deletedRows.add(`categories\u0000${category}`);
        return `delete category ${category}`;
      }
      case 'delete-product': {
        // A product that sale items the server already has point at: the server refuses the delete
        // (FK_VIOLATION), and the till takes the product back, with the stock it moved here before the
        // delete still counted. The tills never void the sale they belong to after, so the server keeps
        // refusing; the shop program may void it (its own receipt), and a delete that reaches the server
        // after that stands. Not one no synced item needs: a delete that may stand, and a till that sold the product
        // meanwhile brings it back whole with its own count of the stock, which the counters' oracle
        // (every delta on one start) does not model. Nor one this till's own unsent items name: should the
        // server have let another till's delete of it stand meanwhile (every synced item of it voided),
        // this till's delete and that one leave no copy of the product anywhere to write back, and the
        // server refuses those items for good (they stay pending with FK_VIOLATION; see docs/merges-and-conflicts.md).
        const unsent = (table: string, alias: string): string =>
          `EXISTS (SELECT 1 FROM _sync_pending WHERE tbl = '${table}' AND id = ${alias}.id)
           OR EXISTS (SELECT 1 FROM _sync_captured WHERE tbl = '${table}' AND id = ${alias}.id)`;
        const sold = db
          .prepare(
            `SELECT si.product_id AS product, si.sale_id AS sale FROM sale_items AS si JOIN products AS p ON p.id = si.product_id
             WHERE NOT (${unsent('sale_items', 'si')})
               AND NOT EXISTS (SELECT 1 FROM sale_items AS mine WHERE mine.product_id = si.product_id AND (${unsent('sale_items', 'mine')}))
             ORDER BY si.id`,
          )
          .all() as { product: string; sale: string }[];
        const chosen = random.pick(sold);
        if (!chosen) return 'no sold product to delete';
        this.#kept.add(chosen.sale);
        db.prepare('DELETE FROM products WHERE id = ?').run(chosen.product);
        this.deletedRows.add(`products\u0000${chosen.product}`);
        this.stock.deleted.add(chosen.product);
        return `delete product ${chosen.product}, still sold on sale ${chosen.sale}`;
      }
    }
  }

  /** The levels of the device's store it holds, in a chain: `[level id, product id]`. */
  #levels(device: WorkloadDevice): { id: string; product_id: string }[] {
    return device.client.database
      .prepare('SELECT id, product_id FROM stock_levels WHERE store_id = ? ORDER BY id')
      .all(device.storeId ?? null) as { id: string; product_id: string }[];
  }

  /** A sale in a chain: in the till's store, taking stock from that store's level of the product. */
  #chainSale(device: WorkloadDevice, now: string): string {
    const random = this.#random;
    const db = device.client.database;
    const levels = this.#levels(device);
    const level = random.chance(0.5) ? random.pick(levels.slice(0, 3)) : random.pick(levels);
    const storeId = device.storeId ?? null;
    if (!level || storeId === null) return 'no stock level to sell from';
    const quantity = random.between(1, 3);
    const sale = this.#ids?.next() ?? random.id();
    const item = this.#ids?.next() ?? random.id();
    const customers = db.prepare('SELECT id FROM customers ORDER BY id').all() as { id: string }[];
    const customer = random.chance(0.5) ? (random.pick(customers)?.id ?? null) : null;
    db.transaction(() => {
      db.prepare(
        'INSERT INTO sales (id, store_id, total_cents, created_at, customer_id) VALUES (?, ?, ?, ?, ?)',
      ).run(sale, storeId, quantity * 100, now, customer);
      db.prepare(
        'INSERT INTO sale_items (id, store_id, sale_id, product_id, quantity, price_cents) VALUES (?, ?, ?, ?, ?, 100)',
      ).run(item, storeId, sale, level.product_id, quantity);
      db.prepare('UPDATE stock_levels SET quantity = quantity - ? WHERE id = ?').run(quantity, level.id);
    })();
    this.stock.moved(level.id, -quantity, device);
    this.#salesBy.set(device.index, [...(this.#salesBy.get(device.index) ?? []), sale]);
    this.saleItems.set(sale, [item]);
    return `sale ${sale} in store ${storeId} of ${quantity} × ${level.product_id}${customer ? ` to ${customer}` : ''}`;
  }

  /** A stock-take or a delivery in a chain: of the till's store's level of a product. */
  #chainCount(device: WorkloadDevice, kind: 'stock-take' | 'delivery'): string {
    const random = this.#random;
    const db = device.client.database;
    const level = random.pick(this.#levels(device));
    if (!level) return 'no stock level to count';
    const before = (
      db.prepare('SELECT quantity FROM stock_levels WHERE id = ?').get(level.id) as { quantity: number }
    ).quantity;
    const after = kind === 'stock-take' ? random.below(100) : before + random.between(1, 20);
    db.prepare('UPDATE stock_levels SET quantity = ? WHERE id = ?').run(after, level.id);
    this.stock.moved(level.id, after - before, device);
    return `${kind} of level ${level.id} in store ${device.storeId ?? '-'}: ${before} → ${after}`;
  }
}

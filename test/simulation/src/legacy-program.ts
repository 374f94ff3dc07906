import path from 'node:path';
import Database from 'better-sqlite3';
import { attachLegacyDatabase } from '@tillsync/client';
import type { RowValues } from '@tillsync/protocol';
import { serverRows } from './invariants.js';
import type { SeededRandom } from './random.js';
import { StockLedger } from './workload.js';
import type { SimDevice, World } from './world.js';

/**
 * A shop program nobody here wrote, on one of the simulation's tills: it keeps its own SQLite database with
 * its own habits (integer keys it picks itself as the highest + 1, receipts numbered by the database, a
 * receipt's lines keyed by receipt and article, categories under categories, a receipt's lines deleted with
 * it by the database's cascade), and writes it with its own workload. The till's device file is bound to it
 * with `attachLegacyDatabase` and a map, and every cycle of that device runs framed by the bridge, as the
 * device agent runs it (`SimDevice.bridged`); the rest of the schedule (offline periods, crashes, power
 * cuts) is the world's. After quiescence {@link LegacyProgram.check} reads the program's database,
 * translates it through the id map, and compares it with the server.
 *
 * The program's file keeps SQLite's default rollback journal with `synchronous = FULL`, as most such programs
 * do: a power cut takes none of its commits (the simulated disk cuts write-ahead logs only), while the
 * device file beside it loses what it had not synced.
 *
 * It keeps to the rules the other tills keep (workload.ts): it never deletes an article or a category (other
 * tills' sales and products point at them), voids only its own receipts, and its receipts name no client.
 */

/** Mixed into the seed for the program's own generator. */
export const LEGACY_SEED_SALT = 0x165667b1;
/** How often a seed has a till that runs the shop program. */
const LEGACY_CHANCE = 0.7;
const LEGACY_FILE = 'legacy-shop.db';

const LEGACY_SCHEMA = `
  CREATE TABLE Category (CatNo INT NOT NULL PRIMARY KEY, Title TEXT NOT NULL,
    ParentNo INT REFERENCES Category (CatNo) ON DELETE SET NULL);
  CREATE TABLE Article (ArtNo INT NOT NULL PRIMARY KEY, Code TEXT NOT NULL UNIQUE, Title TEXT NOT NULL,
    Price NUMERIC(10,2) NOT NULL, Stock INT NOT NULL DEFAULT 0,
    CatNo INT REFERENCES Category (CatNo) ON DELETE SET NULL,
    Active TEXT NOT NULL DEFAULT 'Y' CHECK (Active IN ('Y', 'N')));
  CREATE TABLE Client (ClientNo INT NOT NULL PRIMARY KEY, Name TEXT NOT NULL, Phone TEXT, Email TEXT);
  CREATE TABLE Receipt (ReceiptNo INTEGER PRIMARY KEY, ClientNo INT REFERENCES Client (ClientNo) ON DELETE SET NULL,
    Total NUMERIC(10,2) NOT NULL, SoldAt DATETIME NOT NULL);
  CREATE TABLE ReceiptLine (ReceiptNo INT NOT NULL REFERENCES Receipt (ReceiptNo) ON DELETE CASCADE,
    ArtNo INT NOT NULL REFERENCES Article (ArtNo), Qty INT NOT NULL CHECK (Qty > 0),
    Price NUMERIC(10,2) NOT NULL, PRIMARY KEY (ReceiptNo, ArtNo));
`;

/** The map `tillsync attach` takes for this program's database (docs/adopt.md). */
const LEGACY_MAP = {
  legacy: { sqlite: LEGACY_FILE },
  tables: {
    categories: {
      table: 'Category',
      key: 'CatNo',
      newKeys: 'max+1',
      columns: { name: 'Title', parent_id: 'ParentNo' },
    },
    products: {
      table: 'Article',
      key: 'ArtNo',
      newKeys: 'max+1',
      columns: {
        sku: 'Code',
        name: 'Title',
        price_cents: { column: 'Price', convert: 'decimal-to-cents' },
        stock: 'Stock',
        category_id: 'CatNo',
        active: { column: 'Active', values: { Y: 1, N: 0 } },
      },
    },
    customers: {
      table: 'Client',
      key: 'ClientNo',
      newKeys: 'max+1',
      columns: { name: 'Name', phone: 'Phone', email: 'Email' },
    },
    sales: {
      table: 'Receipt',
      key: 'ReceiptNo',
      columns: {
        customer_id: 'ClientNo',
        total_cents: { column: 'Total', convert: 'decimal-to-cents' },
        created_at: { column: 'SoldAt', convert: 'datetime-to-iso' },
      },
    },
    sale_items: {
      table: 'ReceiptLine',
      key: ['ReceiptNo', 'ArtNo'],
      columns: {
        sale_id: 'ReceiptNo',
        product_id: 'ArtNo',
        quantity: 'Qty',
        price_cents: { column: 'Price', convert: 'decimal-to-cents' },
      },
    },
  },
};

type ProgramWrite =
  | 'category'
  | 'move-category'
  | 'article'
  | 'sale'
  | 'stock-take'
  | 'delivery'
  | 'rename-article'
  | 'reprice-article'
  | 'retire-article'
  | 'client'
  | 'edit-client'
  | 'email-client'
  | 'delete-client'
  | 'void-receipt';

const WRITE_WEIGHTS: Readonly<Record<ProgramWrite, number>> = {
  category: 5,
  'move-category': 3,
  article: 8,
  sale: 22,
  'stock-take': 5,
  delivery: 5,
  'rename-article': 8,
  'reprice-article': 8,
  'retire-article': 3,
  client: 8,
  'edit-client': 6,
  'email-client': 6,
  'delete-client': 6,
  'void-receipt': 6,
};

/** One stock movement the program made, by its own article number (the global id comes with the bring-in). */
interface ArticleStock {
  readonly artNo: number;
  readonly kind: 'created' | 'moved';
  readonly amount: number;
}

/** The program's rows, as the oracle translates them. */
interface LegacyRows {
  readonly Category: { CatNo: number; Title: string; ParentNo: number | null }[];
  readonly Article: {
    ArtNo: number;
    Code: string;
    Title: string;
    Price: number;
    Stock: number;
    CatNo: number | null;
    Active: string;
  }[];
  readonly Client: { ClientNo: number; Name: string; Phone: string | null; Email: string | null }[];
  readonly Receipt: { ReceiptNo: number; ClientNo: number | null; Total: number; SoldAt: string }[];
  readonly ReceiptLine: { ReceiptNo: number; ArtNo: number; Qty: number; Price: number }[];
}

/** The shop program and its database, on one till of the world. */
export class LegacyProgram {
  readonly device: SimDevice;
  readonly file: string;
  readonly #random: SeededRandom;
  readonly #stock: ArticleStock[] = [];
  /** The receipts the program rang up itself and has not voided: only those it voids. */
  #ownReceipts: number[] = [];
  #db: Database.Database | null = null;

  private constructor(device: SimDevice, file: string, random: SeededRandom) {
    this.device = device;
    this.file = file;
    this.#random = random;
  }

  /**
   * Draws whether this seed has a till running the shop program (from `random`, the program's own
   * generator) and, if so, makes its database with a few rows of its past, and attaches it to the last
   * device's file as an owner adopting it would.
   */
  static async adopt(world: World, random: SeededRandom): Promise<LegacyProgram | null> {
    if (!random.chance(LEGACY_CHANCE)) return null;
    const device = world.devices.at(-1) as SimDevice;
    const program = new LegacyProgram(device, path.join(world.folder, LEGACY_FILE), random);
    program.#database.exec(LEGACY_SCHEMA);
    // Its past: categories (perhaps one under another), articles, a client, and a sale.
    const past: readonly ProgramWrite[] = [
      'category',
      'category',
      'article',
      'article',
      'article',
      'client',
      'sale',
      'category',
    ];
    for (const kind of past) program.write(kind);
    device.bridge();
    await attachLegacyDatabase({ dbPath: device.dbPath, map: LEGACY_MAP, mapFolder: world.folder });
    world.note(`device ${device.index} is the shop program's till: its own database, attached by a map`);
    return program;
  }

  /** One write of the program on its own database, drawn from its generator; returns what it did. */
  write(kind: ProgramWrite = this.#random.weighted(WRITE_WEIGHTS)): string {
    const random = this.#random;
    const db = this.#database;
    const keys = (sql: string): number[] => (db.prepare(sql).pluck().all() as number[]).map(Number);
    // The first few rows are the ones every till edits, so that edits meet.
    const hot = (table: string, key: string): number | undefined =>
      random.pick(keys(`SELECT ${key} FROM ${table} ORDER BY ${key} LIMIT 3`));
    /** The program's own habit: the highest key + 1, in the transaction that inserts the row. */
    const nextKey = (table: string, key: string): number =>
      Number(db.prepare(`SELECT COALESCE(MAX(${key}), 0) + 1 FROM ${table}`).pluck().get());
    switch (kind) {
      case 'category': {
        const parent = random.chance(0.4) ? random.pick(keys('SELECT CatNo FROM Category')) : undefined;
        const title = `group ${random.below(1000)}`;
        const catNo = db
          .transaction(() => {
            const next = nextKey('Category', 'CatNo');
            db.prepare('INSERT INTO Category (CatNo, Title, ParentNo) VALUES (?, ?, ?)').run(
              next,
              title,
              parent ?? null,
            );
            return next;
          })
          .immediate();
        return `program: category ${catNo}${parent === undefined ? '' : ` under ${parent}`}`;
      }
      case 'move-category': {
        const catNo = random.pick(keys('SELECT CatNo FROM Category'));
        if (catNo === undefined) return 'program: no category to move';
        // Under a category made before it, or none: the tree never loops.
        const parent = random.pick(keys(`SELECT CatNo FROM Category WHERE CatNo < ${catNo}`));
        db.prepare('UPDATE Category SET ParentNo = ? WHERE CatNo = ?').run(parent ?? null, catNo);
        return `program: category ${catNo} now under ${parent ?? 'nothing'}`;
      }
      case 'article': {
        const stock = random.below(100);
        const category = random.chance(0.7) ? random.pick(keys('SELECT CatNo FROM Category')) : undefined;
        const price = random.below(1000);
        const title = `article ${random.below(1000)}`;
        const artNo = db
          .transaction(() => {
            const next = nextKey('Article', 'ArtNo');
            db.prepare(
              'INSERT INTO Article (ArtNo, Code, Title, Price, Stock, CatNo) VALUES (?, ?, ?, ?, ?, ?)',
            ).run(next, `ART-${next}`, title, price / 100, stock, category ?? null);
            return next;
          })
          .immediate();
        this.#stock.push({ artNo, kind: 'created', amount: stock });
        return `program: article ${artNo} stock ${stock}`;
      }
      case 'sale': {
        const all = keys('SELECT ArtNo FROM Article ORDER BY ArtNo');
        const first = random.chance(0.5) ? hot('Article', 'ArtNo') : random.pick(all);
        if (first === undefined) return 'program: no article to sell';
        const second = random.chance(0.3) ? random.pick(all.filter((artNo) => artNo !== first)) : undefined;
        const lines = [first, ...(second === undefined ? [] : [second])].map((artNo) => ({
          artNo,
          qty: random.between(1, 3),
        }));
        const soldAt = new Date(this.device.now()).toISOString().slice(0, 19).replace('T', ' ');
        const receiptNo = db
          .transaction(() => {
            const priced = lines.map((line) => ({
              ...line,
              price: Number(db.prepare('SELECT Price FROM Article WHERE ArtNo = ?').pluck().get(line.artNo)),
            }));
            const total = priced.reduce((sum, line) => sum + Math.round(line.price * 100) * line.qty, 0);
            const receipt = Number(
              db.prepare('INSERT INTO Receipt (Total, SoldAt) VALUES (?, ?)').run(total / 100, soldAt)
                .lastInsertRowid,
            );
            for (const line of priced) {
              db.prepare('INSERT INTO ReceiptLine (ReceiptNo, ArtNo, Qty, Price) VALUES (?, ?, ?, ?)').run(
                receipt,
                line.artNo,
                line.qty,
                line.price,
              );
              db.prepare('UPDATE Article SET Stock = Stock - ? WHERE ArtNo = ?').run(line.qty, line.artNo);
            }
            return receipt;
          })
          .immediate();
        for (const line of lines) this.#stock.push({ artNo: line.artNo, kind: 'moved', amount: -line.qty });
        this.#ownReceipts.push(receiptNo);
        return `program: receipt ${receiptNo} of ${lines.map((line) => `${line.qty} × article ${line.artNo}`).join(', ')}`;
      }
      case 'stock-take':
      case 'delivery': {
        const artNo = hot('Article', 'ArtNo');
        if (artNo === undefined) return 'program: no article to count';
        const before = Number(db.prepare('SELECT Stock FROM Article WHERE ArtNo = ?').pluck().get(artNo));
        const after = kind === 'stock-take' ? random.below(100) : before + random.between(1, 20);
        db.prepare('UPDATE Article SET Stock = ? WHERE ArtNo = ?').run(after, artNo);
        this.#stock.push({ artNo, kind: 'moved', amount: after - before });
        return `program: ${kind} article ${artNo}: ${before} → ${after}`;
      }
      case 'rename-article': {
        const artNo = hot('Article', 'ArtNo');
        if (artNo === undefined) return 'program: no article to rename';
        db.prepare('UPDATE Article SET Title = ? WHERE ArtNo = ?').run(
          `renamed ${random.below(1000)}`,
          artNo,
        );
        return `program: rename article ${artNo}`;
      }
      case 'reprice-article': {
        const artNo = hot('Article', 'ArtNo');
        if (artNo === undefined) return 'program: no article to reprice';
        db.prepare('UPDATE Article SET Price = ? WHERE ArtNo = ?').run(random.below(1000) / 100, artNo);
        return `program: reprice article ${artNo}`;
      }
      case 'retire-article': {
        const artNo = random.pick(keys('SELECT ArtNo FROM Article'));
        if (artNo === undefined) return 'program: no article to retire';
        db.prepare(
          "UPDATE Article SET Active = CASE Active WHEN 'Y' THEN 'N' ELSE 'Y' END WHERE ArtNo = ?",
        ).run(artNo);
        return `program: article ${artNo} retired or back`;
      }
      case 'client': {
        const name = `client ${random.below(1000)}`;
        const clientNo = db
          .transaction(() => {
            const next = nextKey('Client', 'ClientNo');
            db.prepare('INSERT INTO Client (ClientNo, Name) VALUES (?, ?)').run(next, name);
            return next;
          })
          .immediate();
        return `program: client ${clientNo}`;
      }
      case 'edit-client': {
        const clientNo = hot('Client', 'ClientNo');
        if (clientNo === undefined) return 'program: no client to edit';
        db.prepare('UPDATE Client SET Phone = ? WHERE ClientNo = ?').run(String(random.below(1e6)), clientNo);
        return `program: edit client ${clientNo}`;
      }
      case 'email-client': {
        const clientNo = hot('Client', 'ClientNo');
        if (clientNo === undefined) return 'program: no client to email';
        db.prepare('UPDATE Client SET Email = ? WHERE ClientNo = ?').run(
          `p${random.below(1e6)}@shop.test`,
          clientNo,
        );
        return `program: email of client ${clientNo}`;
      }
      case 'delete-client': {
        const clientNo = hot('Client', 'ClientNo');
        if (clientNo === undefined) return 'program: no client to delete';
        db.prepare('DELETE FROM Client WHERE ClientNo = ?').run(clientNo);
        return `program: delete client ${clientNo}`;
      }
      case 'void-receipt': {
        const present = new Set(keys('SELECT ReceiptNo FROM Receipt'));
        this.#ownReceipts = this.#ownReceipts.filter((receiptNo) => present.has(receiptNo));
        const receiptNo = random.pick(this.#ownReceipts);
        if (receiptNo === undefined) return 'program: no receipt to void';
        // Its lines go with it: the database's cascade, not the program.
        db.prepare('DELETE FROM Receipt WHERE ReceiptNo = ?').run(receiptNo);
        this.#ownReceipts = this.#ownReceipts.filter((own) => own !== receiptNo);
        return `program: void receipt ${receiptNo} and its lines`;
      }
    }
  }

  /**
   * The counters' oracle with the program's stock movements in it: the other tills' ledger, plus each
   * article's start and every change the program made, by the global id its article number has now.
   */
  stockWith(others: StockLedger): StockLedger {
    const expected = others.expected;
    const ids = this.#globalIds('products');
    for (const entry of this.#stock) {
      const id = ids.get(entry.artNo);
      // An article without an id is reported by check().
      if (id === undefined) continue;
      expected.set(id, (expected.get(id) ?? 0) + entry.amount);
    }
    return new ExpectedStock(expected, others.deleted);
  }

  /**
   * After quiescence: the program's database, translated through the id map (keys to global ids, amounts
   * to cents, Y/N to 1/0, its times to ISO times), holds exactly the server's rows of the bound tables;
   * nothing waits in the changelog, the inbox or the refusals.
   */
  async check(world: World): Promise<string[]> {
    const problems: string[] = [];
    const db = this.#database;
    const device = this.device.client.database;
    const count = (database: Database.Database, sql: string): number =>
      Number(database.prepare(sql).pluck().get());
    const waiting = [
      ['the changelog', count(db, 'SELECT count(*) FROM _sync_changelog')],
      ['ids without a key', count(db, 'SELECT count(*) FROM _sync_ids WHERE local_key IS NULL')],
      ['the inbox', count(device, 'SELECT count(*) FROM _sync_adopt_inbox')],
      ['the refusals', count(device, 'SELECT count(*) FROM _sync_adopt_refused')],
      ['the journal', count(device, 'SELECT count(*) FROM _sync_adopt_journal')],
    ] as const;
    for (const [what, n] of waiting)
      if (n > 0) problems.push(`the shop program's till still has ${n} in ${what}`);
    for (const refusal of device.prepare('SELECT tbl, id, message FROM _sync_adopt_refused').all() as {
      tbl: string;
      id: string;
      message: string;
    }[])
      problems.push(`the shop program's database refuses ${refusal.tbl} ${refusal.id}: ${refusal.message}`);

    const rows = this.#rows();
    const categories = this.#globalIds('categories');
    const products = this.#globalIds('products');
    const customers = this.#globalIds('customers');
    const sales = this.#globalIds('sales');
    const idOf = (ids: Map<number, string>, what: string, key: number | null): string | null => {
      if (key === null) return null;
      const id = ids.get(key);
      if (id === undefined) problems.push(`the program's ${what} ${key} has no global id`);
      return id ?? `(${what} ${key})`;
    };
    const cents = (amount: number): number => Math.round(amount * 100);
    const translated = new Map<string, Map<string, RowValues>>([
      [
        'categories',
        new Map(
          rows.Category.map((row) => [
            idOf(categories, 'Category', row.CatNo) ?? '',
            { name: row.Title, parent_id: idOf(categories, 'Category', row.ParentNo) },
          ]),
        ),
      ],
      [
        'products',
        new Map(
          rows.Article.map((row) => [
            idOf(products, 'Article', row.ArtNo) ?? '',
            {
              sku: row.Code,
              name: row.Title,
              price_cents: cents(row.Price),
              stock: row.Stock,
              category_id: idOf(categories, 'Category', row.CatNo),
              active: row.Active === 'Y' ? 1 : 0,
            },
          ]),
        ),
      ],
      [
        'customers',
        new Map(
          rows.Client.map((row) => [
            idOf(customers, 'Client', row.ClientNo) ?? '',
            { name: row.Name, phone: row.Phone, email: row.Email },
          ]),
        ),
      ],
      [
        'sales',
        new Map(
          rows.Receipt.map((row) => [
            idOf(sales, 'Receipt', row.ReceiptNo) ?? '',
            {
              customer_id: idOf(customers, 'Client', row.ClientNo),
              total_cents: cents(row.Total),
              created_at: new Date(`${row.SoldAt.replace(' ', 'T')}Z`).toISOString(),
            },
          ]),
        ),
      ],
    ]);
    const server = await serverRows(world);
    const live = (table: string): Map<string, RowValues> => {
      const found = new Map<string, RowValues>();
      for (const [id, row] of server.get(table) ?? []) if (row.values !== null) found.set(id, row.values);
      return found;
    };
    // A receipt's line has no number of its own: it is the server's line of that sale and product.
    const lines = new Map<string, RowValues>();
    for (const [id, values] of live('sale_items')) {
      const pair = `${String(values['sale_id'])} ${String(values['product_id'])}`;
      if (lines.has(pair)) problems.push(`the server has two sale_items of one sale and product: ${pair}`);
      lines.set(pair, { ...values, id });
    }
    const legacyLines = new Map<string, RowValues>();
    for (const row of rows.ReceiptLine) {
      const values = {
        sale_id: idOf(sales, 'Receipt', row.ReceiptNo),
        product_id: idOf(products, 'Article', row.ArtNo),
        quantity: row.Qty,
        price_cents: cents(row.Price),
      };
      const pair = `${String(values.sale_id)} ${String(values.product_id)}`;
      legacyLines.set(pair, { ...values, id: lines.get(pair)?.['id'] ?? null });
    }
    translated.set('sale_items', legacyLines);

    for (const [table, legacyRows] of translated) {
      const serverTable = table === 'sale_items' ? lines : live(table);
      const columns = Object.keys(LEGACY_MAP.tables[table as keyof typeof LEGACY_MAP.tables].columns);
      for (const [key, values] of legacyRows) {
        const stored = serverTable.get(key);
        if (!stored) {
          problems.push(`the program's database has ${table} ${key}, which the server has not`);
          continue;
        }
        const mine = JSON.stringify(columns.map((column) => values[column] ?? null));
        const theirs = JSON.stringify(columns.map((column) => stored[column] ?? null));
        if (mine !== theirs)
          problems.push(`the program's database has ${table} ${key} as ${mine}, the server as ${theirs}`);
      }
      for (const key of serverTable.keys())
        if (!legacyRows.has(key)) problems.push(`the program's database lacks ${table} ${key}`);
    }
    return problems;
  }

  close(): void {
    this.#db?.close();
    this.#db = null;
  }

  /** Local key → global id of a table with one key column, as `_sync_ids` holds them. */
  #globalIds(table: string): Map<number, string> {
    const rows = this.#database
      .prepare('SELECT local_key, global_id FROM _sync_ids WHERE tbl = ? AND local_key IS NOT NULL')
      .all(table) as { local_key: number; global_id: string }[];
    return new Map(rows.map((row) => [Number(row.local_key), row.global_id]));
  }

  #rows(): LegacyRows {
    const all = <T>(sql: string): T[] => this.#database.prepare(sql).all() as T[];
    return {
      Category: all('SELECT CatNo, Title, ParentNo FROM Category'),
      Article: all('SELECT ArtNo, Code, Title, Price, Stock, CatNo, Active FROM Article'),
      Client: all('SELECT ClientNo, Name, Phone, Email FROM Client'),
      Receipt: all('SELECT ReceiptNo, ClientNo, Total, SoldAt FROM Receipt'),
      ReceiptLine: all('SELECT ReceiptNo, ArtNo, Qty, Price FROM ReceiptLine'),
    };
  }

  /** The program's connection, as it runs it: its foreign keys enforced, waiting for the bridge's writes. */
  get #database(): Database.Database {
    if (this.#db === null) {
      this.#db = new Database(this.file);
      this.#db.pragma('foreign_keys = ON');
      this.#db.pragma('busy_timeout = 5000');
    }
    return this.#db;
  }
}

/**
 * A ledger whose expectation is given whole (the other tills' and the program's together), with the other
 * tills' deleted products: the program voids its own receipts, so a till's delete of a product sold on one
 * can stand, and that product's stock is then not counted.
 */
class ExpectedStock extends StockLedger {
  readonly #expected: Map<string, number>;

  constructor(expected: Map<string, number>, deleted: ReadonlySet<string>) {
    super();
    this.#expected = expected;
    for (const id of deleted) this.deleted.add(id);
  }

  override get expected(): Map<string, number> {
    return new Map(this.#expected);
  }
}

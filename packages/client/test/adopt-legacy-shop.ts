import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { onCleanup, tempFolder } from './helpers.js';

/**
 * A small "legacy shop program" for the adopt tests: it keeps its own tables, with its own names and integer
 * keys, and writes them with its own SQL on its own connection, knowing nothing of sync. One on SQLite, one
 * on MariaDB (a scratch database per test, dropped after it).
 */
export interface LegacyShop {
  readonly engine: 'sqlite' | 'mysql';
  /** The map file's `legacy` entry for this database. */
  readonly location: { sqlite: string } | { mysql: string };
  addProduct(name: string, price: number, qrCode: string, stock?: number): Promise<number>;
  setPrice(productId: number, price: number): Promise<void>;
  setStatus(productId: number, status: 'Active' | 'Inactive'): Promise<void>;
  deleteProduct(productId: number): Promise<void>;
  /** A sale of these products at their price, taking them off the stock. */
  sell(lines: readonly { productId: number; qty: number }[], at?: string): Promise<number>;
  products(): Promise<LegacyProduct[]>;
  saleItems(): Promise<
    { SaleItemID: number; SaleID: number; ProductID: number; Qty: number; UnitPrice: number }[]
  >;
  sales(): Promise<{ SaleID: number; SaleDate: string; Total: number }[]>;
  /** The definition of the program's own tables (not the bookkeeping), to compare before and after. */
  tableDefinitions(): Promise<string>;
  /** Every table, index and trigger of the database. */
  allObjects(): Promise<string[]>;
  /** Rows of a table by SQL (bookkeeping included). */
  query(sql: string): Promise<Record<string, unknown>[]>;
}

export interface LegacyProduct {
  readonly ProductID: number;
  readonly ProductName: string;
  readonly SellPrice: number;
  readonly QrCode: string | null;
  readonly Status: string;
  readonly Stock: number;
}

/** The map of the tests' shop, binding its three tables to products, sales and sale_items. */
export function shopMap(location: LegacyShop['location']): Record<string, unknown> {
  return {
    legacy: location,
    tables: {
      products: {
        table: 'Products',
        key: 'ProductID',
        columns: {
          name: 'ProductName',
          sku: 'QrCode',
          price_cents: { column: 'SellPrice', convert: 'decimal-to-cents' },
          active: { column: 'Status', values: { Active: 1, Inactive: 0 } },
          stock: 'Stock',
        },
      },
      sales: {
        table: 'Sales',
        key: 'SaleID',
        columns: {
          total_cents: { column: 'Total', convert: 'decimal-to-cents' },
          created_at: { column: 'SaleDate', convert: 'datetime-to-iso' },
        },
      },
      sale_items: {
        table: 'SaleItems',
        key: 'SaleItemID',
        columns: {
          sale_id: 'SaleID',
          product_id: 'ProductID',
          quantity: 'Qty',
          price_cents: { column: 'UnitPrice', convert: 'decimal-to-cents' },
        },
      },
    },
  };
}

const NOW = '2026-12-01 10:30:00';

/** The shop program on its own SQLite file. */
export function sqliteShop(): LegacyShop {
  const file = path.join(tempFolder('tillsync-legacy-'), 'shop.db');
  const db = new Database(file);
  onCleanup(() => db.close());
  db.exec(`
    CREATE TABLE Products (
      ProductID INTEGER PRIMARY KEY,
      ProductName TEXT NOT NULL,
      SellPrice REAL NOT NULL,
      QrCode TEXT,
      Status TEXT NOT NULL DEFAULT 'Active',
      Stock INTEGER NOT NULL DEFAULT 0,
      Notes TEXT
    );
    CREATE TABLE Sales (SaleID INTEGER PRIMARY KEY, SaleDate TEXT NOT NULL, Total REAL NOT NULL);
    CREATE TABLE SaleItems (
      SaleItemID INTEGER PRIMARY KEY,
      SaleID INTEGER NOT NULL REFERENCES Sales (SaleID),
      ProductID INTEGER NOT NULL REFERENCES Products (ProductID),
      Qty INTEGER NOT NULL,
      UnitPrice REAL NOT NULL
    );
    CREATE INDEX SaleItemsBySale ON SaleItems (SaleID);
  `);
  const all = <T>(sql: string, ...params: unknown[]): Promise<T[]> =>
    Promise.resolve(db.prepare(sql).all(...params) as T[]);
  return {
    engine: 'sqlite',
    location: { sqlite: file },
    addProduct(name, price, qrCode, stock = 10) {
      const result = db
        .prepare('INSERT INTO Products (ProductName, SellPrice, QrCode, Stock) VALUES (?, ?, ?, ?)')
        .run(name, price, qrCode, stock);
      return Promise.resolve(Number(result.lastInsertRowid));
    },
    setPrice(productId, price) {
      db.prepare('UPDATE Products SET SellPrice = ? WHERE ProductID = ?').run(price, productId);
      return Promise.resolve();
    },
    setStatus(productId, status) {
      db.prepare('UPDATE Products SET Status = ? WHERE ProductID = ?').run(status, productId);
      return Promise.resolve();
    },
    deleteProduct(productId) {
      db.prepare('DELETE FROM Products WHERE ProductID = ?').run(productId);
      return Promise.resolve();
    },
    sell(lines, at = NOW) {
      return Promise.resolve(
        db.transaction(() => {
          let total = 0;
          const prices = lines.map(({ productId }) => {
            const row = db.prepare('SELECT SellPrice FROM Products WHERE ProductID = ?').get(productId) as {
              SellPrice: number;
            };
            return row.SellPrice;
          });
          lines.forEach((line, index) => (total += (prices[index] ?? 0) * line.qty));
          const saleId = Number(
            db
              .prepare('INSERT INTO Sales (SaleDate, Total) VALUES (?, ?)')
              .run(at, Math.round(total * 100) / 100).lastInsertRowid,
          );
          lines.forEach((line, index) => {
            db.prepare('INSERT INTO SaleItems (SaleID, ProductID, Qty, UnitPrice) VALUES (?, ?, ?, ?)').run(
              saleId,
              line.productId,
              line.qty,
              prices[index],
            );
            db.prepare('UPDATE Products SET Stock = Stock - ? WHERE ProductID = ?').run(
              line.qty,
              line.productId,
            );
          });
          return saleId;
        })(),
      );
    },
    products: () => all<LegacyProduct>('SELECT * FROM Products ORDER BY ProductID'),
    saleItems: () => all('SELECT * FROM SaleItems ORDER BY SaleItemID'),
    sales: () => all('SELECT * FROM Sales ORDER BY SaleID'),
    async tableDefinitions() {
      const rows = await all<{ type: string; name: string; sql: string | null }>(
        `SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN ('Products', 'Sales', 'SaleItems')
         AND type IN ('table', 'index') ORDER BY type, name`,
      );
      return JSON.stringify(rows);
    },
    async allObjects() {
      const rows = await all<{ type: string; name: string }>(
        'SELECT type, name FROM sqlite_master ORDER BY type, name',
      );
      return rows.map((row) => `${row.type} ${row.name}`);
    },
    query: (sql) => all(sql),
  };
}

const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root', password: '' };

/** A scratch MariaDB database named `<prefix>_<random>`, and a connection to it; dropped after the test. */
export async function scratchMariadb(prefix: string): Promise<{ database: string; db: mysql.Connection }> {
  const database = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection(MARIADB);
  await admin.query(`CREATE DATABASE \`${database}\``);
  await admin.end();
  const db = await mysql.createConnection({ ...MARIADB, database, dateStrings: true, decimalNumbers: true });
  onCleanup(async () => {
    await db.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await db.end();
  });
  return { database, db };
}

/** The shop program on a scratch MariaDB database of its own, dropped after the test. */
export async function mariadbShop(): Promise<LegacyShop> {
  const { database, db } = await scratchMariadb('tillsync_adopt');
  await db.query(`CREATE TABLE Products (
      ProductID INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      ProductName VARCHAR(100) NOT NULL,
      SellPrice DECIMAL(10, 2) NOT NULL,
      QrCode VARCHAR(40) NULL,
      Status VARCHAR(10) NOT NULL DEFAULT 'Active',
      Stock INT NOT NULL DEFAULT 0,
      Notes TEXT NULL
    ) ENGINE=InnoDB`);
  await db.query(`CREATE TABLE Sales (
      SaleID INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      SaleDate DATETIME NOT NULL,
      Total DECIMAL(10, 2) NOT NULL
    ) ENGINE=InnoDB`);
  await db.query(`CREATE TABLE SaleItems (
      SaleItemID INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      SaleID INT NOT NULL,
      ProductID INT NOT NULL,
      Qty INT NOT NULL,
      UnitPrice DECIMAL(10, 2) NOT NULL,
      KEY SaleItemsBySale (SaleID),
      CONSTRAINT SaleItemsSale FOREIGN KEY (SaleID) REFERENCES Sales (SaleID),
      CONSTRAINT SaleItemsProduct FOREIGN KEY (ProductID) REFERENCES Products (ProductID)
    ) ENGINE=InnoDB`);
  const all = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => {
    const [rows] = await db.query(sql, params);
    return rows as T[];
  };
  const run = async (sql: string, params: unknown[] = []): Promise<number> => {
    const [result] = await db.query(sql, params);
    return (result as { insertId: number }).insertId;
  };
  return {
    engine: 'mysql',
    location: { mysql: `mysql://root@127.0.0.1:3306/${database}` },
    addProduct: (name, price, qrCode, stock = 10) =>
      run('INSERT INTO Products (ProductName, SellPrice, QrCode, Stock) VALUES (?, ?, ?, ?)', [
        name,
        price,
        qrCode,
        stock,
      ]),
    async setPrice(productId, price) {
      await run('UPDATE Products SET SellPrice = ? WHERE ProductID = ?', [price, productId]);
    },
    async setStatus(productId, status) {
      await run('UPDATE Products SET Status = ? WHERE ProductID = ?', [status, productId]);
    },
    async deleteProduct(productId) {
      await run('DELETE FROM Products WHERE ProductID = ?', [productId]);
    },
    async sell(lines, at = NOW) {
      await db.query('START TRANSACTION');
      try {
        let total = 0;
        const prices: number[] = [];
        for (const line of lines) {
          const [row] = await all<{ SellPrice: number }>(
            'SELECT SellPrice FROM Products WHERE ProductID = ?',
            [line.productId],
          );
          prices.push(Number(row?.SellPrice ?? 0));
          total += Number(row?.SellPrice ?? 0) * line.qty;
        }
        const saleId = await run('INSERT INTO Sales (SaleDate, Total) VALUES (?, ?)', [at, total.toFixed(2)]);
        for (const [index, line] of lines.entries()) {
          await run('INSERT INTO SaleItems (SaleID, ProductID, Qty, UnitPrice) VALUES (?, ?, ?, ?)', [
            saleId,
            line.productId,
            line.qty,
            prices[index],
          ]);
          await run('UPDATE Products SET Stock = Stock - ? WHERE ProductID = ?', [line.qty, line.productId]);
        }
        await db.query('COMMIT');
        return saleId;
      } catch (error) {
        await db.query('ROLLBACK');
        throw error;
      }
    },
    products: () => all<LegacyProduct>('SELECT * FROM Products ORDER BY ProductID'),
    saleItems: () => all('SELECT * FROM SaleItems ORDER BY SaleItemID'),
    sales: () => all('SELECT * FROM Sales ORDER BY SaleID'),
    async tableDefinitions() {
      const tables = await all(
        'SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?, ?, ?) ORDER BY TABLE_NAME',
        [database, 'Products', 'Sales', 'SaleItems'],
      );
      const columns = await all(
        `SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, COLUMN_TYPE, COLUMN_KEY, EXTRA
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?, ?, ?) ORDER BY TABLE_NAME, ORDINAL_POSITION`,
        [database, 'Products', 'Sales', 'SaleItems'],
      );
      const indexes = await all(
        `SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?, ?, ?) ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`,
        [database, 'Products', 'Sales', 'SaleItems'],
      );
      return JSON.stringify({ tables, columns, indexes });
    },
    async allObjects() {
      const tables = await all<{ name: string }>(
        'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
        [database],
      );
      const triggers = await all<{ name: string }>(
        'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME',
        [database],
      );
      return [...tables.map((row) => `table ${row.name}`), ...triggers.map((row) => `trigger ${row.name}`)];
    },
    query: (sql) => all(sql),
  };
}

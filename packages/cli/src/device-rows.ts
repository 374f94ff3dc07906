import {
  CompiledSchema,
  type CellValue,
  type DeviceRow,
  type SchemaTable,
  type SyncSchema,
} from '@tillsync/protocol';
import { searchIndexName, searchedColumns, trigramQuery, type SyncClient } from '@tillsync/client';
import { v7 as uuidv7 } from 'uuid';
import { ApiError } from './api-error.js';

/** A value of a synced column and a row as the page reads it: the agent API's types (device-agent-api.ts). */
export type { CellValue, DeviceRow };

/** What a list asks for (`GET /api/rows/:table?search=&order=&desc=1&limit=&where.<column>=`). */
export interface RowQuery {
  /** Rows whose text columns (not references, not dates) contain this, in any case. */
  readonly search?: string;
  /** Rows whose column holds exactly this value. */
  readonly equals?: Readonly<Record<string, CellValue>>;
  /** The column to sort by; the order written when left out. */
  readonly order?: string;
  readonly descending?: boolean;
  /** @defaultValue 5000, the most */
  readonly limit?: number;
}

/** One page of a list, with the table's size and how many rows the search lets through. */
export interface RowPage {
  readonly rows: DeviceRow[];
  readonly total: number;
  readonly matching: number;
  /** More than 10,000 rows match: `matching` is 10,000, and the page is in the order written. */
  readonly matchingCapped: boolean;
}

/** How far a list counts its matching rows, and the most it sorts. */
const MAX_COUNTED = 10_000;
/** The most rows one page of a list answers; a search or a second page finds the others. */
const MAX_LIST_ROWS = 5000;
/** How far the pending list is read to mark rows; a till with more unsent rows has bigger problems. */
const MAX_PENDING = 20_000;
const MAX_QUANTITY = 100_000;

/**
 * The till's reads and writes of the synced tables, for the device's page (products, a quick sale,
 * customers). Every write goes through the device's own SQLite connection as plain SQL, so the capture
 * triggers record it like a write by any other program, and the sync sends it.
 *
 * Only the tables and columns of the schema the device received when it paired are reachable; values are
 * checked against it as the server would (types, required columns). Foreign keys and unique values are the
 * server's to judge: a row it refuses stays here with its reason, and the page shows it.
 */
export class DeviceRows {
  readonly #client: SyncClient;
  #schema: { readonly json: string; readonly compiled: CompiledSchema } | null = null;
  /** Each table's row count, with the file's version it was counted at. */
  readonly #totals = new Map<string, { version: string; total: number }>();

  constructor(client: SyncClient) {
    this.#client = client;
  }

  /**
   * One page of a table's rows, each with its sync state, and how many there are: all of the table
   * (`total`) and those the search and filters let through (`matching`, counted up to 10,000). The search
   * runs in SQL over the whole table, through its trigram index (`@tillsync/client`'s search index) for a
   * text of three characters or more, so the row 150,000 of 200,000 is found like the first. A list of more
   * than 10,000 rows comes in the order the rows were written rather than sorted: sorting a million rows
   * for the first page of them would cost a till seconds.
   */
  list(tableName: string, query: RowQuery = {}): RowPage {
    const table = this.#table(tableName);
    const limit = query.limit ?? MAX_LIST_ROWS;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_ROWS) {
      throw new ApiError(400, 'INVALID_REQUEST', `limit must be a whole number from 1 to ${MAX_LIST_ROWS}`);
    }
    const { source, where, params, written } = this.#where(table, query);
    const database = this.#client.database;
    const total = this.#total(table.name);
    let matching = total;
    let matchingCapped = false;
    if (where !== '') {
      const counted = (
        database
          .prepare(`SELECT count(*) AS n FROM (SELECT 1 FROM ${source}${where} LIMIT ${MAX_COUNTED + 1})`)
          .get(...params) as { n: number }
      ).n;
      matchingCapped = counted > MAX_COUNTED;
      matching = Math.min(counted, MAX_COUNTED);
    }
    const sorted = this.#order(table, query, written);
    const order = matchingCapped || matching > MAX_COUNTED ? `${written} ASC` : sorted;
    const rows = database
      .prepare(`SELECT ${selectList(table)} FROM ${source}${where} ORDER BY ${order} LIMIT ?`)
      .all(...params, limit) as Record<string, CellValue>[];
    const pending = new Map(
      this.#client
        .pendingChanges(MAX_PENDING)
        .filter((change) => change.table === table.name)
        .map((change) => [change.id, change.error]),
    );
    return {
      rows: rows.map((row) => toDeviceRow(table, row, pending)),
      total,
      matching,
      matchingCapped,
    };
  }

  /**
   * How many rows a table holds. Counting a million rows costs a till most of a search's time, so the count
   * is kept until the file changes: by this connection (`total_changes()`) or another (`data_version`).
   */
  #total(tableName: string): number {
    const database = this.#client.database;
    const version = `${String(database.pragma('data_version', { simple: true }))}:${String(
      (database.prepare('SELECT total_changes() AS n').get() as { n: number }).n,
    )}`;
    const kept = this.#totals.get(tableName);
    if (kept?.version === version) return kept.total;
    const total = (database.prepare(`SELECT count(*) AS n FROM ${quote(tableName)}`).get() as { n: number })
      .n;
    this.#totals.set(tableName, { version, total });
    return total;
  }

  /**
   * Where a list reads from and its WHERE clause: the search over the table's own text columns (through its
   * search index when the text has a trigram, each candidate checked with LIKE on the row), and the filters.
   * `written` is the order the rows were written in, in the index's own order when it is used.
   */
  #where(
    table: SchemaTable,
    query: RowQuery,
  ): { source: string; where: string; params: CellValue[]; written: string } {
    const terms: string[] = [];
    const params: CellValue[] = [];
    let source = `${quote(table.name)} AS t`;
    let written = 't.rowid';
    const search = query.search?.trim() ?? '';
    if (search !== '') {
      const columns = searchedColumns(table);
      if (columns.length === 0) {
        throw new ApiError(400, 'INVALID_REQUEST', `${table.name} has no text column to search`);
      }
      const trigrams = trigramQuery(search);
      if (trigrams !== null) {
        source = `${quote(searchIndexName(table.name))} AS s JOIN ${quote(table.name)} AS t ON t.rowid = s.rowid`;
        written = 's.rowid';
        terms.push(`s.${quote(searchIndexName(table.name))} MATCH ?`);
        params.push(trigrams);
      }
      const pattern = `%${search.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
      terms.push(`(${columns.map((column) => `t.${quote(column.name)} LIKE ? ESCAPE '\\'`).join(' OR ')})`);
      params.push(...columns.map(() => pattern));
    }
    for (const [name, value] of Object.entries(query.equals ?? {})) {
      if (!table.columnsByName.has(name)) {
        throw new ApiError(400, 'UNKNOWN_COLUMN', `${table.name} has no column "${name}"`);
      }
      terms.push(value === null ? `t.${quote(name)} IS NULL` : `t.${quote(name)} = ?`);
      if (value !== null) params.push(value);
    }
    return { source, where: terms.length === 0 ? '' : ` WHERE ${terms.join(' AND ')}`, params, written };
  }

  /** The ORDER BY of a list: a column of the table (text without regard to case), else the order written. */
  #order(table: SchemaTable, query: RowQuery, written: string): string {
    const direction = query.descending ? 'DESC' : 'ASC';
    if (query.order === undefined) return `${written} ${direction}`;
    const column = table.columnsByName.get(query.order);
    if (!column) throw new ApiError(400, 'UNKNOWN_COLUMN', `${table.name} has no column "${query.order}"`);
    const collate = column.type === 'text' ? ' COLLATE NOCASE' : '';
    return `t.${quote(column.name)}${collate} ${direction}, ${written} ${direction}`;
  }

  /** Adds a row with a new UUIDv7 id; columns left out take their default. */
  insert(tableName: string, values: unknown): DeviceRow {
    const table = this.#writable(tableName);
    const given = this.#values(table, values);
    const row = this.#check(table, given);
    const id = uuidv7();
    const columns = table.columns.map((column) => column.name);
    this.#client.database
      .prepare(
        `INSERT INTO ${quote(table.name)} (id, ${columns.map(quote).join(', ')}) VALUES (?, ${columns.map(() => '?').join(', ')})`,
      )
      .run(id, ...columns.map((name) => row[name] ?? null));
    return this.#read(table, id);
  }

  /** Sets some columns of a row; a counter (stock) set here is sent as the difference to what the device saw. */
  update(tableName: string, id: string, values: unknown): DeviceRow {
    const table = this.#writable(tableName);
    const given = this.#values(table, values);
    const current = this.#read(table, id);
    this.#check(table, { ...current.values, ...given });
    const names = Object.keys(given);
    if (names.length > 0) {
      this.#client.database
        .prepare(
          `UPDATE ${quote(table.name)} SET ${names.map((name) => `${quote(name)} = ?`).join(', ')} WHERE id = ?`,
        )
        .run(...names.map((name) => given[name] ?? null), id);
    }
    return this.#read(table, id);
  }

  /** Deletes a row; the delete travels like any change. */
  remove(tableName: string, id: string): void {
    const table = this.#writable(tableName);
    this.#read(table, id);
    this.#client.database.prepare(`DELETE FROM ${quote(table.name)} WHERE id = ?`).run(id);
  }

  /**
   * Records a sale of the built-in shop schema (PROTOCOL.md §3): the sale, one `sale_items` row per line at
   * the product's price now, and each product's stock taken down, in one transaction, so a till that stops
   * halfway never holds a sale without its items or stock.
   */
  recordSale(request: unknown): DeviceRow {
    const sale = parseSale(request);
    const sales = this.#writable('sales');
    const saleItems = this.#writable('sale_items');
    const products = this.#writable('products');
    for (const [table, columns] of [
      [sales, ['customer_id', 'total_cents', 'created_at']],
      [saleItems, ['sale_id', 'product_id', 'quantity', 'price_cents']],
      [products, ['price_cents', 'stock']],
    ] as const) {
      const missing = columns.filter((name) => !table.columnsByName.has(name));
      if (missing.length > 0) {
        throw new ApiError(
          409,
          'SCHEMA_MISMATCH',
          `${table.name} has no ${missing.join(', ')}: this schema cannot record sales`,
        );
      }
    }
    const database = this.#client.database;
    const saleId = uuidv7();
    database.transaction(() => {
      const lines = sale.items.map((item) => {
        const product = database
          .prepare(`SELECT price_cents FROM ${quote(products.name)} WHERE id = ?`)
          .get(item.productId) as { price_cents: number } | undefined;
        if (!product) throw new ApiError(404, 'NOT_FOUND', `there is no product ${item.productId}`);
        return { ...item, priceCents: Number(product.price_cents) };
      });
      if (sale.customerId !== null) {
        const customer = database.prepare('SELECT 1 FROM customers WHERE id = ?').get(sale.customerId);
        if (!customer) throw new ApiError(404, 'NOT_FOUND', `there is no customer ${sale.customerId}`);
      }
      const total = lines.reduce((sum, line) => sum + line.priceCents * line.quantity, 0);
      database
        .prepare(
          `INSERT INTO ${quote(sales.name)} (id, customer_id, total_cents, created_at) VALUES (?, ?, ?, ?)`,
        )
        .run(saleId, sale.customerId, total, new Date().toISOString());
      const addItem = database.prepare(
        `INSERT INTO ${quote(saleItems.name)} (id, sale_id, product_id, quantity, price_cents) VALUES (?, ?, ?, ?, ?)`,
      );
      const takeStock = database.prepare(`UPDATE ${quote(products.name)} SET stock = stock - ? WHERE id = ?`);
      for (const line of lines) {
        addItem.run(uuidv7(), saleId, line.productId, line.quantity, line.priceCents);
        takeStock.run(line.quantity, line.productId);
      }
    })();
    return this.#read(sales, saleId);
  }

  #read(table: SchemaTable, id: string): DeviceRow {
    const row = this.#client.database
      .prepare(`SELECT ${selectList(table)} FROM ${quote(table.name)} AS t WHERE t.id = ?`)
      .get(id) as Record<string, CellValue> | undefined;
    if (!row) throw new ApiError(404, 'NOT_FOUND', `there is no ${table.name} row ${id}`);
    const pending = new Map(
      this.#client
        .pendingChanges(MAX_PENDING)
        .filter((change) => change.table === table.name && change.id === id)
        .map((change) => [change.id, change.error]),
    );
    return toDeviceRow(table, row, pending);
  }

  /** The values of a request body: an object of the table's columns with scalar values. */
  #values(table: SchemaTable, body: unknown): Record<string, CellValue> {
    const values = (body as { values?: unknown } | null)?.values;
    if (typeof values !== 'object' || values === null || Array.isArray(values)) {
      throw new ApiError(400, 'INVALID_REQUEST', 'the body must be {"values": {"<column>": <value>, …}}');
    }
    const checked: Record<string, CellValue> = {};
    for (const [name, value] of Object.entries(values as Record<string, unknown>)) {
      if (!table.columnsByName.has(name)) {
        throw new ApiError(400, 'UNKNOWN_COLUMN', `${table.name} has no column "${name}"`);
      }
      if (value !== null && typeof value !== 'string' && typeof value !== 'number') {
        throw new ApiError(400, 'INVALID_VALUE', `${table.name}.${name} must be text, a number or null`);
      }
      checked[name] = value;
    }
    return checked;
  }

  /** Judges a whole row as the server would (types, required columns); answers it with defaults filled in. */
  #check(table: SchemaTable, row: Record<string, CellValue>): Record<string, CellValue> {
    const verdict = this.#compiled().checkValues(table, row, false);
    if (!verdict.ok) throw new ApiError(400, verdict.code, verdict.message);
    return verdict.values as Record<string, CellValue>;
  }

  #table(name: string): SchemaTable {
    const table = this.#compiled().table(name);
    if (!table) throw new ApiError(404, 'UNKNOWN_TABLE', `this device syncs no table "${name}"`);
    return table;
  }

  #writable(name: string): SchemaTable {
    const table = this.#table(name);
    if (table.serverOnly) {
      throw new ApiError(409, 'READ_ONLY_TABLE', `${name} is written on the server only; devices receive it`);
    }
    return table;
  }

  /**
   * The schema the device received when it paired. It is read from the file's documented `_sync_state`
   * (packages/client/README.md), since the client keeps it there for every program that opens the file.
   */
  #compiled(): CompiledSchema {
    const found = this.#client.database
      .prepare("SELECT value FROM _sync_state WHERE key = 'schema'")
      .get() as { value: string | null } | undefined;
    const json = found?.value ?? null;
    if (json === null) throw new ApiError(409, 'NOT_PAIRED', 'this device is not paired yet: pair it first');
    if (this.#schema?.json !== json) {
      this.#schema = { json, compiled: new CompiledSchema(JSON.parse(json) as SyncSchema) };
    }
    return this.#schema.compiled;
  }
}

function parseSale(body: unknown): {
  customerId: string | null;
  items: { productId: string; quantity: number }[];
} {
  const { customerId = null, items } = (body ?? {}) as { customerId?: unknown; items?: unknown };
  if (customerId !== null && (typeof customerId !== 'string' || customerId === '')) {
    throw new ApiError(400, 'INVALID_REQUEST', '"customerId" must be a customer id or null');
  }
  if (!Array.isArray(items) || items.length === 0) {
    throw new ApiError(400, 'INVALID_REQUEST', 'a sale needs "items": [{"productId", "quantity"}, …]');
  }
  const lines = items.map((item: unknown) => {
    const { productId, quantity } = (item ?? {}) as { productId?: unknown; quantity?: unknown };
    if (typeof productId !== 'string' || productId === '') {
      throw new ApiError(400, 'INVALID_REQUEST', 'each item needs a "productId"');
    }
    if (
      typeof quantity !== 'number' ||
      !Number.isInteger(quantity) ||
      quantity < 1 ||
      quantity > MAX_QUANTITY
    ) {
      throw new ApiError(
        400,
        'INVALID_VALUE',
        `the quantity of ${productId} must be a whole number from 1 to ${MAX_QUANTITY}`,
      );
    }
    return { productId, quantity };
  });
  return { customerId, items: lines };
}

function toDeviceRow(
  table: SchemaTable,
  row: Record<string, CellValue>,
  pending: ReadonlyMap<string, { readonly code: string; readonly message: string } | null>,
): DeviceRow {
  const id = String(row.id);
  const values: Record<string, CellValue> = {};
  for (const column of table.columns) values[column.name] = row[column.name] ?? null;
  return { id, values, pending: pending.has(id), error: pending.get(id) ?? null };
}

/** The row's columns, read from the table as `t`, named as the table names them. */
function selectList(table: SchemaTable): string {
  return ['id', ...table.columns.map((column) => column.name)]
    .map((name) => `t.${quote(name)} AS ${quote(name)}`)
    .join(', ');
}

/** Names come from the schema, never from a request; quoted all the same. */
function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

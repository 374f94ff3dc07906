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

/** One page of a list, with the table's size, how many rows the search lets through, and its columns. */
export interface RowPage {
  readonly rows: DeviceRow[];
  readonly total: number;
  readonly matching: number;
  /** More than 10,000 rows match: `matching` is 10,000, and the page is in the order written. */
  readonly matchingCapped: boolean;
  readonly columns: string[];
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
 *
 * In a chain (PROTOCOL.md §7) a row of a per-store table written here belongs to this device's store: its
 * store column is filled in when left out, and naming another store is refused here as the server would
 * (`OUT_OF_SCOPE`), so the till never holds a row it cannot send.
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
      columns: table.columns.map((column) => column.name),
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
        this.#client.catchUpSearchIndex();
        const index = quote(searchIndexName(table.name));
        const indexedUpTo = this.#client.searchIndexedUpTo(table.name);
        if (indexedUpTo === null) {
          source = `${index} AS s JOIN ${quote(table.name)} AS t ON t.rowid = s.rowid`;
          written = 's.rowid';
          terms.push(`s.${index} MATCH ?`);
          params.push(trigrams);
        } else {
          // The index is still being built after a first sync: it answers for the rows it holds, and the
          // rows above where it is built are checked one by one.
          terms.push(`(t.rowid IN (SELECT rowid FROM ${index} WHERE ${index} MATCH ?) OR t.rowid > ?)`);
          params.push(trigrams, indexedUpTo);
        }
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
    const given = this.#inOwnStore(table, this.#values(table, values));
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
    const store = table.storeColumn;
    if (store !== null && store in given && given[store] !== current.values[store]) {
      throw new ApiError(
        400,
        'OUT_OF_SCOPE',
        `a device never moves a row to another store: ${table.name}.${store} stays ${String(current.values[store])}`,
      );
    }
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
   * Records a sale of a built-in schema: the sale, one `sale_items` row per line at the product's price now,
   * and each product's stock taken down, in one transaction, so a till that stops halfway never holds a sale
   * without its items or stock. The shop's schema (PROTOCOL.md §3) counts stock in `products.stock`; the
   * chain's (§7) counts each store's in `stock_levels`, and the sale and its items belong to this device's
   * store. A product this store has no stock level for yet gets one, starting below zero by what was sold,
   * so the shortfall shows until someone counts it.
   */
  recordSale(request: unknown): DeviceRow {
    const sale = parseSale(request);
    const sales = this.#writable('sales');
    const saleItems = this.#writable('sale_items');
    const products = this.#writable('products');
    const stock = this.#stockTaker(products);
    for (const [table, columns] of [
      [sales, ['customer_id', 'total_cents', 'created_at']],
      [saleItems, ['sale_id', 'product_id', 'quantity', 'price_cents']],
      [products, ['price_cents']],
    ] as const) {
      requireColumns(table, columns);
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
      this.#insertRow(sales, saleId, {
        customer_id: sale.customerId,
        total_cents: total,
        created_at: new Date().toISOString(),
      });
      for (const line of lines) {
        this.#insertRow(saleItems, uuidv7(), {
          sale_id: saleId,
          product_id: line.productId,
          quantity: line.quantity,
          price_cents: line.priceCents,
        });
        stock(line.productId, line.quantity);
      }
    })();
    return this.#read(sales, saleId);
  }

  /** Inserts a row written by the agent itself (a sale's), in this device's store where its table is per store. */
  #insertRow(table: SchemaTable, id: string, values: Record<string, CellValue>): void {
    const row = this.#inOwnStore(table, values);
    const columns = Object.keys(row);
    this.#client.database
      .prepare(
        `INSERT INTO ${quote(table.name)} (id, ${columns.map(quote).join(', ')}) VALUES (?, ${columns.map(() => '?').join(', ')})`,
      )
      .run(id, ...columns.map((name) => row[name] ?? null));
  }

  /**
   * How a sale takes stock on this schema: from `products.stock` (one shop), or from this store's row of
   * `stock_levels` (a chain). Either way a counter, so concurrent sales on several tills add up.
   */
  #stockTaker(products: SchemaTable): (productId: string, quantity: number) => void {
    const database = this.#client.database;
    if (products.columnsByName.has('stock')) {
      const take = database.prepare(`UPDATE ${quote(products.name)} SET stock = stock - ? WHERE id = ?`);
      return (productId, quantity) => void take.run(quantity, productId);
    }
    const levels = this.#compiled().table('stock_levels');
    if (!levels || levels.serverOnly || levels.storeColumn === null) {
      throw new ApiError(
        409,
        'SCHEMA_MISMATCH',
        'products has no stock and there is no per-store stock_levels table: this schema cannot record sales',
      );
    }
    requireColumns(levels, ['product_id', 'quantity']);
    const store = quote(levels.storeColumn);
    const storeId = this.#ownStore(levels);
    const take = database.prepare(
      `UPDATE ${quote(levels.name)} SET quantity = quantity - ? WHERE product_id = ? AND ${store} = ?`,
    );
    return (productId, quantity) => {
      if (take.run(quantity, productId, storeId).changes > 0) return;
      this.#insertRow(levels, uuidv7(), { product_id: productId, quantity: -quantity });
    };
  }

  /**
   * `values` as a row of this device's store: a per-store table's store column is filled in when left out,
   * and refused when it names another store (the server would refuse the row with `OUT_OF_SCOPE`).
   */
  #inOwnStore(table: SchemaTable, values: Record<string, CellValue>): Record<string, CellValue> {
    const column = table.storeColumn;
    if (column === null) return values;
    const own = this.#ownStore(table);
    const given = values[column];
    if (given === undefined || given === null) return { ...values, [column]: own };
    if (given !== own) {
      throw new ApiError(
        400,
        'OUT_OF_SCOPE',
        `this device belongs to store ${own}: ${table.name} rows of store ${String(given)} are that store's devices' to write`,
      );
    }
    return values;
  }

  /**
   * The store this device belongs to, as the server last said it (kept by the client in `_sync_state`,
   * packages/client/README.md); a per-store row cannot be written before the device knows it.
   */
  #ownStore(table: SchemaTable): string {
    const storeId = this.#client.identity?.storeId ?? null;
    if (storeId === null) {
      throw new ApiError(
        409,
        'STORE_UNKNOWN',
        `${table.name} rows belong to a store, and this device has not learnt its store yet: let it sync once`,
      );
    }
    return storeId;
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

/** Refuses a schema whose table lacks columns an agent's own write needs. */
function requireColumns(table: SchemaTable, columns: readonly string[]): void {
  const missing = columns.filter((name) => !table.columnsByName.has(name));
  if (missing.length > 0) {
    throw new ApiError(
      409,
      'SCHEMA_MISMATCH',
      `${table.name} has no ${missing.join(', ')}: this schema cannot record sales`,
    );
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

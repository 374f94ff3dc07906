import type {
  CellValue,
  ConflictRow,
  LostEdit,
  DeviceRow as WireDeviceRow,
  DeviceStatus,
  RejectedRow,
  SaleRequest as WireSaleRequest,
  SyncLogEntry,
  SyncState,
  SyncSummary,
  DeviceIdentityResponse,
  DevicePairRequest,
  DevicePairResponse,
} from '@tillsync/protocol';

/**
 * The answers of the device agent's local API (`tillsync device`, packages/cli/src/device-api.ts) as this
 * page reads them: the schemas of `@tillsync/protocol` (device-agent-api.ts), imported as types only, since
 * the page talks HTTP only.
 */
export type {
  CellValue,
  ConflictRow,
  LostEdit,
  DevicePairRequest,
  DevicePairResponse,
  DeviceStatus,
  RejectedRow,
  SyncLogEntry,
  SyncState,
  SyncSummary,
};

/** `GET /api/device`. */
export type DeviceIdentity = DeviceIdentityResponse;

/** A row of a synced table as `GET /api/rows/:table` answers it, with the columns of its table. */
export type DeviceRow<V extends Record<string, CellValue>> = Omit<WireDeviceRow, 'values'> & {
  readonly values: V;
};

/** `GET /api/rows/:table`: a page of rows, the table's size, and how many rows the search lets through. */
export interface RowPage<V extends Record<string, CellValue>> {
  readonly rows: DeviceRow<V>[];
  readonly total: number;
  readonly matching: number;
  /** More rows match than were counted (10,000): the page is in the order written. */
  readonly matchingCapped?: boolean;
  /** The table's columns on this device. */
  readonly columns: string[];
}

/** What a list asks the agent for; the search and the order run in SQL over the whole table. */
export interface RowQuery {
  /** Rows whose text columns contain this, in any case. */
  readonly search?: string;
  /** Rows whose column holds exactly this value. */
  readonly equals?: Readonly<Record<string, string | number>>;
  readonly order?: string;
  readonly descending?: boolean;
  readonly limit?: number;
}

export interface ProductValues extends Record<string, CellValue> {
  readonly sku: string;
  readonly name: string;
  readonly price_cents: number;
  /** The shop's stock (PROTOCOL.md §3); absent in a chain, whose stores count theirs in `stock_levels`. */
  readonly stock?: number;
  readonly category_id: string | null;
  readonly active: number | null;
}

/** A store's count of one product (a chain, PROTOCOL.md §7): a device holds its own store's only. */
export interface StockLevelValues extends Record<string, CellValue> {
  readonly store_id: string;
  readonly product_id: string;
  readonly quantity: number;
}

export interface CategoryValues extends Record<string, CellValue> {
  readonly name: string;
}

export interface CustomerValues extends Record<string, CellValue> {
  readonly name: string;
  readonly phone: string | null;
  readonly email: string | null;
}

export interface SaleValues extends Record<string, CellValue> {
  readonly customer_id: string | null;
  readonly total_cents: number;
  readonly created_at: string;
}

export type Product = DeviceRow<ProductValues>;
export type Category = DeviceRow<CategoryValues>;
export type Customer = DeviceRow<CustomerValues>;
export type Sale = DeviceRow<SaleValues>;

/** `POST /api/sales`: the lines of a sale; the agent prices them and takes the stock. */
export type SaleRequest = WireSaleRequest & { readonly customerId: string | null };

/**
 * The answers of the device agent's local API (`tillsync device`, packages/cli/src/device-api.ts) as this
 * page reads them. The page talks HTTP only, so it states the shapes it relies on here.
 */

export type SyncState = 'synced' | 'syncing' | 'offline' | 'error' | 'stopped' | 'unpaired';

/** `GET /api/status` and the `status` events: the worker's status and the pill's text at answer time. */
export interface DeviceStatus {
  readonly state: SyncState;
  readonly lastSyncedAt: string | null;
  readonly pendingChanges: number;
  readonly lastError: string | null;
  /** `SESSION_EXPIRED`, `DEVICE_REVOKED`, `OFFLINE`, … or null. */
  readonly lastErrorCode: string | null;
  readonly nextSyncAt: string | null;
  /** Whether the sync task runs on its schedule. */
  readonly running: boolean;
  /** Whether the server's live stream is open. */
  readonly live: boolean;
  readonly text: string;
}

/** A change the server refused. */
export interface RejectedRow {
  readonly table: string;
  readonly id: string;
  readonly code: string;
  readonly message: string;
}

/** One cycle of the sync log (`GET /api/log`, the `cycle` events). */
export interface SyncLogEntry {
  /** `auto`, `force`, `force-pull`, `startup`, `live`, `manual`. */
  readonly trigger: string;
  readonly mode: 'sync' | 'pull-only' | 'discard-local';
  readonly startedAt: string;
  readonly durationMs: number;
  readonly ok: boolean;
  readonly outcome: 'synced' | 'offline' | 'error' | 'stopped';
  readonly pushed: number;
  readonly pulled: number;
  readonly conflicts: number;
  readonly rejected: readonly RejectedRow[];
  readonly repairs: readonly { readonly table: string; readonly reason: string; readonly matched: boolean }[];
  readonly error: string | null;
  readonly errorCode: string | null;
}

/** `GET /api/device`. */
export interface DeviceIdentity {
  readonly paired: boolean;
  readonly deviceId?: string;
  readonly tenantId?: string;
  readonly serverUrl?: string;
  readonly name?: string | null;
  /** The sync task's schedule. */
  readonly intervalMs: number;
}

/** What `POST /api/sync` and `POST /api/pull` answer: the cycle's summary. */
export interface SyncSummary {
  readonly ok: boolean;
  readonly trigger: string;
  readonly pushed: number;
  readonly pulled: number;
  readonly conflicts: number;
  readonly rejected: number;
  readonly durationMs: number;
  readonly error: string | null;
}

export type CellValue = string | number | null;

/** A row of a synced table as `GET /api/rows/:table` answers it: its values and its sync state. */
export interface DeviceRow<V extends Record<string, CellValue>> {
  readonly id: string;
  readonly values: V;
  /** Changed here and not yet confirmed by the server. */
  readonly pending: boolean;
  /** Why the server refused this row's last push, or null. */
  readonly error: { readonly code: string; readonly message: string } | null;
}

export interface ProductValues extends Record<string, CellValue> {
  readonly sku: string;
  readonly name: string;
  readonly price_cents: number;
  readonly stock: number;
  readonly category_id: string | null;
  readonly active: number | null;
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
export interface SaleRequest {
  readonly customerId: string | null;
  readonly items: readonly { readonly productId: string; readonly quantity: number }[];
}

import { Type, type Static, type TSchema } from '@sinclair/typebox';

/**
 * The device agent's local API (`tillsync device`, docs/device-agent.md): what the device's page asks the
 * agent on 127.0.0.1 and what it answers. The agent validates requests with these schemas and serves them
 * as OpenAPI (`GET /api/openapi.json`); the page and the client's status and log types are these types.
 */

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Count = Type.Integer({ minimum: 0 });

/**
 * A message of this API as its readers hold it: nothing in it changes once it is built or parsed, so the
 * device's own read-only records (its status, its sync log) are these types as they are.
 */
export type Immutable<T> = T extends readonly (infer E)[]
  ? readonly Immutable<E>[]
  : T extends object
    ? { readonly [K in keyof T]: Immutable<T[K]> }
    : T;

/**
 * A device's sync state (PROTOCOL.md §4): `synced` after a cycle that succeeded, `syncing` during one,
 * `offline` when the last cycle could not reach the server, `error` when it failed otherwise, `stopped`
 * when no cycle has run yet (or the worker is stopped), `unpaired` before pairing.
 */
export const SyncState = Type.Union([
  Type.Literal('synced'),
  Type.Literal('syncing'),
  Type.Literal('offline'),
  Type.Literal('error'),
  Type.Literal('stopped'),
  Type.Literal('unpaired'),
]);
export type SyncState = Static<typeof SyncState>;

/** `GET /api/status`, the `status` events, `POST /api/worker/start|stop`: the worker's status and the pill's text. */
export const DeviceStatus = Type.Object({
  state: SyncState,
  /** When the last successful cycle ended (ISO time). */
  lastSyncedAt: Nullable(Type.String()),
  /** Local changes not yet confirmed by the server. */
  pendingChanges: Count,
  lastError: Nullable(Type.String()),
  /** `SESSION_EXPIRED`, `DEVICE_REVOKED`, `OFFLINE`, `SYNC_BUSY`, the server's error code, … */
  lastErrorCode: Nullable(Type.String()),
  /** When the next scheduled cycle runs (ISO time). */
  nextSyncAt: Nullable(Type.String()),
  /** Whether the sync task runs on its schedule. */
  running: Type.Boolean(),
  /** Whether the server's live stream is open. */
  live: Type.Boolean(),
  /**
   * While a cycle runs: the rows it pushed and pulled (applied) so far, read again every second; during a
   * first sync, the rows it brings in all (`expected`, the server's count when it began; `pulled` may pass
   * it by the deletes the server keeps).
   */
  progress: Nullable(Type.Object({ pushed: Count, pulled: Count, expected: Type.Optional(Nullable(Count)) })),
  /** The pill's text when the answer was made. */
  text: Type.String(),
});
export type DeviceStatus = Immutable<Static<typeof DeviceStatus>>;

/** A change the server refused: it stays pending with its reason. */
export const RejectedRow = Type.Object({
  table: Type.String(),
  id: Type.String(),
  code: Type.String(),
  message: Type.String(),
});
export type RejectedRow = Immutable<Static<typeof RejectedRow>>;

/**
 * A table the device took again from a fresh snapshot: `checksum` (it differed from the server's), `resync`
 * (the server answered `RESYNC_REQUIRED`), `discard-local` (a pull that set local rows aside), `resumed`
 * (one left unfinished), `refused-delete` (the server refused a delete of a row others still point at: the
 * device takes the row back); `matched`: its checksum equals the server's after the repair.
 */
export const TableRepair = Type.Object({
  table: Type.String(),
  reason: Type.Union([
    Type.Literal('checksum'),
    Type.Literal('resync'),
    Type.Literal('discard-local'),
    Type.Literal('resumed'),
    Type.Literal('refused-delete'),
  ]),
  matched: Type.Boolean(),
});
export type TableRepair = Immutable<Static<typeof TableRepair>>;

/** A row one of whose edits made on this device lost in a cycle, named for the log line. */
export const ConflictRow = Type.Object({
  table: Type.String(),
  id: Type.String(),
  /** The row's name where its table has a `name` column. */
  name: Nullable(Type.String()),
});
export type ConflictRow = Immutable<Static<typeof ConflictRow>>;

/** One cycle of the sync log (`GET /api/log`, the `cycle` events). */
export const SyncLogEntry = Type.Object({
  /** `startup`, `auto`, `force`, `force-pull`, `live`, `manual`, or an app's own name. */
  trigger: Type.String(),
  mode: Type.Union([Type.Literal('sync'), Type.Literal('pull-only'), Type.Literal('discard-local')]),
  startedAt: Type.String(),
  durationMs: Count,
  ok: Type.Boolean(),
  outcome: Type.Union([
    Type.Literal('synced'),
    Type.Literal('offline'),
    Type.Literal('error'),
    Type.Literal('stopped'),
  ]),
  pushed: Count,
  pulled: Count,
  conflicts: Count,
  /** The rows whose edits lost in this cycle (see `LostEdit`), each once. */
  conflictRows: Type.Array(ConflictRow),
  rejected: Type.Array(RejectedRow),
  repairs: Type.Array(TableRepair),
  /** Why the cycle failed, in words a person can act on. */
  error: Nullable(Type.String()),
  /** The failure as a code: `OFFLINE`, `SESSION_EXPIRED`, `NOT_PAIRED`, `SYNC_BUSY`, a server's code, … */
  errorCode: Nullable(Type.String()),
});
export type SyncLogEntry = Immutable<Static<typeof SyncLogEntry>>;

/** `GET /api/log?limit=`: the limit travels as text, a whole number from 1 to 20 (default 20). */
export const SyncLogQuery = Type.Object({ limit: Type.Optional(Type.String()) });
export type SyncLogQuery = Immutable<Static<typeof SyncLogQuery>>;

/** `GET /api/log`: the last cycles, newest first. */
export const SyncLogResponse = Type.Object({ entries: Type.Array(SyncLogEntry) });
export type SyncLogResponse = Immutable<Static<typeof SyncLogResponse>>;

/** What `POST /api/sync` and `POST /api/pull` answer (and `tillsync sync` prints): a cycle's summary. */
export const SyncSummary = Type.Object({
  /** False when the cycle failed; the answer is a 200 all the same. */
  ok: Type.Boolean(),
  trigger: Type.String(),
  /** Changes the server took (applied, or answered with its own newer version). */
  pushed: Count,
  /** Server changes applied to the device. */
  pulled: Count,
  /** Rows with an edit of this device that lost to a later write made without knowing it (see `LostEdit`). */
  conflicts: Count,
  /** Changes the server refused; they stay pending with their error. */
  rejected: Count,
  durationMs: Count,
  error: Nullable(Type.String()),
});
export type SyncSummary = Immutable<Static<typeof SyncSummary>>;

/** `GET /api/device`: who the device is (once paired), which server it syncs with, and its schedule. */
export const DeviceIdentityResponse = Type.Object({
  paired: Type.Boolean(),
  deviceId: Type.Optional(Type.String()),
  tenantId: Type.Optional(Type.String()),
  serverUrl: Type.Optional(Type.String()),
  /** The name given at pairing; null when the machine's name was used. */
  name: Type.Optional(Nullable(Type.String())),
  /** The store the device belongs to (PROTOCOL.md §7); null from a server without stores. */
  storeId: Type.Optional(Nullable(Type.String())),
  /** That store's name, from the synced stores table; null when the schema has none or it is not pulled yet. */
  storeName: Type.Optional(Nullable(Type.String())),
  /** The time between scheduled cycles. */
  intervalMs: Count,
});
export type DeviceIdentityResponse = Immutable<Static<typeof DeviceIdentityResponse>>;

/** `POST /api/pull` ("Force pull"): `discardLocal` sets the unsent local rows aside first. Null is absent. */
export const ForcePullRequest = Type.Object(
  { discardLocal: Type.Optional(Nullable(Type.Boolean())) },
  { additionalProperties: false },
);
export type ForcePullRequest = Immutable<Static<typeof ForcePullRequest>>;

/**
 * `POST /api/pair`: the one-time code from the owner's dashboard (surrounding spaces ignored), the server
 * when another than the agent's, and the device's name (1 to 100 characters). Null is absent.
 */
export const DevicePairRequest = Type.Object(
  {
    code: Type.String({ pattern: '\\S' }),
    serverUrl: Type.Optional(Nullable(Type.String())),
    name: Type.Optional(Nullable(Type.String({ maxLength: 100, pattern: '\\S' }))),
  },
  { additionalProperties: false },
);
export type DevicePairRequest = Immutable<Static<typeof DevicePairRequest>>;

/** What `POST /api/pair` answers. */
export const DevicePairResponse = Type.Object({ deviceId: Type.String(), tenantId: Type.String() });
export type DevicePairResponse = Immutable<Static<typeof DevicePairResponse>>;

/** A value of a synced row as the till's page reads and writes it. */
export const CellValue = Type.Union([Type.String(), Type.Number(), Type.Null()]);
export type CellValue = Immutable<Static<typeof CellValue>>;

/** A row of a synced table as `GET /api/rows/:table` answers it: its values and its sync state. */
export const DeviceRow = Type.Object({
  id: Type.String(),
  values: Type.Record(Type.String(), CellValue),
  /** Changed here and not yet confirmed by the server. */
  pending: Type.Boolean(),
  /** Why the server refused this row's last push. */
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
});
export type DeviceRow = Immutable<Static<typeof DeviceRow>>;

/** `GET /api/rows/:table`: a page of rows, the table's size, and how many rows its search lets through. */
export const DeviceRowList = Type.Object({
  rows: Type.Array(DeviceRow),
  /** Rows in the table. */
  total: Type.Integer({ minimum: 0 }),
  /** Rows the search and filters let through (`rows` is the first page of them), counted up to 10,000. */
  matching: Type.Integer({ minimum: 0 }),
  /** More rows match than were counted: the page is then in the order the rows were written, not sorted. */
  matchingCapped: Type.Optional(Type.Boolean()),
  /**
   * The table's columns on this device, besides `id`: what a page may write, known even when no row is
   * shown (a chain's `products` has no `stock`, PROTOCOL.md §7).
   */
  columns: Type.Array(Type.String()),
});
export type DeviceRowList = Immutable<Static<typeof DeviceRowList>>;

/**
 * `POST /api/rows/:table`, `PATCH /api/rows/:table/:id`: the columns to write. The agent judges them
 * against the device's schema as the server would (`UNKNOWN_COLUMN`, `INVALID_VALUE`, …).
 */
export const DeviceRowWrite = Type.Object({ values: Type.Record(Type.String(), CellValue) });
export type DeviceRowWrite = Immutable<Static<typeof DeviceRowWrite>>;

/** `POST /api/sales`: the lines of a sale; the agent prices them and takes the stock in one transaction. */
export const SaleRequest = Type.Object({
  customerId: Type.Optional(Nullable(Type.String({ minLength: 1 }))),
  items: Type.Array(
    Type.Object({ productId: Type.String({ minLength: 1 }), quantity: Type.Integer({ minimum: 1 }) }),
    { minItems: 1 },
  ),
});
export type SaleRequest = Immutable<Static<typeof SaleRequest>>;

/**
 * One of this device's own edits that lost to a later write made without knowing it (PROTOCOL.md §5): a
 * column value (`value`), a delete of a row written later elsewhere (`my-delete`), a write to a row
 * deleted later elsewhere (`their-delete`), or a change to a row that moved to another store before it was
 * sent (`moved-away`, PROTOCOL.md §7; `column` is null for the last three).
 */
export const LostEdit = Type.Object({
  id: Type.Integer(),
  table: Type.String(),
  rowId: Type.String(),
  /** The row's name where its table has a `name` column. */
  rowName: Nullable(Type.String()),
  kind: Type.Union([
    Type.Literal('value'),
    Type.Literal('my-delete'),
    Type.Literal('their-delete'),
    Type.Literal('moved-away'),
  ]),
  column: Nullable(Type.String()),
  /** The value this device wrote (null for a delete). */
  mine: CellValue,
  /** The value that won (null for a delete). */
  winning: CellValue,
  /** The stamp of this device's write. */
  myStamp: Type.String(),
  /** The `updatedAt` of the row as the server answered it, with the winning write. */
  winningStamp: Type.String(),
  /** When the device learnt it (ISO time). */
  at: Type.String(),
});
export type LostEdit = Immutable<Static<typeof LostEdit>>;

/** `GET /api/lost-edits?limit=`: the limit travels as text, a whole number from 1 to 500 (default 100). */
export const LostEditsQuery = Type.Object({ limit: Type.Optional(Type.String()) });
export type LostEditsQuery = Immutable<Static<typeof LostEditsQuery>>;

/** `GET /api/lost-edits`: this device's edits that lost, newest first. */
export const LostEditsResponse = Type.Object({ edits: Type.Array(LostEdit) });
export type LostEditsResponse = Immutable<Static<typeof LostEditsResponse>>;

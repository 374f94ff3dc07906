/**
 * The server's tables as Kysely sees them. Times the server compares are integer milliseconds; times it
 * only shows are ISO strings. Every table that holds a tenant's data has `tenant_id` in its key.
 */
export interface Database {
  tenants: {
    id: string;
    name: string;
    created_at: string;
    /** The last sequence number handed out to a change of this tenant. */
    last_seq: number;
    /** Tombstones up to this sequence number were purged: an older cursor must resync. */
    purged_seq: number;
    /** The store every device and pairing code belongs to unless told otherwise (PROTOCOL.md §7). */
    first_store_id: string | null;
  };
  /** A tenant's stores (PROTOCOL.md §7). */
  stores: {
    id: string;
    tenant_id: string;
    name: string;
    created_at: string;
  };
  owners: {
    id: string;
    tenant_id: string;
    email: string;
    password_hash: string;
    created_at: string;
  };
  owner_sessions: {
    token_hash: string;
    owner_id: string;
    tenant_id: string;
    expires_at: number;
    created_at: string;
  };
  pairing_codes: {
    code_hash: string;
    tenant_id: string;
    /** The store the paired device will belong to. */
    store_id: string | null;
    expires_at: number;
    used_at: number | null;
    created_at: string;
  };
  devices: {
    id: string;
    tenant_id: string;
    name: string;
    platform: string;
    app_version: string | null;
    last_seen_at: string | null;
    pending_changes: number | null;
    revoked_at: string | null;
    /** The schema version the device's tables are at, as it last said; null: unknown. */
    schema_version: number | null;
    /** The store it belongs to: it pulls the tenant's rows and this store's. */
    store_id: string | null;
    /** The tenant's sequence number when it last changed store: an older cursor must resync. */
    scope_seq: number;
    created_at: string;
  };
  device_tokens: {
    token_hash: string;
    device_id: string;
    tenant_id: string;
    kind: 'access' | 'refresh';
    /** Every refresh token descends from one pairing; reusing a spent one revokes the whole family. */
    family_id: string;
    expires_at: number;
    used_at: number | null;
    created_at: string;
  };
  sync_rows: {
    tenant_id: string;
    tbl: string;
    id: string;
    /** The row's values as JSON; null for a tombstone. */
    data: string | null;
    updated_at: string;
    deleted: number;
    seq: number;
    /** The device whose write is the row's current state (its latest column write). */
    device_id: string | null;
    /**
     * The stamps of the columns whose last write is older than `updated_at`, as JSON: column → [stamp,
     * device id or null]. Null when every column was last written with `updated_at` by `device_id` (rows
     * written whole, tombstones, and every row stored before per-column merges).
     */
    stamps: string | null;
    /** When the server stored the current state (ms), for tombstone retention. */
    stored_at: number;
    /** The store whose devices receive the row; '' for a row of the whole tenant. */
    scope: string;
    /**
     * The device whose file holds this state as stored (its push wrote it, and nothing wrote the row since):
     * its pulls skip the row. Null: every device receives it.
     */
    held_by: string | null;
  };
  /** A store's record of a row that moved to another store: its devices drop it (`evict`), once. */
  sync_evictions: {
    tenant_id: string;
    /** The store the row left. */
    scope: string;
    tbl: string;
    id: string;
    /** The row's stamp as moved. */
    updated_at: string;
    /** The move's sequence number. */
    seq: number;
    stored_at: number;
  };
  sync_unique_values: {
    tenant_id: string;
    tbl: string;
    col: string;
    /** The value as JSON, so 1 and "1" stay apart. */
    value: string;
    row_id: string;
  };
  sync_checksums: {
    tenant_id: string;
    /** As `sync_rows.scope`: '' for the tenant's rows, or a store's id. */
    scope: string;
    tbl: string;
    row_count: number;
    /** The sum of PROTOCOL.md §2 as 16 hex digits. */
    sum: string;
  };
  push_answers: {
    device_id: string;
    push_id: string;
    answer: string;
    created_at: number;
  };
  /** The schema the server last served (one row, id 1). */
  served_schema: {
    id: number;
    version: number;
    /** The schema as JSON, as given to `serve --schema`. */
    schema: string;
    served_at: string;
  };
  rate_limits: {
    key: string;
    window_start: number;
    hits: number;
  };
  sync_conflicts: {
    id: string;
    tenant_id: string;
    tbl: string;
    row_id: string;
    winner: string;
    loser: string;
    /** The column whose value was overridden; null for the row as a whole (a delete met writes). */
    col: string | null;
    winner_device_id: string | null;
    loser_device_id: string | null;
    at: string;
  };
}

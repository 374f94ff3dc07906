import type Database from 'better-sqlite3';

/**
 * The keys of the device file's `_sync_state`, and its reads that `tillsync status` needs: apart from
 * `local-store.ts` (which loads the protocol's schemas for its migrations), so the quick status
 * (`quick-status.ts`) reads a device file without loading them.
 */

/** The bookkeeping's current version: the number of `local-store.ts`'s migrations (checked there). */
export const STORE_VERSION = 8;

/** The keys of `_sync_state`. */
export const StateKey = {
  storeVersion: 'store_version',
  deviceId: 'device_id',
  tenantId: 'tenant_id',
  deviceName: 'device_name',
  serverUrl: 'server_url',
  accessToken: 'access_token',
  accessTokenExpiresAt: 'access_token_expires_at',
  refreshToken: 'refresh_token',
  schema: 'schema',
  cursor: 'cursor',
  /** The store the device belongs to (PROTOCOL.md §7), as the server last said: at pairing, then on pull. */
  storeId: 'store_id',
  lastSyncedAt: 'last_synced_at',
  lastOutcome: 'last_outcome',
  lastError: 'last_error',
  repairsDue: 'repairs_due',
  cycleLease: 'cycle_lease',
  /** The lease of the bridge to an attached legacy database (`adopt/`). */
  adoptLease: 'adopt_lease',
  /**
   * The newest inbox entry a bring-out began with, written synced to disk before that bring-out writes
   * anything into the legacy database (`adopt/legacy-bridge.ts`).
   */
  adoptBringOut: 'adopt_bring_out',
  /**
   * The newest outbox stamp (`_sync_pending.hlc`, as text) whose row the search index holds: the rows of
   * newer entries are indexed by the next catch-up (`search-index.ts`).
   */
  searchIndexed: 'search_indexed',
  /**
   * The search indexes a fresh snapshot left to build, as JSON: per table, the rowid up to which every row
   * is indexed (`search-build.ts`).
   */
  searchUnbuilt: 'search_unbuilt',
} as const;
export type StateKey = (typeof StateKey)[keyof typeof StateKey];

/** What reads the device's state: a `LocalStore`, or the quick status's bare connection. */
export interface StateReader {
  getState(key: StateKey): string | null;
  /** Several state values in one query (absent keys map to `null`). */
  getStates<K extends StateKey>(keys: readonly K[]): Record<K, string | null>;
  /** The number of rows waiting to be pushed. */
  pendingCount(): number;
}

/**
 * The number of rows waiting to be pushed, as `n`: the outbox's, and those of the capture log not folded
 * into it yet (capture/fold.ts), so a reader that does not fold, such as `tillsync status`, still counts a
 * till's last sale.
 */
export const PENDING_COUNT_SQL = `SELECT (SELECT count(*) FROM _sync_pending) + (SELECT count(*) FROM (SELECT DISTINCT tbl, id FROM _sync_captured AS c
  WHERE NOT EXISTS (SELECT 1 FROM _sync_pending AS p WHERE p.tbl = c.tbl AND p.id = c.id))) AS n`;

/** The {@link StateReader} of a connection whose `statement` prepares (or reuses) a statement. */
export function stateReader(statement: (sql: string) => Database.Statement): StateReader {
  return {
    getState(key) {
      const row = statement('SELECT value FROM _sync_state WHERE key = ?').get(key) as
        { value: string | null } | undefined;
      return row?.value ?? null;
    },
    getStates<K extends StateKey>(keys: readonly K[]) {
      const rows = statement(
        `SELECT key, value FROM _sync_state WHERE key IN (${keys.map(() => '?').join(', ')})`,
      ).all(...keys) as { key: K; value: string | null }[];
      const values = Object.fromEntries(keys.map((key) => [key, null])) as Record<K, string | null>;
      for (const row of rows) values[row.key] = row.value;
      return values;
    },
    pendingCount() {
      return (statement(PENDING_COUNT_SQL).get() as { n: number }).n;
    },
  };
}

/** What pairing gave the device, kept in `_sync_state`. */
export interface Credentials {
  readonly deviceId: string;
  readonly tenantId: string;
  readonly serverUrl: string;
  readonly accessToken: string;
  readonly accessTokenExpiresAt: string;
  readonly refreshToken: string;
}

const CREDENTIAL_KEYS = [
  StateKey.deviceId,
  StateKey.tenantId,
  StateKey.serverUrl,
  StateKey.accessToken,
  StateKey.accessTokenExpiresAt,
  StateKey.refreshToken,
] as const;

/** The device's credentials, or `null` before it is paired. */
export function readCredentials(store: StateReader): Credentials | null {
  // One query: every authenticated call reads them.
  const state = store.getStates(CREDENTIAL_KEYS);
  const deviceId = state[StateKey.deviceId];
  const tenantId = state[StateKey.tenantId];
  const serverUrl = state[StateKey.serverUrl];
  const accessToken = state[StateKey.accessToken];
  const accessTokenExpiresAt = state[StateKey.accessTokenExpiresAt];
  const refreshToken = state[StateKey.refreshToken];
  if (!deviceId || !tenantId || !serverUrl || !accessToken || !accessTokenExpiresAt || !refreshToken)
    return null;
  return { deviceId, tenantId, serverUrl, accessToken, accessTokenExpiresAt, refreshToken };
}

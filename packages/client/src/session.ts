import { ProtocolError } from '@tillsync/protocol';
import { legacyRefusedCount } from './adopt/device-bookkeeping.js';
import { AuthError, NotPairedError } from './errors.js';
import { StateKey, readCredentials, type Credentials } from './device-state.js';
import type { LocalStore } from './local-store.js';
import type { DeviceCallContext, Transport } from './transport.js';

/** Stores credentials; call it inside a durable write, since a rotated refresh token cannot be asked for again. */
export function writeCredentials(store: LocalStore, credentials: Credentials): void {
  store.setState(StateKey.deviceId, credentials.deviceId);
  store.setState(StateKey.tenantId, credentials.tenantId);
  store.setState(StateKey.serverUrl, credentials.serverUrl);
  store.setState(StateKey.accessToken, credentials.accessToken);
  store.setState(StateKey.accessTokenExpiresAt, credentials.accessTokenExpiresAt);
  store.setState(StateKey.refreshToken, credentials.refreshToken);
}

/** How long before its expiry an access token is refreshed rather than used. */
const EXPIRY_MARGIN_MS = 30_000;

/**
 * The refresh in progress per device file. Shared by every session on the file (a cycle's and the live
 * stream's), since two refreshes sent with the same refresh token would spend it twice.
 */
const refreshing = new WeakMap<LocalStore, Promise<void>>();

/**
 * Makes the device's authenticated calls: refreshes the access token when it has expired (ahead of time, or
 * on a `401 TOKEN_EXPIRED`, once per call), and turns a session that cannot go on into an {@link AuthError}.
 */
export class DeviceSession {
  readonly #store: LocalStore;
  readonly #transport: Transport;
  readonly #now: () => number;

  constructor(store: LocalStore, transport: Transport, now: () => number = Date.now) {
    this.#store = store;
    this.#transport = transport;
    this.#now = now;
  }

  /**
   * Calls `fn` with a valid access token and the device's pending count, less `received` rows the server has
   * taken already (a push answered but not yet applied). A refresh is never cut short by `signal`: the server
   * rotates the tokens when it answers, and an answer thrown away would end the session.
   */
  async call<T>(
    fn: (context: DeviceCallContext) => Promise<T>,
    signal?: AbortSignal,
    received = 0,
  ): Promise<T> {
    const attempt = (credentials: Credentials): Promise<T> => {
      signal?.throwIfAborted();
      return fn({
        accessToken: credentials.accessToken,
        // Rows an attached shop program's database refuses are changes not yet where they belong, too.
        pendingChanges: Math.max(0, this.#store.pendingCount() + legacyRefusedCount(this.#store) - received),
        schemaVersion: this.#store.schemaVersion(),
        ...(signal ? { signal } : {}),
      });
    };
    let credentials = this.#credentials();
    if (Date.parse(credentials.accessTokenExpiresAt) - EXPIRY_MARGIN_MS <= this.#now()) {
      credentials = await this.#refreshed(credentials.refreshToken);
    }
    try {
      return await attempt(credentials);
    } catch (error) {
      if (!(error instanceof ProtocolError) || error.status !== 401) throw error;
      if (error.code !== 'TOKEN_EXPIRED') throw authError(error);
    }
    credentials = await this.#refreshed(credentials.refreshToken);
    try {
      return await attempt(credentials);
    } catch (error) {
      if (error instanceof ProtocolError && error.status === 401) throw authError(error);
      throw error;
    }
  }

  #credentials(): Credentials {
    const credentials = readCredentials(this.#store);
    if (!credentials) throw new NotPairedError(this.#store.dbPath);
    return credentials;
  }

  /** The stored tokens after a {@link #refresh} from `usedRefreshToken`. */
  async #refreshed(usedRefreshToken: string): Promise<Credentials> {
    await this.#refresh(usedRefreshToken);
    return this.#credentials();
  }

  /** Rotates the tokens once, even when several calls find the token expired together. */
  #refresh(usedRefreshToken: string): Promise<void> {
    const inProgress = refreshing.get(this.#store);
    if (inProgress) return inProgress;
    // Started after the map holds it (a microtask later), so its `finally` always finds it there.
    const refresh = Promise.resolve().then(async () => {
      try {
        const stored = this.#credentials();
        // Another call (or process) may have rotated the tokens since this one read them.
        if (stored.refreshToken !== usedRefreshToken) return;
        let answer;
        try {
          answer = await this.#transport.refresh(stored.refreshToken);
        } catch (error) {
          if (error instanceof ProtocolError && [400, 401, 403].includes(error.status))
            throw authError(error);
          throw error;
        }
        // The old refresh token stopped working the moment the server answered: store the new ones first.
        this.#store.durableWrite(() => writeCredentials(this.#store, { ...stored, ...answer }));
      } finally {
        refreshing.delete(this.#store);
      }
    });
    refreshing.set(this.#store, refresh);
    return refresh;
  }
}

function authError(error: ProtocolError): AuthError {
  return new AuthError(error.code === 'DEVICE_REVOKED' ? 'DEVICE_REVOKED' : 'SESSION_EXPIRED', {
    cause: error,
  });
}

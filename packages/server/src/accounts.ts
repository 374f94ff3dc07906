import { randomUUID } from 'node:crypto';
import {
  ProtocolError,
  type LoginResponse,
  type PairRequest,
  type PairResponse,
  type PairingCodeResponse,
  type RefreshResponse,
} from '@tillsync/protocol';
import type { ServerConfig } from './config.js';
import {
  DUMMY_PASSWORD_HASH,
  MIN_PASSWORD_LENGTH,
  hashPassword,
  hashToken,
  newPairingCode,
  newToken,
  normalizePairingCode,
  tokenKind,
  verifyPassword,
} from './credentials.js';
import type {
  AccountStore,
  DeviceRecord,
  DeviceSeen,
  StoreRecord,
  TokenPairHashes,
} from './storage/account-store.js';
import type { RateLimit, RateLimiter } from './storage/rate-limiter.js';

/** Who called: a device of a tenant. */
export interface DeviceCaller {
  readonly kind: 'device';
  readonly tenantId: string;
  readonly deviceId: string;
}

/** Who called: an owner of a tenant. */
export interface OwnerCaller {
  readonly kind: 'owner';
  readonly tenantId: string;
  readonly ownerId: string;
  readonly tokenHash: string;
}

/**
 * How long a device's call may wait in memory before it is written for the devices panel: the calls of all
 * devices in that time are written in one statement, instead of a durable write per sync call.
 */
export const DEVICE_CALLS_WRITE_DELAY_MS = 5_000;

/** How long after a refresh the same refresh token may be sent again, when its answer was lost. */
const REFRESH_RETRY_GRACE_MS = 5 * 60 * 1000;

const unauthorized = (code: string, message: string): ProtocolError => new ProtocolError(401, code, message);

/** Logins, sessions, pairing, device tokens: everything that says who a caller is. */
export class Accounts {
  readonly #store: AccountStore;
  readonly #config: ServerConfig;
  readonly #limiter: RateLimiter | null;
  /** Device calls not written yet, by device. */
  #unwrittenCalls = new Map<string, DeviceSeen>();
  #writeTimer: NodeJS.Timeout | null = null;
  #writingCalls: Promise<void> = Promise.resolve();

  /** Without a `limiter` (the admin commands, run by the operator) nothing is rate-limited. */
  constructor(store: AccountStore, config: ServerConfig, limiter: RateLimiter | null = null) {
    this.#store = store;
    this.#config = config;
    this.#limiter = limiter;
  }

  /** Creates a tenant and its owner. */
  async createTenant(input: {
    name: string;
    email: string;
    password: string;
  }): Promise<{ tenantId: string; ownerId: string }> {
    if (!/^[^@\s]+@[^@\s]+$/.test(input.email))
      throw new ProtocolError(400, 'INVALID_REQUEST', `"${input.email}" is not an email address`);
    if (input.password.length < MIN_PASSWORD_LENGTH) {
      throw new ProtocolError(
        400,
        'INVALID_REQUEST',
        `the password must be at least ${MIN_PASSWORD_LENGTH} characters long`,
      );
    }
    if (await this.#store.findOwnerByEmail(input.email)) {
      throw new ProtocolError(409, 'CONFLICT', `an owner with the email ${input.email} exists already`);
    }
    return this.#store.createTenant({
      name: input.name,
      email: input.email,
      passwordHash: await hashPassword(input.password),
    });
  }

  /** Creates the first tenant from `TILLSYNC_ADMIN_EMAIL`/`_PASSWORD` when the database has none. */
  async bootstrapAdmin(): Promise<{ tenantId: string } | null> {
    const { adminEmail, adminPassword } = this.#config;
    if (!adminEmail || !adminPassword || (await this.#store.countTenants()) > 0) return null;
    try {
      return await this.createTenant({ name: 'My shop', email: adminEmail, password: adminPassword });
    } catch (error) {
      // Several processes starting on one empty database race to create the owner; one of them wins.
      if (await this.#store.findOwnerByEmail(adminEmail)) return null;
      throw error;
    }
  }

  /** Logs an owner in; `from` is the client's address, for the per-address limit. */
  async login(email: string, password: string, from?: string): Promise<LoginResponse> {
    const { loginPerAddress, loginPerEmail } = this.#config.rateLimits;
    if (from !== undefined)
      await this.#limit(`login:address:${from}`, loginPerAddress, 'login attempts from this address');
    const emailKey = `login:email:${email.toLowerCase()}`;
    await this.#limit(emailKey, loginPerEmail, 'login attempts for this email');
    const owner = await this.#store.findOwnerByEmail(email);
    const matches = await verifyPassword(password, owner?.passwordHash ?? DUMMY_PASSWORD_HASH);
    if (!owner || !matches) throw unauthorized('INVALID_CREDENTIALS', 'the email or the password is wrong');
    await this.#limiter?.reset(emailKey);
    const token = newToken('owner');
    await this.#store.createOwnerSession({
      tokenHash: hashToken(token),
      ownerId: owner.id,
      tenantId: owner.tenantId,
      expiresAt: this.#config.now() + this.#config.ownerSessionTtlMs,
    });
    return { token, tenantId: owner.tenantId };
  }

  async logout(owner: OwnerCaller): Promise<void> {
    await this.#store.deleteOwnerSession(owner.tokenHash);
  }

  /** A pairing code for a device of `storeId` (absent: the tenant's first store). */
  async createPairingCode(tenantId: string, storeId?: string): Promise<PairingCodeResponse> {
    const store = await this.findStore(tenantId, storeId);
    const code = newPairingCode();
    const expiresAt = this.#config.now() + this.#config.pairingCodeTtlMs;
    await this.#store.createPairingCode({
      codeHash: hashToken(normalizePairingCode(code)),
      tenantId,
      storeId: store.id,
      expiresAt,
    });
    return { code, expiresAt: new Date(expiresAt).toISOString(), storeId: store.id };
  }

  /** One of the tenant's stores (absent: its first); a store it does not have is a 404 naming it. */
  async findStore(tenantId: string, storeId?: string): Promise<StoreRecord> {
    const store = await this.#store.findStore(tenantId, storeId);
    if (!store)
      throw new ProtocolError(
        404,
        'NOT_FOUND',
        `there is no store ${storeId ?? '(first)'} in this tenant: GET /api/stores lists its stores`,
      );
    return store;
  }

  /** Moves a device to another of the tenant's stores; its next pull must resync (PROTOCOL.md §7). */
  async moveDevice(tenantId: string, deviceId: string, storeId: string): Promise<DeviceRecord> {
    const store = await this.findStore(tenantId, storeId);
    const device = await this.#store.moveDevice(tenantId, deviceId, store.id);
    if (!device) throw new ProtocolError(404, 'NOT_FOUND', `there is no device ${deviceId} in this tenant`);
    return device;
  }

  /** Pairs a device with a code; `from` is the client's address, for the per-address limit. */
  async pair(request: PairRequest, from?: string): Promise<PairResponse> {
    if (from !== undefined) {
      await this.#limit(
        `pair:address:${from}`,
        this.#config.rateLimits.pairPerAddress,
        'pairing attempts from this address',
      );
    }
    const deviceId = randomUUID();
    const { tokens, hashes } = this.#newTokenPair();
    const paired = await this.#store.pairDevice({
      codeHash: hashToken(normalizePairingCode(request.code)),
      now: this.#config.now(),
      deviceId,
      name: request.name?.trim() || 'Unnamed device',
      platform: request.platform?.trim() || 'unknown',
      appVersion: request.appVersion ?? null,
      tokens: hashes,
    });
    if (!paired) {
      throw new ProtocolError(
        400,
        'INVALID_CODE',
        'the pairing code is wrong, used already or expired: ask the owner for a new one',
      );
    }
    return { deviceId, tenantId: paired.tenantId, storeId: paired.storeId, ...tokens };
  }

  async refresh(refreshToken: string): Promise<RefreshResponse> {
    const found =
      tokenKind(refreshToken) === 'refresh'
        ? await this.#store.findDeviceToken(hashToken(refreshToken))
        : null;
    if (!found || found.kind !== 'refresh')
      throw unauthorized('TOKEN_INVALID', 'the refresh token is not valid: pair this device again');
    if (found.deviceRevokedAt)
      throw unauthorized('DEVICE_REVOKED', 'this device was removed by the owner: pair it again');
    if (found.usedAt !== null) {
      // A device whose refresh answer was lost tries again with the same token. If the pair that answer
      // carried was never used and little time has passed, that is what happened: it gets a new pair, and
      // the lost one stops working. Otherwise the spent token was copied: end the whole chain.
      if (this.#config.now() - found.usedAt <= REFRESH_RETRY_GRACE_MS) {
        const { tokens, hashes } = this.#newTokenPair();
        const reissued = await this.#store.reissueUnusedPair({
          deviceId: found.deviceId,
          tenantId: found.tenantId,
          familyId: found.familyId,
          tokens: hashes,
        });
        if (reissued) return tokens;
      }
      await this.#store.revokeTokenFamily(found.familyId);
      throw unauthorized('TOKEN_INVALID', 'the refresh token was used already: pair this device again');
    }
    if (found.expiresAt <= this.#config.now())
      throw unauthorized('TOKEN_INVALID', 'the refresh token expired: pair this device again');
    const { tokens, hashes } = this.#newTokenPair();
    const rotated = await this.#store.rotateRefreshToken({
      oldHash: hashToken(refreshToken),
      now: this.#config.now(),
      deviceId: found.deviceId,
      tenantId: found.tenantId,
      familyId: found.familyId,
      tokens: hashes,
    });
    if (!rotated)
      throw unauthorized('TOKEN_INVALID', 'the refresh token was used already: pair this device again');
    return tokens;
  }

  /** The device behind a bearer token, or the 401/403 that says why not. */
  async authenticateDevice(authorization: string | undefined): Promise<DeviceCaller> {
    const token = bearer(authorization);
    const kind = tokenKind(token);
    if (kind === 'owner')
      throw new ProtocolError(403, 'FORBIDDEN', "an owner's token cannot make a device's call");
    const found = kind === 'access' ? await this.#store.findDeviceToken(hashToken(token)) : null;
    if (!found || found.kind !== 'access')
      throw unauthorized(
        'TOKEN_INVALID',
        'the access token is not valid: refresh it or pair this device again',
      );
    if (found.deviceRevokedAt)
      throw unauthorized('DEVICE_REVOKED', 'this device was removed by the owner: pair it again');
    if (found.expiresAt <= this.#config.now())
      throw unauthorized('TOKEN_EXPIRED', 'the access token expired: refresh it');
    if (found.usedAt === null) await this.#store.markAccessTokenUsed(hashToken(token), this.#config.now());
    return { kind: 'device', tenantId: found.tenantId, deviceId: found.deviceId };
  }

  /**
   * Notes a device's call for the devices panel: its time, and the app version, pending count and schema
   * version it sent (null: not sent, the one known stays). Written within {@link DEVICE_CALLS_WRITE_DELAY_MS}, or when the
   * panel is read here ({@link listDevices}).
   */
  recordDeviceCall(
    deviceId: string,
    reported: { appVersion: string | null; pendingChanges: number | null; schemaVersion?: number | null },
  ): void {
    const earlier = this.#unwrittenCalls.get(deviceId);
    this.#unwrittenCalls.set(deviceId, {
      at: new Date(this.#config.now()).toISOString(),
      appVersion: reported.appVersion ?? earlier?.appVersion ?? null,
      pendingChanges: reported.pendingChanges ?? earlier?.pendingChanges ?? null,
      schemaVersion: reported.schemaVersion ?? earlier?.schemaVersion ?? null,
    });
    this.#writeTimer ??= setTimeout(() => {
      // A failed write keeps its calls for the next one (the error shows on the requests that fail too).
      this.writeDeviceCalls().catch(() => undefined);
    }, DEVICE_CALLS_WRITE_DELAY_MS).unref();
  }

  /** Writes the device calls noted so far; settles once they (and any write before) are stored. */
  writeDeviceCalls(): Promise<void> {
    if (this.#writeTimer) clearTimeout(this.#writeTimer);
    this.#writeTimer = null;
    const calls = this.#unwrittenCalls;
    this.#unwrittenCalls = new Map();
    // One write at a time, so a device's later call is never overwritten by its earlier one.
    this.#writingCalls = this.#writingCalls
      .catch(() => undefined)
      .then(async () => {
        if (calls.size === 0) return;
        try {
          await this.#store.touchDevices([...calls].map(([deviceId, seen]) => ({ deviceId, ...seen })));
        } catch (error) {
          for (const [deviceId, seen] of calls)
            if (!this.#unwrittenCalls.has(deviceId)) this.#unwrittenCalls.set(deviceId, seen);
          throw error;
        }
      });
    return this.#writingCalls;
  }

  /**
   * The devices panel of a tenant, with the calls noted here written first. A removed device whose name a
   * device in use carries is left out: it is the same till paired again, and listing both under one name
   * (with the old one's pending changes) only confuses the owner.
   */
  async listDevices(tenantId: string): Promise<DeviceRecord[]> {
    await this.writeDeviceCalls();
    const devices = await this.#store.listDevices(tenantId);
    const inUse = new Set(devices.filter((device) => device.revokedAt === null).map((device) => device.name));
    return devices.filter((device) => device.revokedAt === null || !inUse.has(device.name));
  }

  /** The owner behind a bearer token, or the 401/403 that says why not. */
  async authenticateOwner(authorization: string | undefined): Promise<OwnerCaller> {
    const token = bearer(authorization);
    const kind = tokenKind(token);
    if (kind === 'access' || kind === 'refresh')
      throw new ProtocolError(403, 'FORBIDDEN', "a device's token cannot make an owner's call");
    const tokenHash = hashToken(token);
    const session = kind === 'owner' ? await this.#store.findOwnerSession(tokenHash) : null;
    if (!session) throw unauthorized('TOKEN_INVALID', 'the session token is not valid: log in again');
    if (session.expiresAt <= this.#config.now())
      throw unauthorized('TOKEN_EXPIRED', 'the session expired: log in again');
    return { kind: 'owner', tenantId: session.tenantId, ownerId: session.ownerId, tokenHash };
  }

  /** Either kind of caller, for calls both may make (the schema). */
  async authenticateAny(authorization: string | undefined): Promise<DeviceCaller | OwnerCaller> {
    return tokenKind(bearer(authorization)) === 'owner'
      ? this.authenticateOwner(authorization)
      : this.authenticateDevice(authorization);
  }

  async #limit(key: string, limit: RateLimit, what: string): Promise<void> {
    const verdict = await this.#limiter?.hit(key, limit, this.#config.now());
    if (verdict && !verdict.allowed) throw new RateLimitedError(what, verdict.retryAfterMs);
  }

  #newTokenPair(): {
    tokens: Omit<RefreshResponse, never> & { accessTokenExpiresAt: string };
    hashes: TokenPairHashes;
  } {
    const now = this.#config.now();
    const accessToken = newToken('access');
    const refreshToken = newToken('refresh');
    const accessExpiresAt = now + this.#config.accessTokenTtlMs;
    return {
      tokens: { accessToken, accessTokenExpiresAt: new Date(accessExpiresAt).toISOString(), refreshToken },
      hashes: {
        accessHash: hashToken(accessToken),
        accessExpiresAt,
        refreshHash: hashToken(refreshToken),
        refreshExpiresAt: now + this.#config.refreshTokenTtlMs,
      },
    };
  }
}

function bearer(authorization: string | undefined): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match?.[1])
    throw unauthorized('UNAUTHORIZED', 'this call needs an "Authorization: Bearer <token>" header');
  return match[1];
}

/** Too many attempts: 429 with `Retry-After`. */
export class RateLimitedError extends ProtocolError {
  readonly retryAfterSec: number;

  constructor(what: string, retryAfterMs: number) {
    const retryAfterSec = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super(429, 'RATE_LIMITED', `too many ${what}: try again in ${retryAfterSec} s`);
    this.retryAfterSec = retryAfterSec;
  }
}

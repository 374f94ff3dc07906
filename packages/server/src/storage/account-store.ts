/** A tenant's owner, as found by email for a login. */
export interface OwnerRecord {
  readonly id: string;
  readonly tenantId: string;
  readonly email: string;
  readonly passwordHash: string;
}

/** What a device's call tells the devices panel. */
export interface DeviceSeen {
  readonly at: string;
  readonly appVersion: string | null;
  readonly pendingChanges: number | null;
  /** The schema version its tables are at (`X-Device-Schema-Version`); null or absent: not reported. */
  readonly schemaVersion?: number | null;
}

export interface DeviceRecord {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly platform: string;
  readonly appVersion: string | null;
  readonly lastSeenAt: string | null;
  readonly pendingChanges: number | null;
  readonly revokedAt: string | null;
  /** The schema version its tables are at, as it last said; null: unknown (it never said). */
  readonly schemaVersion: number | null;
  /** The store it belongs to (PROTOCOL.md §7). */
  readonly storeId: string;
}

/** A store of a tenant, with how many of its devices (not revoked) belong to it. */
export interface StoreRecord {
  readonly id: string;
  readonly name: string;
  readonly devices: number;
}

/**
 * Which rows a device pulls besides the tenant's: its store's; and from which sequence number its cursor
 * is good (one made at or below `scopeSeq` was made for the store it left, and must resync).
 */
export interface DeviceScope {
  readonly storeId: string;
  readonly scopeSeq: number;
}

/** A device token found by its hash, with the state of its device. */
export interface DeviceTokenRecord {
  readonly deviceId: string;
  readonly tenantId: string;
  readonly kind: 'access' | 'refresh';
  readonly familyId: string;
  readonly expiresAt: number;
  readonly usedAt: number | null;
  readonly deviceRevokedAt: string | null;
}

/** The hashes and expiries of a device's new pair of tokens. */
export interface TokenPairHashes {
  readonly accessHash: string;
  readonly accessExpiresAt: number;
  readonly refreshHash: string;
  readonly refreshExpiresAt: number;
}

/** A new pair of tokens for a device, in its token family. */
export interface TokenPairInput {
  deviceId: string;
  tenantId: string;
  familyId: string;
  tokens: TokenPairHashes;
}

/** A pairing code to spend and the device it creates. */
export interface PairDeviceInput {
  codeHash: string;
  now: number;
  deviceId: string;
  name: string;
  platform: string;
  appVersion: string | null;
  tokens: TokenPairHashes;
}

/** A refresh token to spend (by its hash) and the pair that replaces it. */
export interface RotateRefreshTokenInput extends TokenPairInput {
  oldHash: string;
  now: number;
}

/** A tenant as `tillsync admin tenants` lists it. */
export interface TenantRecord {
  readonly tenantId: string;
  readonly name: string;
  readonly createdAt: string;
  readonly owners: readonly string[];
  readonly devices: number;
}

/** Tenants, owners, sessions, pairing codes, devices and their tokens. Only hashes of secrets are stored. */
export interface AccountStore {
  createTenant(input: {
    name: string;
    email: string;
    passwordHash: string;
  }): Promise<{ tenantId: string; ownerId: string }>;
  countTenants(): Promise<number>;
  /** Every tenant with its owners' emails, oldest first (for `tillsync admin tenants`). */
  listTenants(): Promise<TenantRecord[]>;
  tenantExists(tenantId: string): Promise<boolean>;
  findOwnerByEmail(email: string): Promise<OwnerRecord | null>;
  createOwnerSession(input: {
    tokenHash: string;
    ownerId: string;
    tenantId: string;
    expiresAt: number;
  }): Promise<void>;
  findOwnerSession(
    tokenHash: string,
  ): Promise<{ ownerId: string; tenantId: string; expiresAt: number } | null>;
  deleteOwnerSession(tokenHash: string): Promise<void>;
  /**
   * A pairing code for a device of `storeId` (which the caller found with {@link findStore}); absent: of
   * the tenant's first store, as it is when the code is spent.
   */
  createPairingCode(input: {
    codeHash: string;
    tenantId: string;
    storeId?: string;
    expiresAt: number;
  }): Promise<void>;
  /**
   * Spends a pairing code and creates the device with its first tokens, in one transaction; null when the
   * code is unknown, spent or expired.
   */
  pairDevice(input: PairDeviceInput): Promise<{ tenantId: string; storeId: string } | null>;
  findDeviceToken(tokenHash: string): Promise<DeviceTokenRecord | null>;
  /**
   * Spends a refresh token and stores the next pair in the same family; false when it was spent already
   * (then the caller revokes the family).
   */
  rotateRefreshToken(input: RotateRefreshTokenInput): Promise<boolean>;
  revokeTokenFamily(familyId: string): Promise<void>;
  /** Notes the first use of an access token: proof that the device received the pair it belongs to. */
  markAccessTokenUsed(tokenHash: string, now: number): Promise<void>;
  /**
   * Replaces the unspent tokens of a family with a new pair, unless one of its access tokens was used (then
   * the device did receive them, and false says so).
   */
  reissueUnusedPair(input: TokenPairInput): Promise<boolean>;
  listDevices(tenantId: string): Promise<DeviceRecord[]>;
  /** The tenant's stores, the first one first. */
  listStores(tenantId: string): Promise<StoreRecord[]>;
  createStore(tenantId: string, name: string): Promise<StoreRecord>;
  /** One of the tenant's stores (undefined: its first store); null when it has none by that id. */
  findStore(tenantId: string, storeId: string | undefined): Promise<StoreRecord | null>;
  /**
   * Moves a device to another of the tenant's stores (the caller found it with {@link findStore}); its
   * cursor made before the move must resync. Null when the tenant has no such device.
   */
  moveDevice(tenantId: string, deviceId: string, storeId: string): Promise<DeviceRecord | null>;
  /** The device's store and the sequence number its cursors are good from; null: no such device. */
  deviceScope(deviceId: string): Promise<DeviceScope | null>;
  /**
   * Marks a device revoked (the first time only). Its tokens stay: every use of one checks the device, so
   * its next call, a refresh too, is answered DEVICE_REVOKED ("pair it again") rather than TOKEN_INVALID.
   */
  revokeDevice(tenantId: string, deviceId: string, at: string): Promise<boolean>;
  renameDevice(tenantId: string, deviceId: string, name: string): Promise<boolean>;
  /**
   * Records a device's call: the devices panel's "last seen", its app version, pending count and schema
   * version (null: not reported, the stored one stays).
   */
  touchDevice(deviceId: string, seen: DeviceSeen): Promise<void>;
  /** {@link touchDevice} for many devices in one statement; a device that does not exist is skipped. */
  touchDevices(sightings: ReadonlyArray<DeviceSeen & { readonly deviceId: string }>): Promise<void>;
}

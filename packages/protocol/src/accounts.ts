import { Type, type Static } from '@sinclair/typebox';

export const LoginRequest = Type.Object({
  email: Type.String({ minLength: 3, maxLength: 320 }),
  password: Type.String({ minLength: 1, maxLength: 1024 }),
});
export type LoginRequest = Static<typeof LoginRequest>;

export const LoginResponse = Type.Object({ token: Type.String(), tenantId: Type.String() });
export type LoginResponse = Static<typeof LoginResponse>;

/** `POST /api/pairing-codes`: the store the paired device will belong to; absent: the tenant's first store. */
export const PairingCodeRequest = Type.Object(
  { storeId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) },
  { additionalProperties: false },
);
export type PairingCodeRequest = Static<typeof PairingCodeRequest>;

export const PairingCodeResponse = Type.Object({
  code: Type.String(),
  expiresAt: Type.String(),
  /** The store the device paired with this code belongs to. */
  storeId: Type.Optional(Type.String()),
});
export type PairingCodeResponse = Static<typeof PairingCodeResponse>;

export const PairRequest = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 64 }),
  name: Type.Optional(Type.String({ maxLength: 200 })),
  platform: Type.Optional(Type.String({ maxLength: 100 })),
  appVersion: Type.Optional(Type.String({ maxLength: 100 })),
});
export type PairRequest = Static<typeof PairRequest>;

export const PairResponse = Type.Object({
  deviceId: Type.String(),
  tenantId: Type.String(),
  accessToken: Type.String(),
  accessTokenExpiresAt: Type.String(),
  refreshToken: Type.String(),
  /** The store the device belongs to. */
  storeId: Type.Optional(Type.String()),
});
export type PairResponse = Static<typeof PairResponse>;

export const RefreshRequest = Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 512 }) });
export type RefreshRequest = Static<typeof RefreshRequest>;

export const RefreshResponse = Type.Object({
  accessToken: Type.String(),
  accessTokenExpiresAt: Type.String(),
  refreshToken: Type.String(),
});
export type RefreshResponse = Static<typeof RefreshResponse>;

export const DeviceInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  platform: Type.String(),
  appVersion: Type.Union([Type.String(), Type.Null()]),
  lastSeenAt: Type.Union([Type.String(), Type.Null()]),
  pendingChanges: Type.Union([Type.Integer(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
  /** The schema version the device's tables are at, as it last said (`X-Device-Schema-Version`); null: unknown. */
  schemaVersion: Type.Union([Type.Integer(), Type.Null()]),
  /** The store the device belongs to (PROTOCOL.md §7): it receives the tenant's rows and this store's. */
  storeId: Type.String(),
});
export type DeviceInfo = Static<typeof DeviceInfo>;

export const DeviceList = Type.Array(DeviceInfo);
export type DeviceList = Static<typeof DeviceList>;

/** A store of the tenant, as `GET /api/stores` lists it. */
export const StoreInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  /** How many of the tenant's devices (not revoked) belong to it. */
  devices: Type.Integer({ minimum: 0 }),
});
export type StoreInfo = Static<typeof StoreInfo>;

/** `GET /api/stores`: the tenant's stores, the first one first. */
export const StoreList = Type.Array(StoreInfo);
export type StoreList = Static<typeof StoreList>;

/** `POST /api/stores`. */
export const CreateStoreRequest = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
export type CreateStoreRequest = Static<typeof CreateStoreRequest>;

/** `201` of `POST /api/stores`. */
export const CreatedStore = Type.Object({ id: Type.String(), name: Type.String() });
export type CreatedStore = Static<typeof CreatedStore>;

/**
 * `POST /api/devices/:id/store`: moves the device to that store; its next pull answers `410
 * RESYNC_REQUIRED`, and the fresh snapshot it then takes (keeping its unsent changes) holds the tenant's rows
 * and its new store's. The answer is the device ({@link DeviceInfo}) with its new `storeId`.
 */
export const MoveDeviceRequest = Type.Object(
  { storeId: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
);
export type MoveDeviceRequest = Static<typeof MoveDeviceRequest>;

/** Headers a device sends on every sync call, read by the devices panel. */
export const DEVICE_APP_VERSION_HEADER = 'x-device-app-version';
export const DEVICE_PENDING_HEADER = 'x-device-pending';
/** The schema version the device's tables are at (PROTOCOL.md §2 schema); protocol-1 devices send none. */
export const DEVICE_SCHEMA_VERSION_HEADER = 'x-device-schema-version';

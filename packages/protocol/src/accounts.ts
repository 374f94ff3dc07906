import { Type, type Static } from '@sinclair/typebox';

export const LoginRequest = Type.Object({
  email: Type.String({ minLength: 3, maxLength: 320 }),
  password: Type.String({ minLength: 1, maxLength: 1024 }),
});
export type LoginRequest = Static<typeof LoginRequest>;

export const LoginResponse = Type.Object({ token: Type.String(), tenantId: Type.String() });
export type LoginResponse = Static<typeof LoginResponse>;

export const PairingCodeResponse = Type.Object({ code: Type.String(), expiresAt: Type.String() });
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
});
export type DeviceInfo = Static<typeof DeviceInfo>;

export const DeviceList = Type.Array(DeviceInfo);
export type DeviceList = Static<typeof DeviceList>;

/** Headers a device sends on every sync call, read by the devices panel. */
export const DEVICE_APP_VERSION_HEADER = 'x-device-app-version';
export const DEVICE_PENDING_HEADER = 'x-device-pending';
/** The schema version the device's tables are at (PROTOCOL.md §2 schema); protocol-1 devices send none. */
export const DEVICE_SCHEMA_VERSION_HEADER = 'x-device-schema-version';

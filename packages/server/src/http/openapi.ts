import {
  DeviceInfo,
  DeviceList,
  HealthResponse,
  LoginRequest,
  LoginResponse,
  PROTOCOL_VERSION,
  PairRequest,
  PairResponse,
  PairingCodeResponse,
  PullQuery,
  PullResponse,
  PushRequest,
  PushResponse,
  RefreshRequest,
  RefreshResponse,
  SyncSchema,
  openApiDocument,
  type ApiOperation,
} from '@tillsync/protocol';

/** Every route, with the schemas the server validates with and answers in (PROTOCOL.md §2). */
const OPERATIONS: readonly ApiOperation[] = [
  {
    method: 'get',
    path: '/api/sync/health',
    summary: 'Health, server time and protocol version',
    public: true,
    response: HealthResponse,
  },
  {
    method: 'post',
    path: '/api/sync/push',
    summary: 'Push changes; one result per change',
    body: PushRequest,
    response: PushResponse,
  },
  {
    method: 'get',
    path: '/api/sync/pull',
    summary: 'Pull the changes after a cursor, a page at a time',
    query: PullQuery,
    response: PullResponse,
  },
  {
    method: 'get',
    path: '/api/sync/schema',
    summary: 'The schema the server enforces',
    response: SyncSchema,
  },
  {
    method: 'get',
    path: '/api/sync/events',
    summary: 'Server-sent events: "changes" when another device pushed',
  },
  {
    method: 'post',
    path: '/api/auth/login',
    summary: "An owner's login",
    public: true,
    body: LoginRequest,
    response: LoginResponse,
  },
  {
    method: 'post',
    path: '/api/auth/logout',
    summary: "Ends the owner's session",
    status: 204,
  },
  {
    method: 'post',
    path: '/api/auth/refresh',
    summary: "Rotates a device's tokens",
    public: true,
    body: RefreshRequest,
    response: RefreshResponse,
  },
  {
    method: 'post',
    path: '/api/pairing-codes',
    summary: 'A one-time pairing code, valid 15 minutes',
    response: PairingCodeResponse,
    status: 201,
  },
  {
    method: 'post',
    path: '/api/devices/pair',
    summary: 'Pairs a device with a code',
    public: true,
    body: PairRequest,
    response: PairResponse,
    status: 201,
  },
  {
    method: 'get',
    path: '/api/devices',
    summary: "The tenant's devices",
    response: DeviceList,
  },
  {
    method: 'post',
    path: '/api/devices/{id}/revoke',
    summary: 'Cuts a device off',
    status: 204,
  },
  {
    method: 'patch',
    path: '/api/devices/{id}',
    summary: 'Renames a device',
    response: DeviceInfo,
  },
  { method: 'get', path: '/api/ready', summary: 'Readiness: the database answers', public: true },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics', public: true },
];

/** The HTTP API as an OpenAPI 3.1 document, made from the same schemas the server validates with. */
export function serverApiDocument(): Record<string, unknown> {
  return openApiDocument({
    title: 'Tillsync',
    version: String(PROTOCOL_VERSION),
    description: 'The Tillsync sync protocol (PROTOCOL.md)',
    bearer: true,
    operations: OPERATIONS,
  });
}

import type { TSchema } from '@sinclair/typebox';
import {
  DeviceInfo,
  DeviceList,
  ErrorBody,
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
} from '@tillsync/protocol';

interface Operation {
  readonly method: 'get' | 'post' | 'patch';
  readonly path: string;
  readonly summary: string;
  readonly auth: 'none' | 'device' | 'owner' | 'any';
  readonly body?: TSchema;
  readonly query?: TSchema;
  readonly response?: TSchema;
  readonly status?: number;
}

/** Every route, with the schemas the server validates with and answers in (PROTOCOL.md §2). */
const OPERATIONS: readonly Operation[] = [
  {
    method: 'get',
    path: '/api/sync/health',
    summary: 'Health, server time and protocol version',
    auth: 'none',
    response: HealthResponse,
  },
  {
    method: 'post',
    path: '/api/sync/push',
    summary: 'Push changes; one result per change',
    auth: 'device',
    body: PushRequest,
    response: PushResponse,
  },
  {
    method: 'get',
    path: '/api/sync/pull',
    summary: 'Pull the changes after a cursor, a page at a time',
    auth: 'device',
    query: PullQuery,
    response: PullResponse,
  },
  {
    method: 'get',
    path: '/api/sync/schema',
    summary: 'The schema the server enforces',
    auth: 'any',
    response: SyncSchema,
  },
  {
    method: 'get',
    path: '/api/sync/events',
    summary: 'Server-sent events: "changes" when another device pushed',
    auth: 'device',
  },
  {
    method: 'post',
    path: '/api/auth/login',
    summary: "An owner's login",
    auth: 'none',
    body: LoginRequest,
    response: LoginResponse,
  },
  {
    method: 'post',
    path: '/api/auth/logout',
    summary: "Ends the owner's session",
    auth: 'owner',
    status: 204,
  },
  {
    method: 'post',
    path: '/api/auth/refresh',
    summary: "Rotates a device's tokens",
    auth: 'none',
    body: RefreshRequest,
    response: RefreshResponse,
  },
  {
    method: 'post',
    path: '/api/pairing-codes',
    summary: 'A one-time pairing code, valid 15 minutes',
    auth: 'owner',
    response: PairingCodeResponse,
    status: 201,
  },
  {
    method: 'post',
    path: '/api/devices/pair',
    summary: 'Pairs a device with a code',
    auth: 'none',
    body: PairRequest,
    response: PairResponse,
    status: 201,
  },
  {
    method: 'get',
    path: '/api/devices',
    summary: "The tenant's devices",
    auth: 'owner',
    response: DeviceList,
  },
  {
    method: 'post',
    path: '/api/devices/{id}/revoke',
    summary: 'Cuts a device off',
    auth: 'owner',
    status: 204,
  },
  {
    method: 'patch',
    path: '/api/devices/{id}',
    summary: 'Renames a device',
    auth: 'owner',
    response: DeviceInfo,
  },
  { method: 'get', path: '/api/ready', summary: 'Readiness: the database answers', auth: 'none' },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics', auth: 'none' },
];

/** The HTTP API as an OpenAPI 3.1 document, made from the same schemas the server validates with. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of OPERATIONS) {
    const responses: Record<string, unknown> = {
      [String(operation.status ?? 200)]: operation.response
        ? { description: 'success', content: { 'application/json': { schema: plain(operation.response) } } }
        : { description: 'success' },
      '4XX': {
        description: 'the request was refused',
        content: { 'application/json': { schema: plain(ErrorBody) } },
      },
    };
    const parameters = [
      ...(operation.path.includes('{id}')
        ? [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }]
        : []),
      ...Object.entries((operation.query?.properties ?? {}) as Record<string, TSchema>).map(
        ([name, schema]) => ({
          name,
          in: 'query',
          required: false,
          schema: plain(schema),
        }),
      ),
    ];
    (paths[operation.path] ??= {})[operation.method] = {
      summary: operation.summary,
      ...(operation.auth === 'none' ? { security: [] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(operation.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: plain(operation.body) } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tillsync',
      version: String(PROTOCOL_VERSION),
      description: 'The Tillsync sync protocol (PROTOCOL.md)',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}

/** A TypeBox schema as plain JSON Schema (without TypeBox's symbol keys). */
function plain(schema: TSchema): unknown {
  return JSON.parse(JSON.stringify(schema)) as unknown;
}

import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance } from 'fastify';
import {
  LoginRequest,
  PairingCodeRequest,
  PairRequest,
  ProtocolError,
  RefreshRequest,
  type DeviceInfo,
  type DeviceList,
  type LoginResponse,
  type PairResponse,
  type PairingCodeResponse,
  type RefreshResponse,
} from '@tillsync/protocol';
import type { DeviceRecord } from '../storage/account-store.js';
import { writeStoreRows } from '../stores.js';
import type { AppContext } from './app-context.js';

const DeviceParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
const RenameRequest = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) });

/** Login, pairing, tokens and the devices panel (PROTOCOL.md §2 "Devices and accounts"). */
export function registerAccountRoutes(app: FastifyInstance, context: AppContext): void {
  const { config, storage, accounts } = context;

  app.post('/api/auth/login', { schema: { body: LoginRequest } }, (request): Promise<LoginResponse> => {
    const body = request.body as LoginRequest;
    return accounts.login(body.email, body.password, request.ip);
  });

  app.post('/api/auth/logout', async (request, reply) => {
    const owner = await accounts.authenticateOwner(request.headers.authorization);
    await accounts.logout(owner);
    return reply.code(204).send();
  });

  app.post('/api/pairing-codes', async (request, reply): Promise<PairingCodeResponse> => {
    const owner = await accounts.authenticateOwner(request.headers.authorization);
    // The body is optional (`{}` or none: the tenant's first store).
    const body: unknown = request.body ?? {};
    if (!Value.Check(PairingCodeRequest, body))
      throw new ProtocolError(400, 'INVALID_REQUEST', 'the body is {"storeId"?: "<a store of this tenant>"}');
    void reply.code(201);
    return accounts.createPairingCode(owner.tenantId, body.storeId);
  });

  app.post(
    '/api/devices/pair',
    { schema: { body: PairRequest } },
    async (request, reply): Promise<PairResponse> => {
      const paired = await accounts.pair(request.body as PairRequest, request.ip);
      // A tenant made by `tillsync admin` while the server runs has its first store written here.
      await writeStoreRows(
        { accounts: storage.accounts, sync: storage.sync, schema: config.schema, now: config.now },
        paired.tenantId,
        paired.storeId,
      );
      request.log.info({ tenantId: paired.tenantId, deviceId: paired.deviceId }, 'device paired');
      void reply.code(201);
      return paired;
    },
  );

  app.post('/api/auth/refresh', { schema: { body: RefreshRequest } }, (request): Promise<RefreshResponse> => {
    return accounts.refresh((request.body as RefreshRequest).refreshToken);
  });

  app.get('/api/devices', async (request): Promise<DeviceList> => {
    const owner = await accounts.authenticateOwner(request.headers.authorization);
    const devices = await accounts.listDevices(owner.tenantId);
    return devices.map(toDeviceInfo);
  });

  app.post('/api/devices/:id/revoke', { schema: { params: DeviceParams } }, async (request, reply) => {
    const owner = await accounts.authenticateOwner(request.headers.authorization);
    const { id } = request.params as { id: string };
    const revoked = await storage.accounts.revokeDevice(
      owner.tenantId,
      id,
      new Date(config.now()).toISOString(),
    );
    if (!revoked) throw new ProtocolError(404, 'NOT_FOUND', `there is no device ${id}`);
    return reply.code(204).send();
  });

  app.patch(
    '/api/devices/:id',
    { schema: { params: DeviceParams, body: RenameRequest } },
    async (request) => {
      const owner = await accounts.authenticateOwner(request.headers.authorization);
      const { id } = request.params as { id: string };
      const { name } = request.body as { name: string };
      if (!(await storage.accounts.renameDevice(owner.tenantId, id, name.trim()))) {
        throw new ProtocolError(404, 'NOT_FOUND', `there is no device ${id}`);
      }
      const device = (await storage.accounts.listDevices(owner.tenantId)).find(
        (candidate) => candidate.id === id,
      );
      return device && toDeviceInfo(device);
    },
  );
}

function toDeviceInfo({ tenantId: _tenantId, ...device }: DeviceRecord): DeviceInfo {
  return device;
}

import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  CreateStoreRequest,
  MoveDeviceRequest,
  type CreatedStore,
  type DeviceInfo,
  type StoreList,
} from '@tillsync/protocol';
import { writeStoreRows } from '../stores.js';
import type { AppContext } from './app-context.js';

const DeviceParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

/** The owner's stores and the moves of devices between them (PROTOCOL.md §7). */
export function registerStoreRoutes(app: FastifyInstance, context: AppContext): void {
  const { accounts, storage, config } = context;
  const storeRows = {
    accounts: storage.accounts,
    sync: storage.sync,
    schema: config.schema,
    now: config.now,
  };

  app.get('/api/stores', async (request): Promise<StoreList> => {
    const owner = await accounts.authenticateOwner(request.headers.authorization);
    return storage.accounts.listStores(owner.tenantId);
  });

  app.post(
    '/api/stores',
    { schema: { body: CreateStoreRequest } },
    async (request, reply): Promise<CreatedStore> => {
      const owner = await accounts.authenticateOwner(request.headers.authorization);
      const { name } = request.body as CreateStoreRequest;
      const store = await storage.accounts.createStore(owner.tenantId, name.trim() || name);
      await writeStoreRows(storeRows, owner.tenantId, store.id);
      void reply.code(201);
      return { id: store.id, name: store.name };
    },
  );

  app.post(
    '/api/devices/:id/store',
    { schema: { params: DeviceParams, body: MoveDeviceRequest } },
    async (request): Promise<DeviceInfo> => {
      const owner = await accounts.authenticateOwner(request.headers.authorization);
      const { id } = request.params as { id: string };
      const { storeId } = request.body as MoveDeviceRequest;
      const { tenantId: _tenantId, ...device } = await accounts.moveDevice(owner.tenantId, id, storeId);
      request.log.info({ tenantId: owner.tenantId, deviceId: id, storeId }, 'device moved to another store');
      return device;
    },
  );
}

import type { FastifyInstance } from 'fastify';
import { DemoCloudRequest, ProtocolError, type DemoCloudState } from '@tillsync/protocol';
import type { AppContext } from './app-context.js';

/**
 * `GET /api/demo/cloud` and `PUT /api/demo/cloud` `{"online": false}` (owner): the demo's switch that takes
 * the cloud offline for the devices and back, while the owner's dashboard stays reachable. A server that is
 * no demo answers that it has no switch (so the dashboard shows none), and refuses to set it.
 */
export function registerDemoRoutes(app: FastifyInstance, context: AppContext): void {
  const { accounts, config } = context;
  const cloud = config.demoCloud;
  const state = (): DemoCloudState => ({ online: cloud?.online() ?? true, switchable: cloud !== null });
  app.get('/api/demo/cloud', async (request): Promise<DemoCloudState> => {
    await accounts.authenticateOwner(request.headers.authorization);
    return state();
  });
  app.put(
    '/api/demo/cloud',
    { schema: { body: DemoCloudRequest } },
    async (request): Promise<DemoCloudState> => {
      await accounts.authenticateOwner(request.headers.authorization);
      if (cloud === null) {
        throw new ProtocolError(
          409,
          'NOT_A_DEMO',
          'only the demo (tillsync demo) can take its cloud offline',
        );
      }
      await cloud.setOnline((request.body as DemoCloudRequest).online);
      return state();
    },
  );
}

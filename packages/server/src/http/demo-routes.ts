import type { FastifyInstance } from 'fastify';
import { DemoCloudRequest, ProtocolError, type DemoCloudState } from '@tillsync/protocol';
import type { AppContext } from './app-context.js';

/**
 * The demo's cloud switch (`tillsync demo` only): what the devices reach of this server, which the demo
 * routes through a link it can cut. The server holds no state of it; the demo passes the switch.
 */
export interface DemoCloudSwitch {
  /** Whether the devices reach the cloud now. */
  online(): boolean;
  /** Cuts the devices off (every open connection closed, new ones refused) or lets them through again. */
  setOnline(online: boolean): Promise<void>;
}

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

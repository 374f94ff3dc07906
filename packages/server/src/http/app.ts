import Fastify, { type FastifyInstance } from 'fastify';
import { ProtocolError } from '@tillsync/protocol';
import type { Accounts } from '../accounts.js';
import type { ServerConfig } from '../config.js';
import type { ServerMetrics } from '../metrics.js';
import type { ChangeNotices } from '../notices/change-notices.js';
import type { Storage } from '../storage/storage.js';
import { registerAccountRoutes } from './account-routes.js';
import { toErrorAnswer } from './errors.js';
import { registerOpsRoutes } from './ops-routes.js';
import { registerSyncRoutes } from './sync-routes.js';

/** What the routes need. */
export interface AppContext {
  readonly config: ServerConfig;
  readonly storage: Storage;
  readonly accounts: Accounts;
  readonly notices: ChangeNotices;
  readonly metrics: ServerMetrics;
}

/** The HTTP API of PROTOCOL.md §2 as a Fastify app (not listening yet). */
export function buildApp(context: AppContext): FastifyInstance {
  const app = Fastify({
    logger: context.config.logger ? { level: 'info', stream: process.stderr } : false,
    bodyLimit: context.config.bodyLimitBytes,
    // Event streams never go idle: close them with the server instead of waiting for the devices.
    forceCloseConnections: true,
    // Bodies are judged as sent: "5" is not a number and unknown fields are not silently dropped.
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false },
    },
  });

  // JSON with an empty body allowed (POST calls that carry nothing), and a clear error for bad JSON.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text) as unknown);
    } catch (error) {
      done(
        new ProtocolError(400, 'INVALID_REQUEST', `the body is not valid JSON: ${(error as Error).message}`),
        undefined,
      );
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const answer = toErrorAnswer(error);
    if (answer.internal) request.log.error({ err: error }, 'request failed');
    void reply.code(answer.status).send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `there is no ${request.method} ${request.url.split('?')[0] ?? ''}`,
      },
    });
  });

  app.addHook('onResponse', (request, reply, done) => {
    context.metrics.requestSeconds.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unknown',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
    done();
  });

  registerSyncRoutes(app, context);
  registerAccountRoutes(app, context);
  registerOpsRoutes(app, context);
  return app;
}

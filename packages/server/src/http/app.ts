import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { ProtocolError } from '@tillsync/protocol';
import type { AppContext } from './app-context.js';
import { registerAccountRoutes } from './account-routes.js';
import { toErrorAnswer } from './errors.js';
import { registerOpsRoutes } from './ops-routes.js';
import { registerSyncRoutes } from './sync-routes.js';
import { registerStoreRoutes } from './store-routes.js';
import { registerJobRoutes } from './job-routes.js';
import { registerConflictRoutes } from './conflict-routes.js';
import { readStaticFile } from './static-files.js';

/** The HTTP API of PROTOCOL.md §2 as a Fastify app (not listening yet). */
export function buildApp(context: AppContext): FastifyInstance {
  const app = Fastify({
    logger: context.config.logger ? { level: 'info', stream: process.stderr } : false,
    logController: new OneLinePerRequest(),
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
    if (answer.headers) void reply.headers(answer.headers);
    void reply.code(answer.status).send(answer.body);
  });
  const { webRoot } = context.config;
  app.setNotFoundHandler(async (request, reply) => {
    // The dashboard's files and screens; the API's unknown paths stay JSON errors.
    const path = request.url.split('?')[0] ?? '/';
    if (webRoot && (request.method === 'GET' || request.method === 'HEAD') && !/^\/api(\/|$)/.test(path)) {
      const file = await readStaticFile(webRoot, path);
      if (file) return reply.code(200).headers(file.headers).send(file.body);
    }
    return reply.code(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `there is no ${request.method} ${path}`,
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
  registerStoreRoutes(app, context);
  if (context.jobs) registerJobRoutes(app, context.jobs, context.accounts);
  registerConflictRoutes(app, context);
  registerOpsRoutes(app, context);
  return app;
}

/**
 * One log line per request, when it is answered, instead of Fastify's two (incoming, completed): with the
 * method and URL of the first, and the fields the routes added to the request's logger (tenant, device, push).
 */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {
    // Said by the line written when the request is answered.
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const fields = {
      method: request.method,
      url: request.url,
      statusCode: reply.statusCode,
      responseTime: reply.elapsedTime,
    };
    if (error) request.log.error({ ...fields, err: error }, 'request errored');
    else request.log.info(fields, 'request completed');
  }
}

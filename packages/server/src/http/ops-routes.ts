import type { FastifyInstance } from 'fastify';
import type { AppContext } from './app-context.js';
import { serverApiDocument } from './openapi.js';

/** Operations: readiness, Prometheus metrics, the OpenAPI description. */
export function registerOpsRoutes(app: FastifyInstance, context: AppContext): void {
  const document = serverApiDocument();

  app.get('/api/ready', async (request, reply) => {
    try {
      await context.storage.ping();
      return { ready: true };
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check failed');
      return reply.code(503).send({ error: { code: 'NOT_READY', message: 'the database does not answer' } });
    }
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await context.metrics.registry.metrics();
    return reply.type(context.metrics.registry.contentType).send(text);
  });

  app.get('/api/openapi.json', () => document);
}

import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  CancelSyncJobRequest,
  EnqueueSyncJobRequest,
  ProtocolError,
  SyncJobListQuery,
  SyncJobTypePatch,
  type SyncJob,
  type SyncJobList,
  type SyncJobTypeInfo,
  type SyncJobTypeList,
} from '@tillsync/protocol';
import type { TenantSyncJobs } from '@tillsync/jobs';
import type { Accounts } from '../accounts.js';
import type { ServerJobs } from '../jobs/server-jobs.js';

const JobParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
const TypeParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) });
const WebhookRow = Type.Object(
  {
    table: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    id: Type.String({ minLength: 1, maxLength: 128 }),
  },
  { additionalProperties: false },
);
/** `POST /api/sync-jobs/webhook/:name`: all optional. */
const WebhookRequest = Type.Object(
  {
    source: Type.Optional(WebhookRow),
    trigger: Type.Optional(WebhookRow),
    context: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

/**
 * The sync jobs API of PROTOCOL.md §6, for owners. Every call is scoped to the owner's tenant: another
 * tenant's job is "not found". A call the job's status does not allow answers `409 INVALID_STATUS`.
 */
export function registerJobRoutes(app: FastifyInstance, serverJobs: ServerJobs, accounts: Accounts): void {
  const jobsOf = async (request: FastifyRequest): Promise<TenantSyncJobs> => {
    const owner = await accounts.authenticateOwner(request.headers.authorization);
    request.log = request.log.child({ tenantId: owner.tenantId, component: 'jobs' });
    return serverJobs.jobs.forTenant(owner.tenantId);
  };

  app.get('/api/sync-job-types', async (request): Promise<SyncJobTypeList> =>
    (await jobsOf(request)).listTypes(),
  );

  app.patch(
    '/api/sync-job-types/:name',
    { schema: { params: TypeParams, body: SyncJobTypePatch } },
    async (request): Promise<SyncJobTypeInfo> => {
      const jobs = await jobsOf(request);
      const { name } = request.params as { name: string };
      return jobs.updateType(name, request.body ?? {});
    },
  );

  app.post(
    '/api/sync-jobs',
    { schema: { body: EnqueueSyncJobRequest } },
    async (request, reply): Promise<SyncJob> => {
      const jobs = await jobsOf(request);
      const body = request.body as EnqueueSyncJobRequest;
      const job = await jobs.enqueue({
        type: body.type,
        ...(body.source ? { source: body.source } : {}),
        ...(body.context ? { context: body.context } : {}),
        ...(body.operation ? { operation: body.operation } : {}),
        ...(body.target ? { target: body.target } : {}),
        ...(body.title !== undefined ? { title: body.title } : {}),
        ...(body.trigger ? { trigger: { type: 'api' as const, ...body.trigger } } : {}),
        ...(body.dryRun !== undefined ? { dryRun: body.dryRun } : {}),
        ...(body.queueOnInsert !== undefined ? { queueOnInsert: body.queueOnInsert } : {}),
        settings: pick(body, ['queue', 'timeoutSec', 'retryDelaySec', 'maxRetries', 'verboseLogging']),
        flags: pick(body, ['insertEnabled', 'updateEnabled', 'deleteEnabled', 'updateWithoutChangesEnabled']),
        ...(body.trigger ? {} : { trigger: { type: 'api' as const } }),
      });
      request.log.info({ jobId: job.id, type: job.type }, 'sync job enqueued');
      void reply.code(201);
      return job;
    },
  );

  // A job type's webhook: the owner makes (or replaces) its secret, shown once, or turns it off.
  app.post(
    '/api/sync-job-types/:name/webhook',
    { schema: { params: TypeParams } },
    async (request, reply): Promise<{ url: string; secret: string }> => {
      const owner = await accounts.authenticateOwner(request.headers.authorization);
      const { name } = request.params as { name: string };
      const secret = await serverJobs.newWebhookSecret(owner.tenantId, name);
      void reply.code(201);
      return { url: `/api/sync-jobs/webhook/${encodeURIComponent(name)}`, secret };
    },
  );

  app.delete(
    '/api/sync-job-types/:name/webhook',
    { schema: { params: TypeParams } },
    async (request, reply): Promise<void> => {
      const owner = await accounts.authenticateOwner(request.headers.authorization);
      await serverJobs.deleteWebhook(owner.tenantId, (request.params as { name: string }).name);
      void reply.code(204);
    },
  );

  // Called by another system: its secret (header X-Tillsync-Webhook-Secret) names the tenant.
  app.post(
    '/api/sync-jobs/webhook/:name',
    { schema: { params: TypeParams } },
    async (request, reply): Promise<SyncJob> => {
      const { name } = request.params as { name: string };
      const secret = request.headers['x-tillsync-webhook-secret'];
      const body = request.body ?? {};
      if (!Value.Check(WebhookRequest, body)) {
        throw new ProtocolError(
          400,
          'INVALID_REQUEST',
          'the body of a webhook call is {"source"?: {"table"?, "id"}, "trigger"?: {"table"?, "id"}, "context"?: {…}} or nothing',
        );
      }
      const job =
        typeof secret === 'string' && secret.length > 0
          ? await serverJobs.enqueueFromWebhook(name, secret, body)
          : null;
      if (!job) {
        throw new ProtocolError(
          401,
          'UNAUTHORIZED',
          `no webhook of job type "${name}" has this secret (header X-Tillsync-Webhook-Secret)`,
        );
      }
      request.log.info({ jobId: job.id, type: job.type }, 'sync job enqueued by a webhook');
      void reply.code(201);
      return job;
    },
  );

  app.get(
    '/api/sync-jobs',
    { schema: { querystring: SyncJobListQuery } },
    async (request): Promise<SyncJobList> => {
      const jobs = await jobsOf(request);
      const query = request.query as SyncJobListQuery;
      return jobs.list({
        ...(query.status ? { status: query.status } : {}),
        ...(query.type ? { type: query.type } : {}),
        ...(query.limit ? { limit: Number(query.limit) } : {}),
      });
    },
  );

  app.get('/api/sync-jobs/:id', { schema: { params: JobParams } }, async (request): Promise<SyncJob> => {
    const jobs = await jobsOf(request);
    return jobs.get((request.params as { id: string }).id);
  });

  app.post(
    '/api/sync-jobs/:id/start',
    { schema: { params: JobParams } },
    async (request): Promise<SyncJob> => {
      const jobs = await jobsOf(request);
      return jobs.start((request.params as { id: string }).id);
    },
  );

  app.post(
    '/api/sync-jobs/:id/cancel',
    { schema: { params: JobParams } },
    async (request): Promise<SyncJob> => {
      const jobs = await jobsOf(request);
      // The body is optional: checked here, since a schema on the route would refuse an empty one.
      const body = request.body as CancelSyncJobRequest | undefined;
      if (body !== undefined && !Value.Check(CancelSyncJobRequest, body)) {
        throw new ProtocolError(
          400,
          'INVALID_REQUEST',
          'the body of a cancel is {"reason": "<text>"} or nothing',
        );
      }
      return jobs.cancel((request.params as { id: string }).id, body?.reason);
    },
  );

  app.post(
    '/api/sync-jobs/:id/retry',
    { schema: { params: JobParams } },
    async (request): Promise<SyncJob> => {
      const jobs = await jobsOf(request);
      return jobs.retry((request.params as { id: string }).id);
    },
  );
}

/** The fields of `body` among `keys` that were given. */
function pick<T extends object, K extends keyof T>(
  body: T,
  keys: readonly K[],
): { [P in K]?: Exclude<T[P], undefined> } {
  const picked: { [P in K]?: Exclude<T[P], undefined> } = {};
  for (const key of keys) if (body[key] !== undefined) picked[key] = body[key] as Exclude<T[K], undefined>;
  return picked;
}

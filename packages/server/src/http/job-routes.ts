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
        ...(body.dryRun !== undefined ? { dryRun: body.dryRun } : {}),
        ...(body.queueOnInsert !== undefined ? { queueOnInsert: body.queueOnInsert } : {}),
        settings: pick(body, ['queue', 'timeoutSec', 'retryDelaySec', 'maxRetries', 'verboseLogging']),
        flags: pick(body, ['insertEnabled', 'updateEnabled', 'deleteEnabled', 'updateWithoutChangesEnabled']),
        trigger: { type: 'api' },
      });
      request.log.info({ jobId: job.id, type: job.type }, 'sync job enqueued');
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

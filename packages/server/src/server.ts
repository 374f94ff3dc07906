import type { FastifyInstance } from 'fastify';
import { Accounts } from './accounts.js';
import { resolveServerConfig, type ServerConfig, type ServerOptions } from './config.js';
import { buildApp } from './http/app.js';
import { ServerMetrics } from './metrics.js';
import type { ChangeNotices } from './notices/change-notices.js';
import { openChangeNotices } from './notices/open-change-notices.js';
import { openServerStorage, type ServerStorage } from './server-storage.js';
import { ServerJobs } from './jobs/server-jobs.js';
import { serveSchema, type SchemaRollout } from './schema-rollout.js';
import { writeStoreRows } from './stores.js';
import { STORES_TABLE } from '@tillsync/protocol';

/** How often tombstones past their retention and old push answers are dropped. */
const MAINTENANCE_INTERVAL_MS = 60 * 60 * 1000;
/** How often the database's planner statistics are looked at (`SqlEngine.refreshStatistics`). */
const STATISTICS_INTERVAL_MS = 15 * 1000;
/** Rate-limit windows last minutes; a day later they are only clutter. */
const DAY_MS_FOR_RATE_LIMITS = 24 * 60 * 60 * 1000;
/** A push answer is kept this long for a retry with the same pushId. */
const PUSH_ANSWER_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/** A running server: its URL, and `close()` to stop it. */
export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly config: ServerConfig;
  readonly storage: ServerStorage;
  readonly accounts: Accounts;
  readonly app: FastifyInstance;
  readonly notices: ChangeNotices;
  readonly metrics: ServerMetrics;
  /** Sync jobs: their types, store, owner's API and queue (PROTOCOL.md §6). */
  readonly jobs: ServerJobs;
  /** What this start did with its schema: the first served, the same again, or a change (and which). */
  readonly schemaRollout: SchemaRollout;
  /** Drops tombstones (and the deleted rows' last states) past retention now (it also runs hourly). */
  runMaintenance(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the database (migrating it), moves it to the schema given (or refuses a schema that cannot be served
 * on it, with a `SchemaChangeError` naming the table and column), creates the first owner from the admin settings if the database has
 * none, and listens.
 *
 * @example
 * const server = await startServer({ dbPath: './data/cloud.db', port: 8787 });
 * console.log(server.url);
 * await server.close();
 */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const config = resolveServerConfig(options);
  const storage = await openServerStorage(
    config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dbPath: config.dbPath },
    { now: config.now },
  );
  const accounts = new Accounts(storage.accounts, config, storage.rateLimiter);
  const metrics = new ServerMetrics();
  let notices: ChangeNotices;
  let jobs: ServerJobs;
  let schemaRollout: SchemaRollout;
  try {
    schemaRollout = await serveSchema(storage.servedSchema, config.schema, {
      acceptBreaking: config.acceptBreakingSchema,
      now: config.now,
    });
    // A shop's job type that cannot be used stops the server here, with its name in the message.
    jobs = new ServerJobs({
      config: config.jobs,
      schema: config.schema,
      now: config.now,
      openStore: (jobStoreOptions) => storage.createJobStore(jobStoreOptions),
      onJobEnded: (ended) => metrics.jobEnded(ended),
      // A job's rows are news to the devices whose scope they are in, as a push's are.
      onRowsWritten: (tenantId, scopes) => {
        notices.publish({ tenantId, deviceId: null, scopes }).catch((error: unknown) => {
          app.log.warn({ err: error }, 'could not publish a change notice');
        });
      },
      logger: {
        info: (fields, message) => app.log.info({ component: 'jobs', ...fields }, message),
        warn: (fields, message) => app.log.warn({ component: 'jobs', ...fields }, message),
        error: (fields, message) => app.log.error({ component: 'jobs', ...fields }, message),
      },
    });
    notices = await openChangeNotices({
      databaseUrl: config.databaseUrl,
      redisUrl: config.jobs.redisUrl,
      redisPrefix: config.jobs.bullmqPrefix,
      onError: (error) => app.log.warn({ err: error }, 'change notices'),
    });
  } catch (error) {
    await storage.close();
    throw error;
  }
  metrics.countJobsWith(() => jobs.store.countJobs());
  const app = buildApp({ config, storage, accounts, notices, metrics, jobs });
  const runMaintenance = async (): Promise<void> => {
    const now = config.now();
    const purged = await storage.sync.purgeTombstones(now - config.tombstoneRetentionMs);
    await jobs.store.purgeDeletedRows(now - config.tombstoneRetentionMs);
    await storage.sync.purgePushAnswers(now - PUSH_ANSWER_RETENTION_MS);
    await storage.rateLimiter.purge(now - DAY_MS_FOR_RATE_LIMITS);
    if (purged > 0) app.log.info({ purged }, 'purged tombstones past retention');
  };
  const refreshStatistics = async (): Promise<void> => {
    const analysed = (await storage.engine.refreshStatistics?.()) ?? [];
    if (analysed.length > 0) app.log.debug({ tables: analysed }, 'refreshed the planner statistics');
  };
  let timer: NodeJS.Timeout | undefined;
  let statisticsTimer: NodeJS.Timeout | undefined;
  try {
    const admin = await accounts.bootstrapAdmin();
    if (config.schema.table(STORES_TABLE))
      for (const tenant of await storage.accounts.listTenants())
        await writeStoreRows(
          { accounts: storage.accounts, sync: storage.sync, schema: config.schema, now: config.now },
          tenant.tenantId,
        );
    if (admin) app.log.info({ tenantId: admin.tenantId }, 'created the first tenant and its owner');
    if (schemaRollout.outcome === 'additive' || schemaRollout.outcome === 'breaking') {
      app.log.info(
        {
          version: schemaRollout.version,
          previousVersion: schemaRollout.previousVersion,
          changes: schemaRollout.changes.map((change) => change.message),
        },
        schemaRollout.outcome === 'breaking'
          ? 'serving a schema with breaking changes: every device takes a fresh snapshot'
          : 'serving a schema with additive changes',
      );
    }
    await runMaintenance();
    await app.listen({ port: config.port, host: config.host });
    await jobs.start();
    timer = setInterval(() => {
      runMaintenance().catch((error: unknown) => app.log.error({ err: error }, 'maintenance failed'));
    }, MAINTENANCE_INTERVAL_MS);
    timer.unref();
    statisticsTimer = setInterval(() => {
      refreshStatistics().catch((error: unknown) =>
        app.log.warn({ err: error }, 'could not refresh the planner statistics'),
      );
    }, STATISTICS_INTERVAL_MS);
    statisticsTimer.unref();
  } catch (error) {
    await jobs.stop();
    await app.close();
    await notices.close();
    await storage.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    port,
    config,
    storage,
    accounts,
    app,
    notices,
    metrics,
    jobs,
    schemaRollout,
    runMaintenance,
    async close() {
      clearInterval(timer);
      clearInterval(statisticsTimer);
      // Running jobs end (or reach their timeout) before the database they write to closes.
      await jobs.stop();
      await app.close();
      await accounts.writeDeviceCalls().catch((error: unknown) => {
        app.log.warn({ err: error }, 'could not write the last device calls');
      });
      await notices.close();
      await storage.close();
    },
  };
}

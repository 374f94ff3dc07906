import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  DEFAULT_PULL_LIMIT,
  DEVICE_APP_VERSION_HEADER,
  DEVICE_PENDING_HEADER,
  DEVICE_SCHEMA_VERSION_HEADER,
  MAX_PULL_LIMIT,
  PROTOCOL_VERSION,
  ProtocolError,
  PullQuery,
  PushRequest,
  type HealthResponse,
  type PullResponse,
  type SyncSchema,
} from '@tillsync/protocol';
import type { DeviceCaller } from '../accounts.js';
import type { PulledRow } from '../storage/sync-store.js';
import { cursorAfter, pullAt } from '../pull-cursor.js';
import { applyPushWithText } from '../push.js';
import { noticeConcerns } from '../notices/change-notices.js';
import type { AppContext } from './app-context.js';

/** Health, push, pull and schema (PROTOCOL.md §2). */
export function registerSyncRoutes(app: FastifyInstance, context: AppContext): void {
  const { config, storage, accounts, notices, metrics } = context;
  // Parents before the tables that reference them: a snapshot's rows come table by table in this order.
  const snapshotTableOrder = config.schema.tables.map((table) => table.name);

  /** Authenticates a device and records the call for the devices panel's "last seen". */
  const device = async (request: FastifyRequest): Promise<DeviceCaller> => {
    const caller = await accounts.authenticateDevice(request.headers.authorization);
    const appVersion = headerText(request, DEVICE_APP_VERSION_HEADER);
    accounts.recordDeviceCall(caller.deviceId, {
      appVersion: appVersion?.slice(0, 100) ?? null,
      pendingChanges: headerCount(request, DEVICE_PENDING_HEADER, 0),
      // A protocol-1 device sends none, and a malformed one says nothing: the version stays unknown.
      schemaVersion: headerCount(request, DEVICE_SCHEMA_VERSION_HEADER, 1),
    });
    request.log = request.log.child({ tenantId: caller.tenantId, deviceId: caller.deviceId });
    return caller;
  };

  app.get('/api/sync/health', (): HealthResponse => ({
    ok: true,
    serverTime: new Date(config.now()).toISOString(),
    protocol: PROTOCOL_VERSION,
  }));

  app.post('/api/sync/push', { schema: { body: PushRequest } }, async (request, reply) => {
    const caller = await device(request);
    const body = request.body as PushRequest;
    const enqueuedJobs: string[] = [];
    const triggers = context.jobs?.triggersFor(enqueuedJobs);
    // The scopes the push wrote in: its notice goes to the devices that receive those rows only.
    const scopes = new Set<string>();
    // A device that stops waiting (its connection closes) leaves a push still queued unjudged: it sends
    // the same pushId again, and that is judged instead (PROTOCOL.md §2).
    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished)
        gone.abort(new Error('the device closed the connection before its push was judged'));
    });
    // A tenant's pushes queue in its store, and those that queued together share a transaction.
    const pushed = applyPushWithText(storage.sync.forTenant(caller.tenantId), body, {
      signal: gone.signal,
      schema: config.schema,
      deviceId: caller.deviceId,
      now: config.now,
      afterWrite: async (tx, writes) => {
        for (const write of writes) {
          scopes.add(write.scope);
          if (write.previous) scopes.add(write.previous.scope);
        }
        await triggers?.(tx, writes);
      },
    });
    let answer: Awaited<typeof pushed>;
    try {
      answer = await pushed;
    } catch (error) {
      // Nobody reads the answer: the connection is closed, and nothing was written.
      if (gone.signal.aborted) return reply.hijack();
      throw error;
    }
    const { response, json } = answer;
    await context.jobs?.settle(enqueuedJobs);
    // On the request's one log line (written when it is answered).
    request.log = request.log.child({ pushId: body.pushId, changes: body.changes.length });
    metrics.pushes.inc();
    // Counted per label, not per change: a push carries up to thousands of changes.
    const byStatus = new Map<string, number>();
    const byCode = new Map<string, number>();
    for (const result of response.results) {
      byStatus.set(result.status, (byStatus.get(result.status) ?? 0) + 1);
      if (result.status === 'rejected')
        byCode.set(result.error.code, (byCode.get(result.error.code) ?? 0) + 1);
    }
    for (const [status, count] of byStatus) metrics.pushedChanges.inc({ status }, count);
    for (const [code, count] of byCode) metrics.rejections.inc({ code }, count);
    if (response.results.some((result) => result.status !== 'rejected')) {
      // The push committed: the answer need not wait for the notice to be on its way.
      notices
        .publish({ tenantId: caller.tenantId, deviceId: caller.deviceId, scopes: [...scopes] })
        .catch((error: unknown) => {
          request.log.warn({ err: error }, 'could not publish a change notice');
        });
    }
    // The text stored for a retry of this pushId, sent as it is: a push's answer is serialised once.
    return reply.type('application/json; charset=utf-8').send(json);
  });

  // Server-sent events: "changes" whenever another device's push committed, so a device pulls in about a
  // second instead of at its next scheduled cycle. The stream carries no data; the pull does.
  app.get('/api/sync/events', async (request, reply) => {
    const caller = await device(request);
    reply.hijack();
    const stream = reply.raw;
    stream.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    stream.write('retry: 5000\n\n');
    metrics.connectedDevices.inc();
    // The device's store as it connects; a device moved meanwhile takes a fresh snapshot at its next pull and
    // connects again.
    const storeId = (await storage.accounts.deviceScope(caller.deviceId))?.storeId ?? null;
    const unsubscribe = notices.subscribe(caller.tenantId, (notice) => {
      if (notice.deviceId !== caller.deviceId && noticeConcerns(notice, storeId))
        stream.write(
          `event: changes\ndata: ${JSON.stringify({ tenantId: notice.tenantId, deviceId: notice.deviceId })}\n\n`,
        );
    });
    const heartbeat = setInterval(() => stream.write(': keep-alive\n\n'), 25_000);
    heartbeat.unref();
    request.raw.once('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      metrics.connectedDevices.dec();
    });
  });

  app.get('/api/sync/pull', { schema: { querystring: PullQuery } }, async (request, reply) => {
    const caller = await device(request);
    const query = request.query as PullQuery;
    const since = query.since ?? '';
    const limit = Math.min(Math.max(Number(query.limit ?? DEFAULT_PULL_LIMIT), 1), MAX_PULL_LIMIT);
    const store = storage.sync.forTenant(caller.tenantId);
    const page = await pullAt(store, since, limit, {
      tableOrder: snapshotTableOrder,
      deviceId: caller.deviceId,
    });
    if (page === null) {
      throw new ProtocolError(
        400,
        'INVALID_REQUEST',
        'since is not a cursor this server handed out: pull from the beginning',
      );
    }
    if (page.resyncRequired) {
      throw new ProtocolError(
        410,
        'RESYNC_REQUIRED',
        "this cursor is older than the deletions the server keeps, or than the device's move to another store: take a fresh snapshot",
      );
    }
    const rest: Omit<PullResponse, 'changes'> = {
      cursor: cursorAfter(page),
      hasMore: page.hasMore,
      serverTime: new Date(config.now()).toISOString(),
    };
    if (typeof page.storeId === 'string') rest.storeId = page.storeId;
    if (page.checksums) rest.checksums = withEveryTable(page.checksums, config.schema.source);
    if (since === '' && page.hasMore) rest.snapshotRows = await rowsHeld(store, page.storeId);
    metrics.pulls.inc();
    metrics.pulledRows.inc(page.rows.length);
    return reply.type('application/json; charset=utf-8').send(pullResponseBytes(page.rows, rest));
  });

  app.get('/api/sync/schema', async (request): Promise<SyncSchema> => {
    await accounts.authenticateAny(request.headers.authorization);
    return config.schema.source;
  });
}

/**
 * The rows a device's snapshot will hold, from its scope's table checksums' counts (kept with every push):
 * the tenant's and `storeId`'s (null: the tenant's only), as its pull pages carry them. A till of a chain
 * measures its first sync against its own store's rows, and the count reads its scope's few checksum rows,
 * not every store's.
 */
async function rowsHeld(
  store: { checksums(storeId?: string | null): Promise<Record<string, { count: number }>> },
  storeId: string | null | undefined,
): Promise<number> {
  return Object.values(await store.checksums(storeId)).reduce((sum, table) => sum + table.count, 0);
}

/** Tables without rows are listed too, with count 0, so a device can tell an empty table from a missing one. */
function withEveryTable(
  checksums: Readonly<Record<string, { count: number; sum: string }>>,
  schema: SyncSchema,
): Record<string, { count: number; sum: string }> {
  const all: Record<string, { count: number; sum: string }> = {};
  for (const table of Object.keys(schema.tables))
    all[table] = checksums[table] ?? { count: 0, sum: '0000000000000000' };
  return all;
}

function headerText(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A header holding a whole number of at least `min`, or null when it is absent or anything else. At most 9
 * digits: the devices table keeps it in a 32-bit integer column.
 */
function headerCount(request: FastifyRequest, name: string, min: number): number | null {
  const text = headerText(request, name)?.trim() ?? '';
  const value = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  return value >= min ? value : null;
}

/**
 * The pull answer as JSON, in UTF-8. Values are stored as JSON and go out as they are, without a parse and a
 * stringify per row: on a first sync of many rows that is most of the server's work. The text is built in
 * one string and sent as bytes, so it is not measured and encoded again on its way out.
 *
 * Each change stands on a line of its own (JSON allows the whitespace, and a JSON text of ours has no other
 * line break): a device can then parse a page of 5,000 changes in parts, with its event loop free between
 * them, instead of in one turn that would hold up its till (`client/src/pull-page-reader.ts`).
 */
function pullResponseBytes(rows: readonly PulledRow[], rest: Omit<PullResponse, 'changes'>): Buffer {
  let text = '{"changes":[';
  for (let index = 0; index < rows.length; index++) {
    const row = rows[index]!;
    text += `${index === 0 ? '\n' : ',\n'}{"table":${jsonString(row.table)},"id":${jsonString(row.id)},"updatedAt":${jsonString(row.updatedAt)}`;
    text +=
      row.valuesJson !== null
        ? `,"op":"upsert","values":${row.valuesJson}}`
        : Number(row.evicted) === 1
          ? ',"op":"evict"}'
          : ',"op":"delete"}';
  }
  text += `${rows.length === 0 ? '' : '\n'}],${JSON.stringify(rest).slice(1)}`;
  return Buffer.from(text, 'utf8');
}

/** Characters a JSON string holds as they are: table names, ids and stamps are made of these. */
const PLAIN_TEXT = /^[\w.:+-]*$/;

/** `JSON.stringify` of a string, without its cost for the plain strings nearly every row is made of. */
function jsonString(text: string): string {
  return PLAIN_TEXT.test(text) ? `"${text}"` : JSON.stringify(text);
}

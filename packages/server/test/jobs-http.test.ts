import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SyncJob, SyncJobList, SyncJobTypeInfo, SyncJobTypeList } from '@tillsync/protocol';
import { defineSyncJobType } from '@tillsync/jobs';
import { dailySalesId } from '@tillsync/server';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  expectError,
  expectOk,
  newId,
  productValues,
  request,
  startTestServer,
  type TestServer,
} from './helpers.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const END = ['Finished', 'Failed', 'Skipped', 'Relayed', 'No Target', 'Canceled'];

async function jobsOf(server: TestServer, query = '', token = server.ownerToken): Promise<SyncJob[]> {
  return expectOk(await request(server.url, 'GET', `/api/sync-jobs${query}`, { token }), SyncJobList);
}

/** Waits until the tenant's jobs satisfy `done`; returns them. */
async function waitForJobs(
  server: TestServer,
  done: (jobs: SyncJob[]) => boolean,
  query = '?limit=1000',
): Promise<SyncJob[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const jobs = await jobsOf(server, query);
    if (done(jobs)) return jobs;
    if (Date.now() > deadline)
      throw new Error(
        `jobs never got there: ${JSON.stringify(jobs.map((job) => [job.type, job.status, job.errorMessage, job.trigger.type, job.retryCount, job.startedAt]))}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const allEnded = (jobs: SyncJob[]): boolean =>
  jobs.length > 0 && jobs.every((job) => END.includes(job.status));

async function jobServer(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  return startTestServer({ ...options, jobs: { pollIntervalMs: 20, ...options.jobs } });
}

describe('sync jobs over HTTP', () => {
  it('lists the built-in types and edits their settings per tenant; 0 is a value, null the default', async () => {
    const server = await jobServer();
    const types = expectOk(
      await request(server.url, 'GET', '/api/sync-job-types', { token: server.ownerToken }),
      SyncJobTypeList,
    );
    expect(types.map((type) => [type.name, type.mode, type.disabled])).toEqual([
      ['category-products-unlink', 'multiple', true],
      ['product-web-catalog', 'bypass', true],
      ['sale-daily-sales', 'single', false],
    ]);
    expect(types.find((type) => type.name === 'sale-daily-sales')).toMatchObject({
      sourceTable: 'sales',
      targetTable: 'daily_sales',
      triggers: ['insert', 'update', 'delete'],
      queue: 'short',
      timeoutSec: 300,
      retryDelaySec: 300,
      maxRetries: 3,
      verboseLogging: false,
    });
    const patched = expectOk(
      await request(server.url, 'PATCH', '/api/sync-job-types/sale-daily-sales', {
        token: server.ownerToken,
        json: { maxRetries: 0, retryDelaySec: 0, queue: 'long', verboseLogging: true },
      }),
      SyncJobTypeInfo,
    );
    expect(patched).toMatchObject({ maxRetries: 0, retryDelaySec: 0, queue: 'long', verboseLogging: true });
    const reset = expectOk(
      await request(server.url, 'PATCH', '/api/sync-job-types/sale-daily-sales', {
        token: server.ownerToken,
        json: { queue: null },
      }),
      SyncJobTypeInfo,
    );
    expect(reset).toMatchObject({ queue: 'short', maxRetries: 0 });
    expectError(
      await request(server.url, 'PATCH', '/api/sync-job-types/sale-daily-sales', {
        token: server.ownerToken,
        json: { timeoutSec: 0 },
      }),
      400,
      'INVALID_REQUEST',
    );
    expectError(
      await request(server.url, 'PATCH', '/api/sync-job-types/sale-daily-sales', {
        token: server.ownerToken,
        json: { queue: 'fast' },
      }),
      400,
      'INVALID_REQUEST',
    );
    expectError(
      await request(server.url, 'PATCH', '/api/sync-job-types/nope', { token: server.ownerToken, json: {} }),
      404,
      'NOT_FOUND',
    );
    expectError(await request(server.url, 'GET', '/api/sync-job-types'), 401, 'UNAUTHORIZED');

    // Another tenant's settings are its own.
    const other = await server.otherTenantOwner();
    const theirs = expectOk(
      await request(server.url, 'GET', '/api/sync-job-types', { token: other.token }),
      SyncJobTypeList,
    );
    expect(theirs.find((type) => type.name === 'sale-daily-sales')).toMatchObject({
      maxRetries: 3,
      verboseLogging: false,
    });
  });

  it('enqueues, lists, shows, starts, cancels and retries; wrong calls get 409 INVALID_STATUS; tenants stay apart', async () => {
    const server = await jobServer();
    const device = await server.pair('till1');
    const sale = newId();
    await device.push([
      device.upsert('sales', sale, { total_cents: 250, created_at: '2026-11-20T09:00:00.000Z' }),
    ]);
    await waitForJobs(server, allEnded);

    const dry = expectOk(
      await request(server.url, 'POST', '/api/sync-jobs', {
        token: server.ownerToken,
        json: {
          type: 'sale-daily-sales',
          source: { id: sale },
          dryRun: true,
          maxRetries: 0,
          context: { note: 'x' },
        },
      }),
      SyncJob,
      201,
    );
    expect(dry).toMatchObject({
      status: 'Queued',
      dryRun: true,
      maxRetries: 0,
      trigger: { type: 'api' },
      source: { table: 'sales', id: sale },
    });
    const pending = expectOk(
      await request(server.url, 'POST', '/api/sync-jobs', {
        token: server.ownerToken,
        json: { type: 'sale-daily-sales', source: { table: 'sales', id: sale }, queueOnInsert: false },
      }),
      SyncJob,
      201,
    );
    expect(pending.status).toBe('Pending');
    const shown = expectOk(
      await request(server.url, 'GET', `/api/sync-jobs/${pending.id}`, { token: server.ownerToken }),
      SyncJob,
    );
    expect(shown.id).toBe(pending.id);
    expect((await jobsOf(server, '?status=Pending')).map((job) => job.id)).toEqual([pending.id]);
    const newest = await jobsOf(server, '?type=sale-daily-sales&limit=2');
    expect(newest.map((job) => job.id)).toEqual([pending.id, dry.id]);

    const canceled = expectOk(
      await request(server.url, 'POST', `/api/sync-jobs/${pending.id}/cancel`, {
        token: server.ownerToken,
        json: { reason: 'by hand' },
      }),
      SyncJob,
    );
    expect(canceled).toMatchObject({ status: 'Canceled', cancelReason: 'by hand' });
    expectError(
      await request(server.url, 'POST', `/api/sync-jobs/${pending.id}/start`, { token: server.ownerToken }),
      409,
      'INVALID_STATUS',
    );
    expectError(
      await request(server.url, 'POST', `/api/sync-jobs/${pending.id}/retry`, { token: server.ownerToken }),
      409,
      'INVALID_STATUS',
    );
    expectError(
      await request(server.url, 'POST', `/api/sync-jobs/${pending.id}/cancel`, { token: server.ownerToken }),
      409,
      'INVALID_STATUS',
    );

    const ended = await waitForJobs(
      server,
      (jobs) => jobs.find((job) => job.id === dry.id)?.status === 'Skipped',
    );
    expect(ended.find((job) => job.id === dry.id)?.diffSummary).toEqual({});

    expectError(
      await request(server.url, 'POST', '/api/sync-jobs', {
        token: server.ownerToken,
        json: { type: 'nope' },
      }),
      400,
      'INVALID_REQUEST',
    );
    expectError(
      await request(server.url, 'POST', '/api/sync-jobs', {
        token: server.ownerToken,
        json: { type: 'sale-daily-sales', bogus: 1 },
      }),
      400,
      'INVALID_REQUEST',
    );
    expectError(
      await request(server.url, 'GET', `/api/sync-jobs/${newId()}`, { token: server.ownerToken }),
      404,
      'NOT_FOUND',
    );
    expectError(await request(server.url, 'GET', '/api/sync-jobs'), 401, 'UNAUTHORIZED');
    expectError(
      await request(server.url, 'POST', '/api/sync-jobs', {
        token: server.ownerToken,
        json: { type: 'product-web-catalog', source: { id: newId() } },
      }),
      409,
      'JOB_TYPE_DISABLED',
    );

    const other = await server.otherTenantOwner();
    expect(await jobsOf(server, '', other.token)).toEqual([]);
    expectError(
      await request(server.url, 'GET', `/api/sync-jobs/${dry.id}`, { token: other.token }),
      404,
      'NOT_FOUND',
    );
    expectError(
      await request(server.url, 'POST', `/api/sync-jobs/${dry.id}/cancel`, { token: other.token }),
      404,
      'NOT_FOUND',
    );
  });

  it('sale-daily-sales: pushed sales enqueue it in the push, devices pull the day; moves and deletes recompute', async () => {
    const server = await jobServer();
    const till = await server.pair('till1');
    const [a, b] = [newId(), newId()];
    const response = await till.push([
      till.upsert('sales', a, { total_cents: 500, created_at: '2026-11-22T10:00:00.000Z' }),
      till.upsert('sales', b, { total_cents: 700, created_at: '2026-11-22T23:30:00.000-02:00' }), // the 23rd in UTC
    ]);
    expect(response.results.every((result) => result.status === 'applied')).toBe(true);
    // The push answered after the jobs it triggered ended: the very next pull has the day's row.
    const next = await till.pullAll({ since: '' });
    expect(next.changes.filter((change) => change.table === 'daily_sales')).toHaveLength(2);
    let jobs = await waitForJobs(server, (list) => list.length === 2 && allEnded(list));
    const first = jobs.find((job) => job.source?.id === a);
    expect(first).toMatchObject({
      type: 'sale-daily-sales',
      status: 'Finished',
      operation: 'insert',
      target: { table: 'daily_sales', id: dailySalesId('2026-11-22') },
      trigger: { type: 'change', table: 'sales', id: a, event: 'insert', deviceId: till.deviceId },
    });
    const pulled = await till.pullAll({ since: '' });
    const days = pulled.changes
      .filter((change) => change.table === 'daily_sales')
      .map((change) => change.values);
    expect(days).toEqual(
      expect.arrayContaining([
        { day: '2026-11-22', sales_count: 1, total_cents: 500 },
        { day: '2026-11-23', sales_count: 1, total_cents: 700 },
      ]),
    );

    // The same push again (a retry after a lost answer) enqueues nothing.
    const [pushId] = [newId()];
    await till.push(
      [till.upsert('sales', newId(), { total_cents: 1, created_at: '2026-11-24T10:00:00.000Z' })],
      pushId,
    );
    await till.push(
      [till.upsert('sales', newId(), { total_cents: 1, created_at: '2026-11-24T10:00:00.000Z' })],
      pushId,
    );
    jobs = await waitForJobs(server, (list) => list.length === 3 && allEnded(list));

    // Moving a sale to another day recomputes both days; deleting one recomputes from its last state.
    await till.push([till.upsert('sales', a, { total_cents: 500, created_at: '2026-11-23T08:00:00.000Z' })]);
    await waitForJobs(server, (list) => list.length === 5 && allEnded(list));
    await till.push([till.delete('sales', b)]);
    jobs = await waitForJobs(server, (list) => list.length === 6 && allEnded(list));
    expect(jobs[0]).toMatchObject({
      trigger: { event: 'delete', id: b },
      status: 'Finished',
      target: { id: dailySalesId('2026-11-23') },
    });
    const state = await till.pullAll({ since: '' });
    const byDay = Object.fromEntries(
      state.changes
        .filter((change) => change.table === 'daily_sales')
        .map((change) => [change.values?.day, change.values]),
    );
    expect(byDay['2026-11-22']).toMatchObject({ sales_count: 0, total_cents: 0 });
    expect(byDay['2026-11-23']).toMatchObject({ sales_count: 1, total_cents: 500 });
    expect(byDay['2026-11-24']).toMatchObject({ sales_count: 1, total_cents: 1 });

    const refused = await till.push([
      till.upsert('daily_sales', newId(), { day: '2026-01-01', sales_count: 1, total_cents: 1 }),
    ]);
    expect(refused.results[0]).toMatchObject({ status: 'rejected', error: { code: 'READ_ONLY_TABLE' } });
  });

  it('a push answers once the jobs it triggered ended, or at once with pushWaitMs 0', async () => {
    // A job that takes a while: a new customer's category, written 600 ms after it starts.
    const slowCategory = defineSyncJobType({
      name: 'slow-category',
      sourceTable: 'customers',
      targetTable: 'categories',
      mode: 'single',
      triggers: ['insert'],
      getTargetDocument: (_job, source) => (source ? { operation: 'insert', id: source.id } : null),
      async updateTargetDoc(_job, source, target) {
        await new Promise((resolve) => setTimeout(resolve, 600));
        target.values.name = String(source?.values.name);
      },
    });
    for (const [pushWaitMs, endedAtAnswer] of [
      [undefined, true],
      [0, false],
    ] as const) {
      const server = await jobServer({
        jobs: { types: [slowCategory], ...(pushWaitMs === undefined ? {} : { pushWaitMs }) },
      });
      const till = await server.pair('till1');
      await till.push([till.upsert('customers', newId(), { name: 'Ada', phone: null, email: null })]);
      const [job] = await jobsOf(server);
      expect(END.includes(job?.status ?? ''), `pushWaitMs ${String(pushWaitMs)}: ${job?.status}`).toBe(
        endedAtAnswer,
      );
      // Either way the job ends, and its row reaches the device.
      await waitForJobs(server, allEnded);
      const pulled = await till.pullAll();
      expect(pulled.changes.filter((change) => change.table === 'categories')).toHaveLength(1);
    }
  });

  it('a disabled type is enqueued by no change', async () => {
    const server = await jobServer();
    await request(server.url, 'PATCH', '/api/sync-job-types/sale-daily-sales', {
      token: server.ownerToken,
      json: { disabled: true },
    });
    const till = await server.pair('till1');
    await till.push([
      till.upsert('sales', newId(), { total_cents: 5, created_at: '2026-11-22T10:00:00.000Z' }),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await jobsOf(server)).toEqual([]);
  });

  it('product-web-catalog posts each changed product; an answer but 2xx fails it and it is retried', async () => {
    const received: unknown[] = [];
    let answer = 500;
    const webhook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => webhook.close(() => resolve())));
    const url = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/catalog`;
    const server = await jobServer({ jobs: { catalogWebhookUrl: url } });
    await request(server.url, 'PATCH', '/api/sync-job-types/product-web-catalog', {
      token: server.ownerToken,
      json: { retryDelaySec: 0.05, maxRetries: 2 },
    });
    const till = await server.pair('till1');
    const product = newId();
    await till.push([till.upsert('products', product, productValues({ name: 'Pear', sku: 'P-1' }))]);
    let jobs = await waitForJobs(server, (list) => list[0]?.status === 'Failed');
    expect(jobs[0]).toMatchObject({ errorMessage: 'the catalog webhook answered 500', retryCount: 0 });
    expect(jobs[0]?.retryAfter).not.toBeNull();
    answer = 204;
    // The server's clock stands still in tests: move it past the retry delay.
    server.clock.advance(1_000);
    jobs = await waitForJobs(server, (list) => list.length === 1 && list[0]?.status === 'Finished');
    expect(jobs[0]).toMatchObject({
      retryCount: expect.any(Number),
      target: { table: 'web_catalog', id: product },
      operation: 'insert',
    });
    expect(received.at(-1)).toMatchObject({
      event: 'insert',
      product: { id: product, name: 'Pear', sku: 'P-1' },
    });
    await till.push([till.delete('products', product)]);
    jobs = await waitForJobs(server, (list) => list.length === 2 && allEnded(list));
    expect(received.at(-1)).toMatchObject({ event: 'delete', product: { id: product, name: 'Pear' } });
  });

  it('category-products-unlink: finds nothing left to unlink, since the push that deletes a category clears its products', async () => {
    const server = await jobServer();
    await request(server.url, 'PATCH', '/api/sync-job-types/category-products-unlink', {
      token: server.ownerToken,
      json: { disabled: false },
    });
    const till = await server.pair('till1');
    const [fruit, veg] = [newId(), newId()];
    const [apple, pear, leek] = [newId(), newId(), newId()];
    await till.push([
      till.upsert('categories', fruit, { name: 'Fruit' }),
      till.upsert('categories', veg, { name: 'Veg' }),
      till.upsert('products', apple, productValues({ category_id: fruit })),
      till.upsert('products', pear, productValues({ category_id: fruit })),
      till.upsert('products', leek, productValues({ category_id: veg })),
    ]);
    await till.push([till.delete('categories', fruit)]);
    // The server cleared the optional references in the delete's own push (PROTOCOL.md §2), so the job,
    // triggered by the delete, finds no product still pointing at the category.
    const jobs = await waitForJobs(server, (list) => list.length === 1 && allEnded(list));
    expect(jobs[0]).toMatchObject({
      status: 'No Target',
      trigger: { type: 'change', event: 'delete', id: fruit },
    });
    const state = await till.pullAll({ since: '' });
    const products = new Map(
      state.changes.filter((change) => change.table === 'products').map((change) => [change.id, change]),
    );
    expect(products.get(apple)?.values?.category_id).toBeNull();
    expect(products.get(pear)?.values?.category_id).toBeNull();
    expect(products.get(leek)?.values?.category_id).toBe(veg);
  });

  it('counts the jobs it ran in /metrics, by type and status, with their durations', async () => {
    const server = await jobServer();
    const till = await server.pair('till1');
    await till.push([
      till.upsert('sales', newId(), { total_cents: 500, created_at: '2026-11-22T10:00:00.000Z' }),
      till.upsert('sales', newId(), { total_cents: 700, created_at: '2026-11-23T10:00:00.000Z' }),
    ]);
    await waitForJobs(server, (list) => list.length === 2 && allEnded(list));
    const metrics = await request(server.url, 'GET', '/metrics');
    const text = String(metrics.body);
    expect(text).toMatch(/^tillsync_sync_jobs_ended_total\{type="sale-daily-sales",status="Finished"\} 2$/m);
    expect(text).toMatch(/^tillsync_sync_job_duration_seconds_count\{type="sale-daily-sales"\} 2$/m);
  });

  it('names the trigger row, refuses a target without an operation, and counts jobs by status and queue', async () => {
    const server = await jobServer();
    const device = await server.pair('till1');
    const sale = newId();
    const other = newId();
    await device.push([
      device.upsert('sales', sale, { total_cents: 250, created_at: '2026-11-20T09:00:00.000Z' }),
      device.upsert('sales', other, { total_cents: 100, created_at: '2026-11-21T10:00:00.000Z' }),
    ]);
    await waitForJobs(server, allEnded);
    const enqueue = (json: unknown) =>
      request(server.url, 'POST', '/api/sync-jobs', { token: server.ownerToken, json });
    const job = expectOk(
      await enqueue({
        type: 'sale-daily-sales',
        source: { id: sale },
        trigger: { table: 'sales', id: other },
      }),
      SyncJob,
      201,
    );
    expect(job.trigger).toMatchObject({ type: 'api', table: 'sales', id: other, event: null });
    expect(Date.parse(job.trigger.at)).toBeLessThanOrEqual(Date.parse(job.createdAt));
    const unknown = expectError(
      await enqueue({ type: 'sale-daily-sales', source: { id: sale }, trigger: { id: 'no-such-sale' } }),
      400,
      'INVALID_REQUEST',
    );
    expect(unknown.message).toContain('sales no-such-sale');
    const noOperation = expectError(
      await enqueue({ type: 'sale-daily-sales', source: { id: sale }, target: { id: newId() } }),
      400,
      'INVALID_REQUEST',
    );
    expect(noOperation.message).toContain('operation');
    await waitForJobs(server, allEnded);
    const metrics = String((await request(server.url, 'GET', '/metrics')).body);
    // The two days the push recomputed, and the owner's job that found its day unchanged.
    expect(metrics.split('\n').filter((line) => line.startsWith('tillsync_sync_jobs{'))).toEqual([
      'tillsync_sync_jobs{status="Finished",queue="short"} 2',
      'tillsync_sync_jobs{status="Skipped",queue="short"} 1',
    ]);
  });

  it('a webhook enqueues its type with trigger webhook; a wrong secret is refused; schedules are settings', async () => {
    const server = await jobServer();
    const device = await server.pair('till1');
    const sale = newId();
    await device.push([
      device.upsert('sales', sale, { total_cents: 250, created_at: '2026-11-20T09:00:00.000Z' }),
    ]);
    const made = await request(server.url, 'POST', '/api/sync-job-types/sale-daily-sales/webhook', {
      token: server.ownerToken,
    });
    expect(made.status).toBe(201);
    const { url, secret } = made.body as { url: string; secret: string };
    expect(url).toBe('/api/sync-jobs/webhook/sale-daily-sales');
    const call = (key: string, json: unknown = { source: { id: sale }, trigger: { id: sale } }) =>
      request(server.url, 'POST', url, { json, headers: { 'x-tillsync-webhook-secret': key } });
    expectError(await call('whsec_wrong'), 401, 'UNAUTHORIZED');
    expectError(await call(secret, { nope: 1 }), 400, 'INVALID_REQUEST');
    const job = expectOk(await call(secret), SyncJob, 201);
    expect(job.trigger).toMatchObject({ type: 'webhook', table: 'sales', id: sale });
    expect((await waitForJobs(server, allEnded, `?type=sale-daily-sales&limit=10`)).length).toBe(2);
    // A new secret replaces the old one; deleting turns the webhook off.
    const again = (
      await request(server.url, 'POST', '/api/sync-job-types/sale-daily-sales/webhook', {
        token: server.ownerToken,
      })
    ).body as { secret: string };
    expectError(await call(secret), 401, 'UNAUTHORIZED');
    expectOk(await call(again.secret), SyncJob, 201);
    const off = await request(server.url, 'DELETE', '/api/sync-job-types/sale-daily-sales/webhook', {
      token: server.ownerToken,
    });
    expect(off.status).toBe(204);
    expectError(await call(again.secret), 401, 'UNAUTHORIZED');

    const schedule = (json: unknown) =>
      request(server.url, 'PATCH', '/api/sync-job-types/sale-daily-sales', {
        token: server.ownerToken,
        json,
      });
    expect(expectOk(await schedule({ schedule: '0 3 * * *' }), SyncJobTypeInfo).schedule).toBe('0 3 * * *');
    expectError(await schedule({ schedule: 'at three' }), 400, 'INVALID_REQUEST');
  });

  it("forgets a deleted row's last state with the tombstones, once the retention has passed", async () => {
    const server = await jobServer({
      tombstoneRetentionDays: 1,
      accessTokenTtlSec: 30 * 24 * 3600,
      ownerSessionTtlSec: 30 * 24 * 3600,
    });
    const till = await server.pair('till1');
    const sale = newId();
    await till.push([
      till.upsert('sales', sale, { total_cents: 500, created_at: '2026-11-22T10:00:00.000Z' }),
    ]);
    await till.push([till.delete('sales', sale)]);
    await waitForJobs(server, (list) => list.length === 2 && allEnded(list));
    const runOnDeletedSale = async (): Promise<SyncJob> => {
      const job = expectOk(
        await request(server.url, 'POST', '/api/sync-jobs', {
          token: server.ownerToken,
          json: {
            type: 'sale-daily-sales',
            source: { table: 'sales', id: sale },
            dryRun: true,
            maxRetries: 0,
          },
        }),
        SyncJob,
        201,
      );
      const jobs = await waitForJobs(server, (list) =>
        list.some((each) => each.id === job.id && allEnded([each])),
      );
      return jobs.find((each) => each.id === job.id) as SyncJob;
    };

    // Within the retention a job still reads the sale as it was before it was deleted.
    server.clock.advance(DAY_MS / 2);
    await server.server.runMaintenance();
    expect(await runOnDeletedSale()).toMatchObject({ status: 'Skipped' });

    server.clock.advance(DAY_MS);
    await server.server.runMaintenance();
    expect(await runOnDeletedSale()).toMatchObject({
      status: 'Failed',
      errorMessage: expect.stringContaining(`its source sales ${sale} does not exist on the server`),
    });
  });
});

import { ErrorBody, MAX_CHANGES_PER_PUSH } from '@tillsync/protocol';
import { describe, expect, it } from 'vitest';
import { fuzzSuite } from './bad-input-fuzz.js';
import {
  expectError,
  expectShape,
  newId,
  productValues,
  request,
  startTestServer,
  type Answer,
  type TestServer,
} from './helpers.js';

/** Asserts the server stored no synced row for its tenant. */
async function expectNothingStored(server: TestServer): Promise<void> {
  const page = await server.server.storage.sync.forTenant(server.tenantId).pull(0, 100);
  expect(page).toMatchObject({ resyncRequired: false, rows: [], cursorSeq: 0 });
}

/** A 4xx answer with the error shape: what every bad request must get. */
function expectClientError(answer: Answer): void {
  expect(answer.status, JSON.stringify(answer.body)).toBeGreaterThanOrEqual(400);
  expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500);
  expectShape(ErrorBody, answer.body);
}

describe('bad input', () => {
  it('answers bodies that are not JSON, not objects or not of the push shape 400 INVALID_REQUEST, storing nothing', async () => {
    const server = await startTestServer();
    const device = await server.pair('tillA');
    const change = device.upsert('categories', newId(), { name: 'x' });
    const bodies: Array<[string, string]> = [
      ['malformed JSON', '{"pushId": "p", "changes": [}'],
      ['truncated JSON', JSON.stringify({ pushId: 'p', changes: [change] }).slice(0, -2)],
      ['an array', JSON.stringify([change])],
      ['a string', '"push"'],
      ['a number', '5'],
      ['null', 'null'],
      ['no body', ''],
      ['pushId a number', JSON.stringify({ pushId: 5, changes: [change] })],
      ['pushId empty', JSON.stringify({ pushId: '', changes: [change] })],
      ['pushId missing', JSON.stringify({ changes: [change] })],
      ['changes a string', JSON.stringify({ pushId: 'p', changes: 'x' })],
      ['changes missing', JSON.stringify({ pushId: 'p' })],
      ['a change that is a string', JSON.stringify({ pushId: 'p', changes: ['x', change] })],
      ['op unknown', JSON.stringify({ pushId: 'p', changes: [{ ...change, op: 'merge' }] })],
      ['op missing', JSON.stringify({ pushId: 'p', changes: [{ ...change, op: undefined }] })],
      ['table a number', JSON.stringify({ pushId: 'p', changes: [{ ...change, table: 7 }] })],
      ['id empty', JSON.stringify({ pushId: 'p', changes: [{ ...change, id: '' }] })],
      ['id too long', JSON.stringify({ pushId: 'p', changes: [{ ...change, id: 'x'.repeat(129) }] })],
      [
        'updatedAt a number',
        JSON.stringify({ pushId: 'p', changes: [{ ...change, updatedAt: Date.now() }] }),
      ],
      ['values an array', JSON.stringify({ pushId: 'p', changes: [change, { ...change, values: ['x'] }] })],
      ['values a string', JSON.stringify({ pushId: 'p', changes: [{ ...change, values: 'name=x' }] })],
    ];
    for (const [label, raw] of bodies) {
      const answer = await device.request('POST', '/api/sync/push', { raw });
      expect({ label, status: answer.status }).toEqual({ label, status: 400 });
      expectError(answer, 400, 'INVALID_REQUEST');
    }
    await expectNothingStored(server);
  });

  it('refuses a push of more changes than one push may carry', async () => {
    const server = await startTestServer();
    const device = await server.pair('tillA');
    const change = device.upsert('categories', newId(), { name: 'x' });
    const changes = Array.from({ length: MAX_CHANGES_PER_PUSH + 1 }, () => ({ ...change, id: newId() }));
    expectError(
      await device.request('POST', '/api/sync/push', { json: { pushId: 'p', changes } }),
      400,
      'INVALID_REQUEST',
    );
    await expectNothingStored(server);
  });

  it('refuses a body that is not JSON by its content type with a 4xx', async () => {
    const server = await startTestServer();
    const device = await server.pair('tillA');
    const body = JSON.stringify({
      pushId: 'p',
      changes: [device.upsert('categories', newId(), { name: 'x' })],
    });
    const answer = await device.request('POST', '/api/sync/push', {
      raw: body,
      headers: { 'content-type': 'text/plain' },
    });
    expectClientError(answer);
    await expectNothingStored(server);
  });

  it('answers pushes without a token or with a bad one 401, storing nothing', async () => {
    const server = await startTestServer();
    const device = await server.pair('tillA');
    const json = { pushId: 'p', changes: [device.upsert('categories', newId(), { name: 'x' })] };
    expectError(await request(server.url, 'POST', '/api/sync/push', { json }), 401, 'UNAUTHORIZED');
    expectError(
      await request(server.url, 'POST', '/api/sync/push', { json, token: 'tsa_forged' }),
      401,
      'TOKEN_INVALID',
    );
    await expectNothingStored(server);
  });

  it('answers a body over the size limit 413 PAYLOAD_TOO_LARGE, storing nothing', async () => {
    const server = await startTestServer({ bodyLimitBytes: 4096 });
    const device = await server.pair('tillA');
    const changes = Array.from({ length: 40 }, () => device.upsert('products', newId(), productValues()));
    const answer = await device.request('POST', '/api/sync/push', { json: { pushId: 'big', changes } });
    expectError(answer, 413, 'PAYLOAD_TOO_LARGE');
    await expectNothingStored(server);
    // Under the limit, the same device goes on.
    const small = await device.request('POST', '/api/sync/push', {
      json: { pushId: 'small', changes: changes.slice(0, 2) },
    });
    expect(small.status).toBe(200);
  });

  it('answers an unknown route 404 with the error shape', async () => {
    const server = await startTestServer();
    for (const [method, path] of [
      ['GET', '/api/nothing'],
      ['GET', '/api/sync/push'],
      ['DELETE', '/api/sync/pull'],
      ['POST', '/'],
    ] as const) {
      const answer = await request(server.url, method, path);
      expectError(answer, 404, 'NOT_FOUND');
      expect(answer.headers.get('content-type')).toContain('application/json');
    }
  });

  it('answers bad bodies on the account calls 400 with the error shape', async () => {
    const server = await startTestServer();
    for (const [path, raw] of [
      ['/api/auth/login', '{"email": "owner@shop.test"}'],
      ['/api/auth/login', '{"email": 5, "password": "x"}'],
      ['/api/auth/login', 'not json'],
      ['/api/devices/pair', '{"code": 1234}'],
      ['/api/devices/pair', '[]'],
      ['/api/auth/refresh', '{}'],
      ['/api/auth/refresh', '{"refreshToken": ""}'],
    ] as const) {
      expectError(await request(server.url, 'POST', path, { raw }), 400, 'INVALID_REQUEST');
    }
    expect((await server.server.storage.accounts.listDevices(server.tenantId)).length).toBe(0);
  });
});

// The generated requests (the fuzz) on this store; `bad-input.pg.test.ts` runs them on PostgreSQL.
fuzzSuite('SQLite', () => startTestServer());

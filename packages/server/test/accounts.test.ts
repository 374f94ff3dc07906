import { DeviceList, PairResponse, PairingCodeResponse, SHOP_SCHEMA } from '@tillsync/protocol';
import { describe, expect, it, vi } from 'vitest';
import { DEVICE_CALLS_WRITE_DELAY_MS } from '../src/accounts.js';
import type { DeviceRecord } from '../src/storage/account-store.js';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  TestClock,
  TestDevice,
  expectError,
  expectOk,
  login,
  newId,
  newPairingCode,
  pair,
  productValues,
  pullAll,
  request,
  startTestServer,
} from './helpers.js';

async function devices(url: string, ownerToken: string): Promise<DeviceList> {
  return expectOk(await request(url, 'GET', '/api/devices', { token: ownerToken }), DeviceList);
}

describe('owners', () => {
  it('logs in with the right password, whatever the case of the email, and refuses a wrong one', async () => {
    const server = await startTestServer();
    const owner = await login(server.url, ADMIN_EMAIL.toUpperCase(), ADMIN_PASSWORD);
    expect(owner.tenantId).toBe(server.tenantId);
    expect(owner.token).not.toBe(server.ownerToken);

    const wrong = await request(server.url, 'POST', '/api/auth/login', {
      json: { email: ADMIN_EMAIL, password: `${ADMIN_PASSWORD}!` },
    });
    const unknown = await request(server.url, 'POST', '/api/auth/login', {
      json: { email: 'nobody@shop.test', password: ADMIN_PASSWORD },
    });
    // The same answer for both, so an email cannot be probed.
    expect(expectError(wrong, 401, 'INVALID_CREDENTIALS')).toEqual(
      expectError(unknown, 401, 'INVALID_CREDENTIALS'),
    );
  });

  it('ends a session on logout and when it expires', async () => {
    const clock = new TestClock();
    const server = await startTestServer({ clock, ownerSessionTtlSec: 600 });
    const session = await login(server.url, ADMIN_EMAIL, ADMIN_PASSWORD);
    expect((await request(server.url, 'POST', '/api/auth/logout', { token: session.token })).status).toBe(
      204,
    );
    expectError(
      await request(server.url, 'GET', '/api/devices', { token: session.token }),
      401,
      'TOKEN_INVALID',
    );

    await devices(server.url, server.ownerToken);
    clock.advance(600_000);
    expectError(
      await request(server.url, 'GET', '/api/devices', { token: server.ownerToken }),
      401,
      'TOKEN_EXPIRED',
    );
  });

  it("refuses an owner's token on device calls and a device's tokens on owner calls, with 403", async () => {
    const server = await startTestServer();
    const device = await server.pair('tillA');
    for (const [method, path] of [
      ['POST', '/api/sync/push'],
      ['GET', '/api/sync/pull'],
    ] as const) {
      const answer = await request(server.url, method, path, {
        token: server.ownerToken,
        ...(method === 'POST' ? { json: { pushId: 'p', changes: [] } } : {}),
      });
      expectError(answer, 403, 'FORBIDDEN');
    }
    for (const token of [device.accessToken, device.refreshToken]) {
      expectError(await request(server.url, 'GET', '/api/devices', { token }), 403, 'FORBIDDEN');
      expectError(
        await request(server.url, 'POST', '/api/pairing-codes', { token, json: {} }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await request(server.url, 'POST', `/api/devices/${device.deviceId}/revoke`, { token }),
        403,
        'FORBIDDEN',
      );
    }
    // The schema is for both.
    expect((await request(server.url, 'GET', '/api/sync/schema', { token: server.ownerToken })).status).toBe(
      200,
    );
    expect((await device.request('GET', '/api/sync/schema')).status).toBe(200);
  });
});

describe('pairing', () => {
  it('spends a pairing code once and makes a device that can sync', async () => {
    const server = await startTestServer();
    const code = await newPairingCode(server.url, server.ownerToken);
    const first = await request(server.url, 'POST', '/api/devices/pair', {
      json: { code, name: 'Front till', platform: 'windows' },
    });
    const paired = expectOk(first, PairResponse, 201);
    expect(paired.tenantId).toBe(server.tenantId);
    const second = await request(server.url, 'POST', '/api/devices/pair', {
      json: { code, name: 'Thief', platform: 'linux' },
    });
    expectError(second, 400, 'INVALID_CODE');

    const device = new TestDevice(server.url, paired, 'front', server.clock.now);
    const response = await device.push([device.upsert('categories', newId(), { name: 'Fruit' })]);
    expect(response.results[0]?.status).toBe('applied');
    expect((await devices(server.url, server.ownerToken)).map((info) => [info.name, info.platform])).toEqual([
      ['Front till', 'windows'],
    ]);
  });

  it('accepts a code typed in lower case without its dash, and refuses it after 15 minutes', async () => {
    const clock = new TestClock();
    const server = await startTestServer({ clock });
    const answer = await request(server.url, 'POST', '/api/pairing-codes', {
      token: server.ownerToken,
      json: {},
    });
    const { code, expiresAt } = expectOk(answer, PairingCodeResponse, 201);
    expect(code).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    expect(Date.parse(expiresAt)).toBe(clock.now() + 15 * 60 * 1000);
    const typed = code.replace('-', '').toLowerCase();
    expectOk(
      await request(server.url, 'POST', '/api/devices/pair', { json: { code: typed } }),
      PairResponse,
      201,
    );

    const late = await newPairingCode(server.url, server.ownerToken);
    clock.advance(15 * 60 * 1000);
    expectError(
      await request(server.url, 'POST', '/api/devices/pair', { json: { code: late } }),
      400,
      'INVALID_CODE',
    );
    expectError(
      await request(server.url, 'POST', '/api/devices/pair', { json: { code: 'AAAA-BBBB' } }),
      400,
      'INVALID_CODE',
    );
  });
});

describe('device tokens', () => {
  it('answers an expired access token 401 TOKEN_EXPIRED; a refresh gives a new pair and the old one stops', async () => {
    const clock = new TestClock();
    const server = await startTestServer({ clock, accessTokenTtlSec: 1 });
    const device = await server.pair('tillA');
    const paired = { access: device.accessToken, refresh: device.refreshToken };
    expect((await device.request('GET', '/api/sync/pull')).status).toBe(200);

    clock.advance(999);
    expect((await device.request('GET', '/api/sync/pull')).status).toBe(200);
    clock.advance(1);
    expectError(await device.request('GET', '/api/sync/pull'), 401, 'TOKEN_EXPIRED');
    const push = await device.request('POST', '/api/sync/push', { json: { pushId: 'x', changes: [] } });
    expectError(push, 401, 'TOKEN_EXPIRED');

    const tokens = await device.refresh();
    expect(Date.parse(tokens.accessTokenExpiresAt)).toBe(clock.now() + 1000);
    expect(tokens.refreshToken).not.toBe(paired.refresh);
    expect((await device.request('GET', '/api/sync/pull')).status).toBe(200);

    const old = await request(server.url, 'POST', '/api/auth/refresh', {
      json: { refreshToken: paired.refresh },
    });
    expectError(old, 401, 'TOKEN_INVALID');
  });

  it('revokes the whole chain when a spent refresh token is used again', async () => {
    const server = await startTestServer();
    const device = await server.pair('tillA');
    const spent = device.refreshToken;
    await device.refresh();
    expect((await device.request('GET', '/api/sync/pull')).status).toBe(200);

    // A copy of the spent token is used: whoever holds the newer pair loses it too.
    expectError(
      await request(server.url, 'POST', '/api/auth/refresh', { json: { refreshToken: spent } }),
      401,
      'TOKEN_INVALID',
    );
    expectError(await device.request('GET', '/api/sync/pull'), 401, 'TOKEN_INVALID');
    expectError(
      await request(server.url, 'POST', '/api/auth/refresh', { json: { refreshToken: device.refreshToken } }),
      401,
      'TOKEN_INVALID',
    );
  });

  it("answers a revoked device's next call 401 DEVICE_REVOKED, a refresh too, and leaves other devices alone", async () => {
    const server = await startTestServer();
    const revoked = await server.pair('tillA');
    const other = await server.pair('tillB');
    const revoke = await request(server.url, 'POST', `/api/devices/${revoked.deviceId}/revoke`, {
      token: server.ownerToken,
    });
    expect(revoke.status).toBe(204);

    expectError(await revoked.request('GET', '/api/sync/pull'), 401, 'DEVICE_REVOKED');
    const push = await revoked.request('POST', '/api/sync/push', {
      json: { pushId: 'p', changes: [revoked.upsert('categories', newId(), { name: 'x' })] },
    });
    expectError(push, 401, 'DEVICE_REVOKED');
    expectError(
      await request(server.url, 'POST', '/api/auth/refresh', {
        json: { refreshToken: revoked.refreshToken },
      }),
      401,
      'DEVICE_REVOKED',
    );
    expect((await pullAll(server.url, other.accessToken)).changes).toEqual([]);

    const list = await devices(server.url, server.ownerToken);
    expect(list.find((info) => info.id === revoked.deviceId)?.revokedAt).toBe(
      new Date(server.clock.now()).toISOString(),
    );
    expect(list.find((info) => info.id === other.deviceId)?.revokedAt).toBeNull();
    expectError(
      await request(server.url, 'POST', `/api/devices/${newId()}/revoke`, { token: server.ownerToken }),
      404,
      'NOT_FOUND',
    );
  });

  it('refuses a missing, malformed or unknown token with 401', async () => {
    const server = await startTestServer();
    const device = await server.pair('tillA');
    for (const headers of [
      {},
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: 'Bearer' },
      { authorization: `Bearer ${device.accessToken} extra` },
    ]) {
      expectError(await request(server.url, 'GET', '/api/sync/pull', { headers }), 401, 'UNAUTHORIZED');
    }
    for (const token of ['nonsense', `tsa_${'A'.repeat(43)}`, device.accessToken.slice(0, -1)]) {
      expectError(await request(server.url, 'GET', '/api/sync/pull', { token }), 401, 'TOKEN_INVALID');
    }
    expectError(
      await request(server.url, 'GET', '/api/devices', { token: 'tso_nothing' }),
      401,
      'TOKEN_INVALID',
    );
    expectError(
      await request(server.url, 'POST', '/api/auth/refresh', { json: { refreshToken: device.accessToken } }),
      401,
      'TOKEN_INVALID',
    );
  });
});

describe('devices panel', () => {
  it('lists devices with their last call, app version and pending count from the sync headers', async () => {
    const clock = new TestClock();
    const server = await startTestServer({ clock });
    const device = await server.pair('tillA');
    const pairedAt = new Date(clock.now()).toISOString();
    const [initial] = await devices(server.url, server.ownerToken);
    expect(initial).toMatchObject({
      id: device.deviceId,
      name: 'tillA',
      platform: 'test',
      lastSeenAt: pairedAt,
    });

    clock.advance(60_000);
    await device.request('POST', '/api/sync/push', {
      json: { pushId: 'p1', changes: [] },
      headers: { 'X-Device-App-Version': '1.4.2', 'X-Device-Pending': '7' },
    });
    expect((await devices(server.url, server.ownerToken))[0]).toMatchObject({
      appVersion: '1.4.2',
      pendingChanges: 7,
      lastSeenAt: new Date(clock.now()).toISOString(),
      revokedAt: null,
    });

    clock.advance(60_000);
    await device.request('GET', '/api/sync/pull', {
      headers: { 'X-Device-App-Version': '1.5.0', 'X-Device-Pending': '0' },
    });
    expect((await devices(server.url, server.ownerToken))[0]).toMatchObject({
      appVersion: '1.5.0',
      pendingChanges: 0,
      lastSeenAt: new Date(clock.now()).toISOString(),
    });

    // A header that is not a count is not taken for one.
    clock.advance(60_000);
    await device.request('GET', '/api/sync/pull', { headers: { 'X-Device-Pending': 'lots' } });
    expect((await devices(server.url, server.ownerToken))[0]).toMatchObject({
      pendingChanges: 0,
      lastSeenAt: new Date(clock.now()).toISOString(),
    });
  });

  it('writes device calls together a few seconds later, the latest report of each device', async () => {
    const clock = new TestClock();
    const server = await startTestServer({ clock });
    const device = await server.pair('tillA');
    const stored = async (): Promise<DeviceRecord | undefined> =>
      (await server.server.storage.accounts.listDevices(server.tenantId))[0];
    const pairedAt = (await stored())?.lastSeenAt;

    clock.advance(1_000);
    await device.request('GET', '/api/sync/pull', { headers: { 'X-Device-Pending': '3' } });
    clock.advance(1_000);
    await device.request('GET', '/api/sync/pull', { headers: { 'X-Device-App-Version': '2.0.0' } });
    // Noted, not written yet: a sync call does not wait for a write of its own.
    expect((await stored())?.lastSeenAt).toBe(pairedAt);

    await server.server.accounts.writeDeviceCalls();
    expect(await stored()).toMatchObject({
      lastSeenAt: new Date(clock.now()).toISOString(),
      appVersion: '2.0.0',
      pendingChanges: 3,
    });

    // Without a reader, within the write delay.
    clock.advance(1_000);
    await device.request('GET', '/api/sync/pull', { headers: { 'X-Device-Pending': '0' } });
    await vi.waitFor(async () => expect((await stored())?.pendingChanges).toBe(0), {
      timeout: DEVICE_CALLS_WRITE_DELAY_MS + 5_000,
      interval: 200,
    });
  });

  it('lists a till removed and paired again once, under its name, without the old pending count', async () => {
    const server = await startTestServer();
    const old = await server.pair('Till 1');
    await old.request('GET', '/api/sync/pull', { headers: { 'X-Device-Pending': '3' } });
    const revoke = await request(server.url, 'POST', `/api/devices/${old.deviceId}/revoke`, {
      token: server.ownerToken,
    });
    expect(revoke.status).toBe(204);
    // Removed and not paired again: still listed, as removed.
    expect((await devices(server.url, server.ownerToken)).map((info) => info.id)).toEqual([old.deviceId]);

    const again = await server.pair('Till 1');
    const other = await server.pair('Till 2');
    const list = await devices(server.url, server.ownerToken);
    expect(list.map((info) => info.id).sort()).toEqual([again.deviceId, other.deviceId].sort());
    expect(list.find((info) => info.id === again.deviceId)?.pendingChanges ?? 0).toBe(0);
  });

  it('renames a device of its own tenant only', async () => {
    const server = await startTestServer();
    const device = await server.pair('tillA');
    const renamed = await request(server.url, 'PATCH', `/api/devices/${device.deviceId}`, {
      token: server.ownerToken,
      json: { name: '  Back office  ' },
    });
    expect(renamed).toMatchObject({ status: 200, body: { id: device.deviceId, name: 'Back office' } });

    const other = await server.server.accounts.createTenant({
      name: 'Other shop',
      email: 'other@shop.test',
      password: 'another long password',
    });
    const otherOwner = await login(server.url, 'other@shop.test', 'another long password');
    expect(otherOwner.tenantId).toBe(other.tenantId);
    const stolen = await request(server.url, 'PATCH', `/api/devices/${device.deviceId}`, {
      token: otherOwner.token,
      json: { name: 'Mine now' },
    });
    expectError(stolen, 404, 'NOT_FOUND');
    expectError(
      await request(server.url, 'POST', `/api/devices/${device.deviceId}/revoke`, {
        token: otherOwner.token,
      }),
      404,
      'NOT_FOUND',
    );
    expect(await devices(server.url, otherOwner.token)).toEqual([]);
    expect((await devices(server.url, server.ownerToken))[0]).toMatchObject({
      name: 'Back office',
      revokedAt: null,
    });
  });
});

describe('tenants', () => {
  it('keeps two tenants with the same row ids apart on push, pull, unique values and references', async () => {
    const server = await startTestServer();
    await server.server.accounts.createTenant({
      name: 'B',
      email: 'b@shop.test',
      password: 'password of b!',
    });
    const ownerB = await login(server.url, 'b@shop.test', 'password of b!');
    const a = await server.pair('tillA');
    const b = new TestDevice(
      server.url,
      await pair(server.url, ownerB.token, 'tillB'),
      'tillB',
      server.clock.now,
    );
    expect(b.tenantId).not.toBe(a.tenantId);

    const [category, product] = [newId(), newId()];
    await a.push([
      a.upsert('categories', category, { name: 'A fruit' }),
      a.upsert('products', product, productValues({ sku: 'SAME', category_id: category })),
    ]);
    const onlyInA = newId();
    await a.push([a.upsert('categories', onlyInA, { name: 'A only' })]);

    const responseB = await b.push([
      b.upsert('categories', category, { name: 'B fruit' }),
      b.upsert('products', product, productValues({ sku: 'SAME', category_id: category })),
      // A's row is not B's to point at.
      b.upsert('products', newId(), productValues({ category_id: onlyInA })),
    ]);
    expect(responseB.results.map((result) => result.status)).toEqual(['applied', 'applied', 'rejected']);

    const pulledA = await pullAll(server.url, a.accessToken);
    const pulledB = await pullAll(server.url, b.accessToken);
    expect(pulledA.changes.find((change) => change.id === category)?.values).toEqual({ name: 'A fruit' });
    expect(pulledB.changes.find((change) => change.id === category)?.values).toEqual({ name: 'B fruit' });
    expect(pulledB.changes.map((change) => change.id).sort()).toEqual([category, product].sort());
    expect(pulledA.changes).toHaveLength(3);
  });
});

describe('schema', () => {
  it('answers the schema it enforces, to devices and owners only', async () => {
    const server = await startTestServer();
    const device = await server.pair('tillA');
    expect(await device.request('GET', '/api/sync/schema')).toMatchObject({ status: 200, body: SHOP_SCHEMA });
    expectError(await request(server.url, 'GET', '/api/sync/schema'), 401, 'UNAUTHORIZED');
  });
});

describe('a lost refresh answer', () => {
  it('lets the device send the same refresh token again while the pair it lost was never used', async () => {
    const clock = new TestClock();
    const server = await startTestServer({ clock });
    const device = await server.pair('tillA');
    const sent = device.refreshToken;
    const first = await request(server.url, 'POST', '/api/auth/refresh', { json: { refreshToken: sent } });
    expect(first.status).toBe(200);
    const lost = first.body as { accessToken: string; refreshToken: string };

    // The answer never arrived; the device tries again with the token it still holds.
    clock.advance(30_000);
    const again = await request(server.url, 'POST', '/api/auth/refresh', { json: { refreshToken: sent } });
    expect(again.status).toBe(200);
    const kept = again.body as { accessToken: string; refreshToken: string };
    const pullWith = (token: string) => request(server.url, 'GET', '/api/sync/pull', { token });
    expect((await pullWith(kept.accessToken)).status).toBe(200);
    // The pair whose answer was lost stops working.
    expectError(await pullWith(lost.accessToken), 401, 'TOKEN_INVALID');
    expectError(
      await request(server.url, 'POST', '/api/auth/refresh', { json: { refreshToken: lost.refreshToken } }),
      401,
      'TOKEN_INVALID',
    );
  });

  it('treats the same token sent again after the grace period as stolen', async () => {
    const clock = new TestClock();
    const server = await startTestServer({ clock });
    const device = await server.pair('tillA');
    const sent = device.refreshToken;
    expect(
      (await request(server.url, 'POST', '/api/auth/refresh', { json: { refreshToken: sent } })).status,
    ).toBe(200);
    clock.advance(10 * 60_000);
    expectError(
      await request(server.url, 'POST', '/api/auth/refresh', { json: { refreshToken: sent } }),
      401,
      'TOKEN_INVALID',
    );
  });
});

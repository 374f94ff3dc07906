import { describe, expect, it } from 'vitest';
import { EventStream } from './event-stream.js';
import { expectError, newId, request, startTestServer } from './helpers.js';

describe('live change notices', () => {
  it("tells a tenant's other devices when a push commits, and no one else", async () => {
    const server = await startTestServer();
    const a = await server.pair('tillA');
    const b = await server.pair('tillB');
    const otherOwner = await server.otherTenantOwner();
    const stranger = await server.pair('x', otherOwner.token);

    const [streamA, streamB, streamStranger] = await Promise.all([
      EventStream.open(a),
      EventStream.open(b),
      EventStream.open(stranger),
    ]);
    // A push of rejected changes only changed nothing: no one is told.
    await a.push([a.upsert('categories', newId(), {})]);
    await a.push([a.upsert('categories', newId(), { name: 'Fruit' })]);
    await streamB.waitFor(1);
    await b.push([b.upsert('categories', newId(), { name: 'Veg' })]);
    await streamA.waitFor(1);
    // The stranger's tenant pushes too; A and B must not hear of it.
    await stranger.push([stranger.upsert('categories', newId(), { name: 'Theirs' })]);
    await b.push([b.upsert('categories', newId(), { name: 'More veg' })]);
    await streamA.waitFor(2);

    expect(streamB.notices).toEqual([{ tenantId: server.tenantId, deviceId: a.deviceId }]);
    expect(streamA.notices).toEqual([
      { tenantId: server.tenantId, deviceId: b.deviceId },
      { tenantId: server.tenantId, deviceId: b.deviceId },
    ]);
    expect(streamStranger.notices).toEqual([]);
  });

  it('needs a device token', async () => {
    const server = await startTestServer();
    expectError(await request(server.url, 'GET', '/api/sync/events'), 401, 'UNAUTHORIZED');
    expectError(
      await request(server.url, 'GET', '/api/sync/events', { token: server.ownerToken }),
      403,
      'FORBIDDEN',
    );
  });
});

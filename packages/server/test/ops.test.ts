import { HealthResponse, PROTOCOL_VERSION } from '@tillsync/protocol';
import { describe, expect, it } from 'vitest';
import { expectOk, newId, request, startTestServer } from './helpers.js';

describe('operations', () => {
  it('answers health without auth, with the protocol version and the server time', async () => {
    const server = await startTestServer();
    const health = expectOk(await request(server.url, 'GET', '/api/sync/health'), HealthResponse);
    expect(health).toEqual({
      ok: true,
      serverTime: new Date(server.clock.now()).toISOString(),
      protocol: PROTOCOL_VERSION,
    });
  });

  it('answers readiness, counts pushes and rejections in /metrics, and describes the API', async () => {
    const server = await startTestServer();
    const device = await server.pair('tillA');
    expect(await request(server.url, 'GET', '/api/ready')).toMatchObject({
      status: 200,
      body: { ready: true },
    });

    await device.push([
      device.upsert('categories', newId(), { name: 'x' }),
      device.upsert('categories', newId(), {}),
    ]);
    const metrics = await request(server.url, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    const text = String(metrics.body);
    expect(text).toMatch(/^tillsync_pushes_total 1$/m);
    expect(text).toMatch(/^tillsync_pushed_changes_total\{status="applied"\} 1$/m);
    expect(text).toMatch(/^tillsync_rejected_changes_total\{code="INVALID_VALUE"\} 1$/m);

    const openapi = await request(server.url, 'GET', '/api/openapi.json');
    expect(openapi.status).toBe(200);
    expect(Object.keys((openapi.body as { paths: Record<string, unknown> }).paths)).toEqual(
      expect.arrayContaining(['/api/sync/push', '/api/sync/pull', '/api/devices/pair']),
    );
  });
});

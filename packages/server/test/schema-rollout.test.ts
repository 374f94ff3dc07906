import path from 'node:path';
import { DeviceList } from '@tillsync/protocol';
import { describe, expect, it } from 'vitest';
import { expectOk, request, startTestServer, tempDir } from './helpers.js';
import { schemaRolloutSuite } from './schema-rollout-suite.js';

schemaRolloutSuite('SQLite', () => Promise.resolve({ dbPath: path.join(tempDir(), 'cloud.db') }), {
  severalProcesses: false,
});

describe("a device's schema version", () => {
  it('is read from X-Device-Schema-Version on every sync call and answered in GET /api/devices; missing or malformed is unknown', async () => {
    const server = await startTestServer();
    const till = await server.pair('till');
    const old = await server.pair('old');
    const versions = async (): Promise<Array<[string, number | null]>> =>
      expectOk(
        await request(server.url, 'GET', '/api/devices', { token: server.ownerToken }),
        DeviceList,
      ).map((device) => [device.name, device.schemaVersion]);
    expect(await versions()).toEqual([
      ['till', null],
      ['old', null],
    ]);

    const call = async (device: typeof till, header: string | undefined): Promise<number> => {
      const headers: Record<string, string> =
        header === undefined ? {} : { 'x-device-schema-version': header };
      // "Last seen" only moves forward: each call is a moment after the one before.
      server.clock.advance(1000);
      return (await device.request('GET', '/api/sync/pull?since=', { headers })).status;
    };
    expect(await call(till, '1')).toBe(200);
    // A protocol-1 device sends none: not an error, and its version stays unknown.
    expect(await call(old, undefined)).toBe(200);
    expect(await versions()).toEqual([
      ['till', 1],
      ['old', null],
    ]);

    // Push reads it too.
    server.clock.advance(1000);
    expect(
      (
        await till.request('POST', '/api/sync/push', {
          json: { pushId: crypto.randomUUID(), changes: [] },
          headers: { 'x-device-schema-version': '2' },
        })
      ).status,
    ).toBe(200);
    expect(await versions()).toEqual([
      ['till', 2],
      ['old', null],
    ]);
    for (const malformed of ['two', '-3', '0', '1.5', '99999999999', '']) {
      expect(await call(till, malformed)).toBe(200);
      expect(await call(old, malformed)).toBe(200);
    }
    // Malformed says nothing: the version last said stays, and an unknown one stays unknown.
    expect(await versions()).toEqual([
      ['till', 2],
      ['old', null],
    ]);
  });
});

import fc from 'fast-check';
import { ErrorBody, PushResponse, SHOP_SCHEMA } from '@tillsync/protocol';
import { describe, expect, it } from 'vitest';
import { expectShape, newId, pullAll, request, type TestServer } from './helpers.js';

/**
 * The fuzz: generated requests, each property `FUZZ_RUNS` of them per store. A few thousand in all by
 * default; `npm run fuzz -- --runs 100000` (`scripts/fuzz.js`) sets `TILLSYNC_FUZZ_RUNS` for a long run.
 */
export const FUZZ_RUNS = fuzzRuns(process.env.TILLSYNC_FUZZ_RUNS);

/**
 * A long run (a count asked for) takes as long as its count needs, however loaded the machine: no time limit
 * (0). The default count has a limit grown from it (200 ms a request, some twenty times what a PostgreSQL
 * push takes on a loaded machine), so a hang on a test run still ends.
 */
const FUZZ_TIMEOUT_MS = process.env.TILLSYNC_FUZZ_RUNS === undefined ? Math.max(60_000, FUZZ_RUNS * 200) : 0;

function fuzzRuns(text: string | undefined): number {
  if (text === undefined) return 1000;
  if (!/^[1-9]\d*$/.test(text))
    throw new Error(`TILLSYNC_FUZZ_RUNS takes a whole number above 0, not "${text}"`);
  return Number(text);
}

/** Runs the generated requests against a server that `start` opens on the store named `store`. */
export function fuzzSuite(store: string, start: () => Promise<TestServer>): void {
  describe(`generated requests on ${store} (${FUZZ_RUNS} per property)`, () => {
    it(
      'never answers 5xx to pushes of random changes, and rejects each bad change alone',
      async () => {
        const server = await start();
        const device = await server.pair('tillA');
        const tables = [...Object.keys(SHOP_SCHEMA.tables), 'no_such_table', '__proto__', 'constructor'];
        const columns = [
          ...new Set(Object.values(SHOP_SCHEMA.tables).flatMap((table) => Object.keys(table.columns))),
          'id',
          '__proto__',
          'toString',
        ];
        const value = fc.oneof(
          fc.jsonValue({ maxDepth: 2 }),
          fc.record({ delta: fc.oneof(fc.integer(), fc.double(), fc.string()) }),
          fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, -0, 1e308, '2026-11-22', '2026-11-22T10:00:00.000Z'),
        );
        const stamp = fc.oneof(
          fc.integer({ min: 0, max: server.clock.now() + 3_600_000 }).map((ms) => device.stamps.at(ms)),
          fc.constantFrom('x', '2026-11-22T10:00:00.000Z-ffff-', '9999-12-31T23:59:59.999Z-0000-a'),
          fc.string({ minLength: 1, maxLength: 60 }),
        );
        const change = fc.record(
          {
            table: fc.constantFrom(...tables),
            id: fc.oneof(fc.uuid(), fc.constantFrom('a', 'b')),
            op: fc.constantFrom('upsert', 'delete'),
            updatedAt: stamp,
            values: fc.dictionary(fc.constantFrom(...columns), value, { maxKeys: 8 }),
          },
          { requiredKeys: ['table', 'id', 'op', 'updatedAt'] },
        );

        await fc.assert(
          fc.asyncProperty(fc.array(change, { maxLength: 12 }), fc.boolean(), async (changes, sameId) => {
            const answer = await device.request('POST', '/api/sync/push', {
              json: { pushId: sameId ? 'fixed' : newId(), changes },
            });
            expect(answer.status, JSON.stringify({ changes, body: answer.body })).toBe(200);
            if (sameId) return;
            const { results } = expectShape(PushResponse, answer.body);
            expect(results.map((result) => [result.table, result.id])).toEqual(
              changes.map((sent) => [sent.table, sent.id]),
            );
          }),
          { numRuns: FUZZ_RUNS },
        );
        const snapshot = await pullAll(server.url, device.accessToken, '', 50);
        expect(snapshot.pages.length).toBeGreaterThan(0);
      },
      FUZZ_TIMEOUT_MS,
    );

    it(
      'never answers 5xx to random bodies, queries and headers on any route',
      async () => {
        const server = await start();
        const device = await server.pair('tillA');
        const routes = [
          ['POST', '/api/sync/push'],
          ['GET', '/api/sync/pull'],
          ['GET', '/api/sync/schema'],
          ['POST', '/api/auth/login'],
          ['POST', '/api/auth/refresh'],
          ['POST', '/api/devices/pair'],
          ['POST', '/api/pairing-codes'],
          ['GET', '/api/devices'],
          ['POST', `/api/devices/${device.deviceId}/revoke`],
          ['PATCH', `/api/devices/${device.deviceId}`],
        ] as const;
        const token = fc.constantFrom(undefined, device.accessToken, server.ownerToken, 'tso_x', 'tsr_x', '');
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom(...routes),
            fc.oneof(fc.string(), fc.json(), fc.constant(undefined)),
            fc.dictionary(fc.constantFrom('since', 'limit', 'x'), fc.string(), { maxKeys: 2 }),
            token,
            fc.string({ maxLength: 20 }),
            async ([method, path], raw, query, bearer, pending) => {
              // A revoke would end the device's token for the runs after it; it is sent with the owner's token only.
              const safeBearer = path.endsWith('/revoke') && bearer === server.ownerToken ? 'tso_x' : bearer;
              const search = new URLSearchParams(query).toString();
              const answer = await request(server.url, method, `${path}${search ? `?${search}` : ''}`, {
                ...(safeBearer === undefined ? {} : { token: safeBearer }),
                ...(raw === undefined || method === 'GET' ? {} : { raw }),
                headers: { 'x-device-pending': pending, 'x-device-app-version': pending },
              });
              expect(
                answer.status,
                `${method} ${path} ${String(raw)} → ${JSON.stringify(answer.body)}`,
              ).toBeLessThan(500);
              if (answer.status >= 400) expectShape(ErrorBody, answer.body);
            },
          ),
          { numRuns: FUZZ_RUNS },
        );
        expect((await request(server.url, 'GET', '/api/sync/health')).status).toBe(200);
        // Nothing any of those requests sent was stored: the tenant has no rows, and the device still works.
        const after = await pullAll(server.url, device.accessToken, '', 50);
        expect(after.changes).toEqual([]);
      },
      FUZZ_TIMEOUT_MS,
    );
  });
}

import fc from 'fast-check';
import { ErrorBody, PushResponse, SHOP_SCHEMA } from '@tillsync/protocol';
import { describe, expect, it } from 'vitest';
import { expectShape, newId, pullAll, request, type TestDevice, type TestServer } from './helpers.js';

/**
 * The fuzz: generated requests, each property `FUZZ_RUNS` of them per store. A few thousand in all by
 * default; `npm run fuzz -- --runs 100000` (`scripts/fuzz.js`) sets `TILLSYNC_FUZZ_RUNS` for a long run.
 */
export const FUZZ_RUNS = fuzzRuns(process.env.TILLSYNC_FUZZ_RUNS);

/**
 * Requests in flight at once. Each lane runs the property on its own share of the runs, one request after
 * the other, so the server meets four clients at a time, as it meets a shop's tills or several shops. A
 * request spends most of its time waiting on the store (a commit, a round trip to PostgreSQL): one client
 * alone kept the server idle most of the run.
 */
const FUZZ_LANES = 4;

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

/**
 * Checks `check` on `FUZZ_RUNS` values of `arbitrary` in all, split over {@link FUZZ_LANES} lanes that run
 * side by side, each one value after the other from a seed of its own. A lane that fails shrinks its
 * counterexample and reports it with the seed and path that replay it; the other lanes then spend their
 * remaining runs without a request.
 */
async function assertInLanes<T>(
  arbitrary: fc.Arbitrary<T>,
  check: (value: T, lane: number) => Promise<void>,
): Promise<void> {
  const seed = Date.now() ^ Math.floor(Math.random() * 0x1_0000_0000);
  let failed = false;
  const lanes = Array.from({ length: FUZZ_LANES }, async (_, lane) => {
    const numRuns = Math.floor(FUZZ_RUNS / FUZZ_LANES) + (lane < FUZZ_RUNS % FUZZ_LANES ? 1 : 0);
    if (numRuns === 0) return;
    const property = fc.asyncProperty(arbitrary, async (value) => {
      if (!failed) await check(value, lane);
    });
    try {
      await fc.assert(property, { numRuns, seed: seed + lane });
    } catch (error) {
      failed = true;
      throw error;
    }
  });
  const failure = (await Promise.allSettled(lanes)).find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
}

/** Runs the generated requests against a server that `start` opens on the store named `store`. */
export function fuzzSuite(store: string, start: () => Promise<TestServer>): void {
  describe(`generated requests on ${store} (${FUZZ_RUNS} per property)`, () => {
    it(
      'never answers 5xx to pushes of random changes, and rejects each bad change alone',
      async () => {
        const server = await start();
        // A device in a tenant of its own for each lane: a tenant's pushes are applied one at a time, so
        // lanes in one tenant would only queue behind each other.
        const devices: TestDevice[] = [await server.pair('tillA')];
        while (devices.length < FUZZ_LANES) {
          const owner = await server.otherTenantOwner(`owner${devices.length}@shop.test`);
          devices.push(await server.pair('tillA', owner.token));
        }
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
          fc.integer({ min: 0, max: server.clock.now() + 3_600_000 }).map((ms) => devices[0]!.stamps.at(ms)),
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

        const push = fc.tuple(fc.array(change, { maxLength: 12 }), fc.boolean());
        await assertInLanes(push, async ([changes, sameId], lane) => {
          const answer = await devices[lane]!.request('POST', '/api/sync/push', {
            json: { pushId: sameId ? 'fixed' : newId(), changes },
          });
          expect(answer.status, JSON.stringify({ changes, body: answer.body })).toBe(200);
          if (sameId) return;
          const { results } = expectShape(PushResponse, answer.body);
          expect(results.map((result) => [result.table, result.id])).toEqual(
            changes.map((sent) => [sent.table, sent.id]),
          );
        });
        for (const device of devices) {
          const snapshot = await pullAll(server.url, device.accessToken, '', 50);
          expect(snapshot.pages.length).toBeGreaterThan(0);
        }
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
        await assertInLanes(
          fc.tuple(
            fc.constantFrom(...routes),
            fc.oneof(fc.string(), fc.json(), fc.constant(undefined)),
            fc.dictionary(fc.constantFrom('since', 'limit', 'x'), fc.string(), { maxKeys: 2 }),
            token,
            fc.string({ maxLength: 20 }),
          ),
          async ([[method, path], raw, query, bearer, pending]) => {
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

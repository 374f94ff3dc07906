import { sql } from 'kysely';
import { applyPush, type SqlEngine } from '@tillsync/server';
import type { Change, PushRequest, PushResponse } from '@tillsync/protocol';
import { describe, expect, it } from 'vitest';
import { newId, productValues, type TestDevice, type TestServer, type TestServerOptions } from './helpers.js';

/**
 * Takes the tenant's turn with a piece of work of the test's own, which holds it (the writes asked for
 * meanwhile queue behind it) until `release()`; that answers the piece's `value` once it has ended.
 */
async function holdTenantTurn<T>(
  engine: SqlEngine,
  tenantId: string,
  value?: T,
): Promise<{ release: () => Promise<T | undefined> }> {
  let open = (): void => undefined;
  const held = new Promise<void>((resolve) => (open = resolve));
  let holding = (): void => undefined;
  const running = new Promise<void>((resolve) => (holding = resolve));
  const holder = engine.tenantWrite(tenantId, async () => {
    holding();
    await held;
    return value;
  });
  await running;
  return {
    release: () => {
      open();
      return holder;
    },
  };
}

/** A till's stamp at `ms` past 08:00 on 2026-12-07. */
const stampAt = (ms: number): string =>
  `${new Date(Date.UTC(2026, 11, 7, 8, 0, 0, ms)).toISOString()}-0000-till`;

const upsert = (table: string, id: string, ms: number, values: Record<string, unknown>): Change => ({
  table,
  id,
  op: 'upsert',
  updatedAt: stampAt(ms),
  values,
});

const remove = (table: string, id: string, ms: number): Change => ({
  table,
  id,
  op: 'delete',
  updatedAt: stampAt(ms),
});

/** The rows of a tenant as a pull from the start hands them out, in sequence order (numbers left out). */
async function pulledRows(
  server: TestServer,
  tenantId: string,
): Promise<Array<{ table: string; id: string; values: string | null }>> {
  const page = await server.server.storage.sync.forTenant(tenantId).pull(0, 100);
  if (page.resyncRequired) throw new Error('resync');
  return page.rows.map((row) => ({ table: row.table, id: row.id, values: row.valuesJson }));
}

/**
 * Two tenants' tills make the same pushes after the same `before`: one tenant's wait behind a held turn and
 * run together, the other's run one after the other. Answers both, and each tenant's rows after: they must
 * be the same (the same rows in the same order; a row several pushes of the batch wrote is stored once,
 * so it takes one sequence number where alone it took one per push, and the numbers are left out).
 */
async function runTogetherAndAlone<Extra>(
  server: TestServer,
  before: readonly PushRequest[],
  pushes: (extra: Extra) => PushRequest[],
  extra?: Extra,
): Promise<{
  batchedAnswers: PushResponse[];
  aloneAnswers: PushResponse[];
  batchedRows: Array<{ table: string; id: string; values: string | null }>;
  aloneRows: Array<{ table: string; id: string; values: string | null }>;
}> {
  const together = await server.pair('tillA');
  const owner = await server.otherTenantOwner();
  const alone = await server.pair('tillB', owner.token);
  const { storage } = server.server;
  const requestsOf = (device: TestDevice, requests: readonly PushRequest[]): PushRequest[] =>
    requests.map((push) => ({ ...push, pushId: `${device.deviceId}-${push.pushId}` }));
  const options = (device: TestDevice) => ({
    schema: server.server.config.schema,
    deviceId: device.deviceId,
    now: () => Date.UTC(2026, 11, 7, 9),
  });
  const pushAlone = async (device: TestDevice, requests: readonly PushRequest[]): Promise<PushResponse[]> => {
    const answers: PushResponse[] = [];
    for (const request of requestsOf(device, requests))
      answers.push(await applyPush(storage.sync.forTenant(device.tenantId), request, options(device)));
    return answers;
  };
  for (const device of [together, alone]) await pushAlone(device, before);

  const holder = await holdTenantTurn(storage.engine, together.tenantId);
  const batched = requestsOf(together, pushes(extra as Extra)).map((request) =>
    applyPush(storage.sync.forTenant(together.tenantId), request, options(together)),
  );
  await holder.release();
  const batchedAnswers = await Promise.all(batched);
  const aloneAnswers = await pushAlone(alone, pushes(extra as Extra));
  return {
    batchedAnswers,
    aloneAnswers,
    batchedRows: await pulledRows(server, together.tenantId),
    aloneRows: await pulledRows(server, alone.tenantId),
  };
}

/** The results of a push without its server time, which differs from run to run. */
const resultsOf = (response: PushResponse): PushResponse['results'] => response.results;

/**
 * A tenant's locked writes (`SqlEngine.tenantWrite`): those asked for while the tenant's last one runs share
 * one transaction and one turn of its lock, and each comes out as it would have alone, in the order asked.
 */
export function tenantWritesSuite(
  name: string,
  start: (options?: TestServerOptions) => Promise<TestServer>,
): void {
  describe(`a tenant's writes queued together (${name})`, () => {
    it('share one transaction, each seeing the ones before it, and a failing one fails alone', async () => {
      const server = await start();
      const { engine } = server.server.storage;
      const tenantId = server.tenantId;
      const first = await holdTenantTurn(engine, tenantId, 'first');
      // Asked for while the first holds the tenant's turn: they wait, then run together, in this order.
      const seen: string[] = [];
      const write = (tag: string, fail = false) =>
        engine.tenantWrite(tenantId, async (trx) => {
          await sql`insert into tenants (id, name, created_at) values (${`t-${tag}`}, ${tag}, '2026-12-07')`.execute(
            trx,
          );
          const { rows } = await sql<{
            name: string;
          }>`select name from tenants where id like 't-%' order by name`.execute(trx);
          seen.push(`${tag}:${rows.map((row) => row.name).join(',')}`);
          if (fail) throw new Error(`${tag} failed`);
          return tag;
        });
      const queued = [write('a'), write('b', true), write('c')];
      expect(await first.release()).toBe('first');
      const settled = await Promise.allSettled(queued);
      expect(
        settled.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : String(outcome.reason))),
      ).toEqual(['a', 'Error: b failed', 'c']);
      // Together first, until b's failure rolled the batch back; then each alone: c never saw b's row.
      expect(seen).toEqual(['a:a', 'b:a,b', 'a:a', 'b:a,b', 'c:a,c']);
      const stored = await sql<{
        id: string;
      }>`select id from tenants where id like 't-%' order by id`.execute(engine.db);
      expect(stored.rows.map((row) => row.id)).toEqual(['t-a', 't-c']);
    });

    it('leave unjudged a push whose device stopped waiting before its turn, and judge its retry', async () => {
      const server = await start();
      const till = await server.pair('till');
      const { storage } = server.server;
      const tenant = storage.sync.forTenant(till.tenantId);
      const options = { schema: server.server.config.schema, deviceId: till.deviceId, now: () => Date.now() };
      const product = newId();
      const request: PushRequest = {
        pushId: 'given-up',
        changes: [till.upsert('products', product, productValues({ stock: 5 }))],
      };
      const holder = await holdTenantTurn(storage.engine, till.tenantId);
      const gone = new AbortController();
      const abandoned = applyPush(tenant, request, { ...options, signal: gone.signal });
      gone.abort(new Error('the device closed the connection'));
      // Its retry, sent after it gave up, waits behind it.
      const retried = applyPush(tenant, request, options);
      await holder.release();
      await expect(abandoned).rejects.toThrow('the device closed the connection');
      expect((await retried).results.map((result) => result.status)).toEqual(['applied']);
      // Written once: the stock is the retry's 5, and a third send gets the retry's answer.
      const rows = await tenant.readRows([{ table: 'products', id: product }]);
      expect(rows.get(`products\u0000${product}`)?.values).toMatchObject({ stock: 5 });
      expect(await applyPush(tenant, request, options)).toEqual(await retried);
    });

    it('answer each push as it would have been answered alone, a retried pushId with its first answer', async () => {
      const product = newId();
      const sale = newId();
      const nobody = newId();
      const { batchedAnswers, aloneAnswers, batchedRows, aloneRows } = await runTogetherAndAlone(
        await start(),
        [],
        (first) => [
          { pushId: 'p1', changes: first.stored },
          // A counter delta on the row the push before created, and a stale write of its name.
          {
            pushId: 'p2',
            changes: [
              upsert('products', product, 3, { stock: { delta: -2 } }),
              upsert('products', product, 0, { name: 'Old' }),
            ],
          },
          // The first push again, retried while it waited: its first answer, nothing written twice.
          { pushId: 'p1', changes: first.stored },
          // A sale naming a customer nobody made: refused, the rest of the push applied.
          {
            pushId: 'p3',
            changes: [
              upsert('sales', sale, 4, {
                customer_id: nobody,
                total_cents: 100,
                created_at: '2026-12-07T08:00:00.000Z',
              }),
              upsert('products', product, 5, { stock: { delta: -1 } }),
            ],
          },
        ],
        { stored: [upsert('products', product, 1, productValues({ sku: 'S-1', stock: 10 }))] },
      );
      expect(batchedAnswers.map(resultsOf)).toEqual(aloneAnswers.map(resultsOf));
      expect(batchedAnswers[2]).toEqual(batchedAnswers[0]);
      expect(batchedAnswers[3]?.results.map((result) => result.status)).toEqual(['rejected', 'applied']);
      expect(batchedRows).toEqual(aloneRows);
      expect(JSON.parse(batchedRows[0]?.values ?? '{}')).toMatchObject({ stock: 7, name: 'Apple' });
    });

    it('judge each push against the rows, unique keys and references the pushes before it wrote', async () => {
      // The pushes of a batch store their rows together at its end: until then a later push must find the
      // earlier ones' rows, the keys they took or gave up, and the rows that reference what it deletes.
      const [category, customer, kept, first, second, third, sale, item] = [
        newId(),
        newId(),
        newId(),
        newId(),
        newId(),
        newId(),
        newId(),
        newId(),
      ] as const;
      const { batchedAnswers, aloneAnswers, batchedRows, aloneRows } = await runTogetherAndAlone(
        await start(),
        [{ pushId: 'before', changes: [upsert('products', kept, 1, productValues({ sku: 'S-0' }))] }],
        () => [
          {
            pushId: 'p1',
            changes: [
              upsert('categories', category, 2, { name: 'Fruit' }),
              upsert('customers', customer, 3, { name: 'Ada' }),
              upsert('products', first, 4, productValues({ sku: 'S-1', category_id: category })),
            ],
          },
          // S-1 is held by the row the push before created.
          { pushId: 'p2', changes: [upsert('products', second, 5, productValues({ sku: 'S-1' }))] },
          // The stored row and the new one give up S-0 and S-1; then the second takes S-1 and a third S-0.
          {
            pushId: 'p3',
            changes: [
              upsert('products', first, 6, { sku: 'S-2' }),
              upsert('products', kept, 7, { sku: 'S-9' }),
            ],
          },
          {
            pushId: 'p4',
            changes: [
              upsert('products', second, 8, productValues({ sku: 'S-1' })),
              upsert('products', third, 9, productValues({ sku: 'S-0' })),
            ],
          },
          {
            pushId: 'p5',
            changes: [
              upsert('sales', sale, 10, {
                customer_id: customer,
                total_cents: 100,
                created_at: '2026-12-07T08:00:00.000Z',
              }),
              upsert('sale_items', item, 11, {
                sale_id: sale,
                product_id: second,
                quantity: 1,
                price_cents: 100,
              }),
            ],
          },
          // A product a pending sale item needs stays; a customer a pending sale names is cleared from it.
          { pushId: 'p6', changes: [remove('products', second, 12), remove('customers', customer, 13)] },
          // A category a pending product names is cleared from it.
          { pushId: 'p7', changes: [remove('categories', category, 14)] },
        ],
      );
      expect(batchedAnswers.map(resultsOf)).toEqual(aloneAnswers.map(resultsOf));
      expect(batchedAnswers.map((answer) => answer.results.map((result) => result.status))).toEqual([
        ['applied', 'applied', 'applied'],
        ['rejected'],
        ['applied', 'applied'],
        ['applied', 'applied'],
        ['applied', 'applied'],
        ['rejected', 'applied'],
        ['applied'],
      ]);
      const refusalOf = (answer: PushResponse | undefined): string | null => {
        const result = answer?.results[0];
        return result?.status === 'rejected' ? result.error.code : null;
      };
      expect(refusalOf(batchedAnswers[1])).toBe('UNIQUE_VIOLATION');
      expect(refusalOf(batchedAnswers[5])).toBe('FK_VIOLATION');
      expect(batchedRows).toEqual(aloneRows);
      const valuesOf = (id: string): Record<string, unknown> =>
        JSON.parse(batchedRows.find((row) => row.id === id)?.values ?? 'null') as Record<string, unknown>;
      expect(valuesOf(sale)).toMatchObject({ customer_id: null });
      expect(valuesOf(first)).toMatchObject({ sku: 'S-2', category_id: null });
    });
  });
}

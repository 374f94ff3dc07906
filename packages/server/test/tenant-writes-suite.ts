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
      // Two tenants' tills make the same pushes: one tenant's wait behind a held turn and run together,
      // the other's run one after the other. The answers and the rows must be the same.
      const server = await start();
      const together = await server.pair('tillA');
      const owner = await server.otherTenantOwner();
      const alone = await server.pair('tillB', owner.token);
      const product = newId();
      const sale = newId();
      const nobody = newId();
      const pushesOf = (device: TestDevice): PushRequest[] => {
        const stamp = (ms: number): string =>
          `${new Date(Date.UTC(2026, 11, 7, 8, 0, 0, ms)).toISOString()}-0000-till`;
        const upsert = (table: string, id: string, ms: number, values: Record<string, unknown>): Change => ({
          table,
          id,
          op: 'upsert',
          updatedAt: stamp(ms),
          values,
        });
        const first: Change[] = [upsert('products', product, 1, productValues({ sku: 'S-1', stock: 10 }))];
        return [
          { pushId: 'p1', changes: first },
          // A counter delta on the row the push before created, and a stale write of its name.
          {
            pushId: 'p2',
            changes: [
              upsert('products', product, 3, { stock: { delta: -2 } }),
              upsert('products', product, 0, { name: 'Old' }),
            ],
          },
          // The first push again, retried while it waited: its first answer, nothing written twice.
          { pushId: 'p1', changes: first },
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
        ].map((push) => ({ ...push, pushId: `${device.deviceId}-${push.pushId}` }));
      };
      const options = (device: TestDevice) => ({
        schema: server.server.config.schema,
        deviceId: device.deviceId,
        now: () => Date.UTC(2026, 11, 7, 9),
      });
      const { storage } = server.server;

      const holder = await holdTenantTurn(storage.engine, together.tenantId);
      const batched = pushesOf(together).map((request) =>
        applyPush(storage.sync.forTenant(together.tenantId), request, options(together)),
      );
      await holder.release();
      const batchedAnswers = await Promise.all(batched);

      const aloneAnswers: PushResponse[] = [];
      for (const request of pushesOf(alone))
        aloneAnswers.push(await applyPush(storage.sync.forTenant(alone.tenantId), request, options(alone)));

      expect(batchedAnswers.map(resultsOf)).toEqual(aloneAnswers.map(resultsOf));
      expect(batchedAnswers[2]).toEqual(batchedAnswers[0]);
      expect(batchedAnswers[3]?.results.map((result) => result.status)).toEqual(['rejected', 'applied']);
      const rowsOf = async (tenantId: string) => {
        const page = await storage.sync.forTenant(tenantId).pull(0, 100);
        if (page.resyncRequired) throw new Error('resync');
        return page.rows.map((row) => ({
          table: row.table,
          id: row.id,
          values: row.valuesJson,
          seq: row.seq,
        }));
      };
      const [batchedRows, aloneRows] = await Promise.all([rowsOf(together.tenantId), rowsOf(alone.tenantId)]);
      expect(batchedRows.map(({ seq: _seq, ...row }) => row)).toEqual(
        aloneRows.map(({ seq: _seq, ...row }) => row),
      );
      expect(JSON.parse(batchedRows[0]?.values ?? '{}')).toMatchObject({ stock: 7, name: 'Apple' });
      // Sequence numbers in the order the pushes were asked for, as commit order would give them alone.
      expect(batchedRows.map((row) => row.seq)).toEqual(aloneRows.map((row) => row.seq));
    });
  });
}

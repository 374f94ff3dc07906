import { sql } from 'kysely';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startTestServer, type TestServerOptions } from './helpers.js';
import { freshPostgresDatabase, postgresAnswers } from './postgres-fixture.js';
import { tenantWritesSuite } from './tenant-writes-suite.js';

if (await postgresAnswers()) {
  const start = async (options: TestServerOptions = {}) => {
    const database = await freshPostgresDatabase();
    // Registered first, so it runs after the server (registered by startTestServer) has closed.
    onTestFinished(() => database.drop());
    return startTestServer({ ...options, databaseUrl: database.url });
  };
  tenantWritesSuite('PostgreSQL', start);

  describe("a tenant's writes queued together on PostgreSQL", () => {
    it('take one transaction and one turn of the lock, not one each', async () => {
      const server = await start();
      const { engine } = server.server.storage;
      let release = (): void => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      let holding = (): void => undefined;
      const running = new Promise<void>((resolve) => (holding = resolve));
      const first = engine.tenantWrite(server.tenantId, async () => {
        holding();
        await released;
      });
      await running;
      const transactionOf = () =>
        engine.tenantWrite(server.tenantId, async (trx) => {
          const { rows } = await sql<{ id: string }>`select txid_current()::text as id`.execute(trx);
          return rows[0]?.id;
        });
      const queued = [transactionOf(), transactionOf(), transactionOf()];
      release();
      await first;
      const ids = await Promise.all(queued);
      expect(ids[0]).toBeDefined();
      expect(new Set(ids).size).toBe(1);
    });
  });
} else {
  describe("a tenant's writes queued together on PostgreSQL", () => {
    it.skip('PostgreSQL does not answer on 127.0.0.1:5432', () => {});
  });
}

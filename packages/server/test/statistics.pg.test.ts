import { sql } from 'kysely';
import { describe, expect, it, onTestFinished } from 'vitest';
import { newId, productValues, startTestServer } from './helpers.js';
import { freshPostgresDatabase, postgresAnswers } from './postgres-fixture.js';

if (await postgresAnswers()) {
  describe("the database's planner statistics on PostgreSQL", () => {
    const start = async () => {
      const database = await freshPostgresDatabase();
      // Registered first, so it runs after the server (registered by startTestServer) has closed.
      onTestFinished(() => database.drop());
      const server = await startTestServer({ databaseUrl: database.url });
      // Whatever this machine's autovacuum does, these tables are left to the server.
      for (const table of ['sync_rows', 'sync_unique_values'])
        await sql`alter table ${sql.id(table)} set (autovacuum_enabled = false)`.execute(
          server.server.storage.engine.db,
        );
      return server;
    };

    it('looks a unique key up by the key, even in tables filled since they were last analysed', async () => {
      const server = await start();
      const till = await server.pair('till');
      for (let push = 0; push < 4; push++)
        await till.push(Array.from({ length: 500 }, () => till.upsert('products', newId(), productValues())));
      const plan = await sql<{ 'QUERY PLAN': string }>`explain
        select row_id from sync_unique_values
        where tenant_id = ${server.tenantId} and tbl = 'products' and col = 'sku' and value = '"SKU-1"'`.execute(
        server.server.storage.engine.db,
      );
      expect(plan.rows.map((row) => row['QUERY PLAN']).join('\n')).toContain('sync_unique_values_pk');
    });

    it('analyses the tables that changed much since their last statistics, and then none', async () => {
      const server = await start();
      const till = await server.pair('till');
      for (let push = 0; push < 4; push++)
        await till.push(Array.from({ length: 500 }, () => till.upsert('products', newId(), productValues())));
      const { engine } = server.server.storage;
      const refresh = engine.refreshStatistics;
      if (!refresh) throw new Error('the PostgreSQL engine refreshes statistics');
      // The counts of changed rows reach the statistics a moment after the writes commit (each connection
      // sends its own), so the tables may be analysed more than once before nothing is left to do.
      const analysed = new Set<string>();
      let last: string[] = [];
      for (let attempt = 0; attempt < 50; attempt++) {
        last = await refresh();
        for (const table of last) analysed.add(table);
        if (analysed.has('sync_unique_values') && last.length === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect([...analysed]).toEqual(expect.arrayContaining(['sync_rows', 'sync_unique_values']));
      expect(last).toEqual([]);
      const stats = await sql<{ relname: string; analysed: boolean }>`
        select relname, last_analyze is not null as analysed from pg_stat_user_tables
        where relname in ('sync_rows', 'sync_unique_values') order by relname`.execute(engine.db);
      expect(stats.rows).toEqual([
        { relname: 'sync_rows', analysed: true },
        { relname: 'sync_unique_values', analysed: true },
      ]);
    });
  });
}

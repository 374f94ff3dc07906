import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ChangeNotice } from '../src/notices/change-notices.js';
import { PostgresChangeNotices } from '../src/notices/postgres-change-notices.js';
import { freshPostgresDatabase, postgresAnswers } from './postgres-fixture.js';

const available = await postgresAnswers();
if (!available) console.warn('PostgreSQL does not answer on 127.0.0.1:5432: the notices test is skipped');

describe.runIf(available)('change notices through PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  beforeAll(async () => {
    database = await freshPostgresDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('hands every notice of many published at once to the listeners of its tenant, each once', async () => {
    const publisher = await PostgresChangeNotices.open(database.url, (error) => {
      throw error;
    });
    const listener = await PostgresChangeNotices.open(database.url, (error) => {
      throw error;
    });
    try {
      const heard = new Map<string, ChangeNotice[]>();
      const tenants = Array.from({ length: 300 }, (_, index) => `tenant-${index}-${'x'.repeat(30)}`);
      for (const tenantId of tenants) {
        listener.subscribe(tenantId, (notice) =>
          heard.set(tenantId, [...(heard.get(tenantId) ?? []), notice]),
        );
      }
      // More than one NOTIFY payload holds, and the same notice twice while they wait.
      await Promise.all([
        ...tenants.map((tenantId) => publisher.publish({ tenantId, deviceId: 'till-1' })),
        publisher.publish({ tenantId: tenants[0]!, deviceId: 'till-1' }),
        publisher.publish({ tenantId: tenants[0]!, deviceId: null }),
      ]);
      await vi.waitFor(() => expect(heard.size).toBe(tenants.length), { timeout: 10_000 });
      expect(heard.get(tenants[0]!)).toEqual([
        { tenantId: tenants[0], deviceId: 'till-1' },
        { tenantId: tenants[0], deviceId: null },
      ]);
      expect(heard.get(tenants[299]!)).toEqual([{ tenantId: tenants[299], deviceId: 'till-1' }]);

      // A process of the version before sent one notice per NOTIFY, not an array.
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      await client.query('select pg_notify($1, $2)', [
        'tillsync_changes',
        JSON.stringify({ tenantId: tenants[1], deviceId: 'old-till' }),
      ]);
      await client.end();
      await vi.waitFor(() => expect(heard.get(tenants[1]!)).toHaveLength(2), { timeout: 10_000 });
    } finally {
      await publisher.close();
      await listener.close();
    }
  });
});

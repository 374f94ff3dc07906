import { openStorage } from '@tillsync/server';
import { describe, expect, it } from 'vitest';
import { freshPostgresDatabase, postgresAnswers } from './postgres-fixture.js';
import { describeMergeConformance } from './merge-conformance.js';
import { describeSnapshotConformance } from './snapshot-conformance.js';
import { describeNoEchoConformance } from './no-echo-conformance.js';
import { describeSyncStoreConformance, withTwoTenants } from './store-conformance.js';

if (await postgresAnswers()) {
  const openPostgres = async (): ReturnType<typeof withTwoTenants> => {
    const database = await freshPostgresDatabase();
    const storage = await openStorage({ databaseUrl: database.url });
    return withTwoTenants(storage, async () => {
      await storage.close();
      await database.drop();
    });
  };
  describeSyncStoreConformance('PostgreSQL', openPostgres);
  describeMergeConformance('PostgreSQL', openPostgres);
  describeSnapshotConformance('PostgreSQL', openPostgres);
  describeNoEchoConformance('PostgreSQL', openPostgres);

  describe('PostgreSQL connections', () => {
    it('outlives connections the database ends while they are idle', async () => {
      const database = await freshPostgresDatabase();
      const storage = await openStorage({ databaseUrl: database.url });
      try {
        await storage.ping();
        await database.endConnections();
        // The pool hears of the ended connection a moment later; the process must not end, and the next
        // query gets a new connection.
        await new Promise((resolve) => setTimeout(resolve, 300));
        await expect(storage.ping()).resolves.toBeUndefined();
      } finally {
        await storage.close();
        await database.drop();
      }
    });
  });
} else {
  describe.skip('PostgreSQL storage conformance (PostgreSQL does not answer on 127.0.0.1:5432)', () => {
    it('runs when PostgreSQL answers', () => undefined);
  });
}

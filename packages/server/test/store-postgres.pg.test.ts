import { openStorage } from '@tillsync/server';
import { describe, it } from 'vitest';
import { freshPostgresDatabase, postgresAnswers } from './postgres-fixture.js';
import { describeSyncStoreConformance, withTwoTenants } from './store-conformance.js';

if (await postgresAnswers()) {
  describeSyncStoreConformance('PostgreSQL', async () => {
    const database = await freshPostgresDatabase();
    const storage = await openStorage({ databaseUrl: database.url });
    return withTwoTenants(storage, async () => {
      await storage.close();
      await database.drop();
    });
  });
} else {
  describe.skip('PostgreSQL storage conformance (PostgreSQL does not answer on 127.0.0.1:5432)', () => {
    it('runs when PostgreSQL answers', () => undefined);
  });
}

import { describe, it, onTestFinished } from 'vitest';
import { startTestServer } from './helpers.js';
import { freshPostgresDatabase, postgresAnswers } from './postgres-fixture.js';
import { storesSuite } from './stores-suite.js';

if (await postgresAnswers()) {
  storesSuite('PostgreSQL', async (options) => {
    const database = await freshPostgresDatabase();
    // Registered first, so it runs after the server (registered by startTestServer) has closed.
    onTestFinished(() => database.drop());
    return startTestServer({ ...options, databaseUrl: database.url });
  });
} else {
  describe('stores on PostgreSQL', () => {
    it.skip('PostgreSQL does not answer on 127.0.0.1:5432', () => {});
  });
}

import { describe, it, onTestFinished } from 'vitest';
import { fuzzSuite } from './bad-input-fuzz.js';
import { startTestServer } from './helpers.js';
import { freshPostgresDatabase, postgresAnswers } from './postgres-fixture.js';

const available = await postgresAnswers();

if (available) {
  // The generated requests on PostgreSQL, each property on a database of its own.
  fuzzSuite('PostgreSQL', async () => {
    const database = await freshPostgresDatabase();
    // Registered first, so it runs after the server (registered by startTestServer) has closed.
    onTestFinished(() => database.drop());
    return startTestServer({ databaseUrl: database.url });
  });
} else {
  describe('generated requests on PostgreSQL', () => {
    it.skip('PostgreSQL does not answer on 127.0.0.1:5432', () => {});
  });
}

import { describe, it } from 'vitest';
import { freshPostgresDatabase, postgresAnswers } from '../../server/test/postgres-fixture.js';
import { onCleanup } from './helpers.js';
import { describeNoEcho } from './no-echo-suite.js';

if (await postgresAnswers()) {
  describeNoEcho('PostgreSQL server', async () => {
    const database = await freshPostgresDatabase();
    // Registered before the server's own close, so it runs after it.
    onCleanup(() => database.drop());
    return { databaseUrl: database.url };
  });
} else {
  describe.skip('No echo on PostgreSQL (PostgreSQL does not answer on 127.0.0.1:5432)', () => {
    it('runs when PostgreSQL answers', () => undefined);
  });
}

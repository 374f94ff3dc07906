import { afterAll, describe, it } from 'vitest';
import { freshPostgresDatabase, postgresAnswers } from './postgres-fixture.js';
import { schemaRolloutSuite } from './schema-rollout-suite.js';

const answers = await postgresAnswers();
const databases: Array<{ drop(): Promise<void> }> = [];
afterAll(async () => {
  for (const database of databases) await database.drop();
});

if (answers) {
  schemaRolloutSuite(
    'PostgreSQL',
    async () => {
      const database = await freshPostgresDatabase();
      databases.push(database);
      return { databaseUrl: database.url };
    },
    { severalProcesses: true },
  );
} else {
  describe('a server started with another schema (PostgreSQL)', () => {
    it.skip('needs PostgreSQL on 127.0.0.1:5432', () => undefined);
  });
}

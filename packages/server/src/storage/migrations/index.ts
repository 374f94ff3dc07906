import type { Migration, MigrationProvider } from 'kysely';
import { migration0001 } from './0001-initial.js';

/**
 * The numbered migrations, run in order on start. A migration never changes once it has landed; a change
 * of schema is a new number.
 */
const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': migration0001,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(MIGRATIONS),
};

import type { Migration, MigrationProvider } from 'kysely';
import { migration0001 } from './0001-initial.js';
import { migration0002 } from './0002-sync-jobs.js';
import { migration0003 } from './0003-rate-limits.js';
import { migration0004 } from './0004-push-answers-by-push-id.js';
import { migration0005 } from './0005-conflicts-by-time.js';
import { migration0006 } from './0006-sync-jobs-to-dispatch.js';
import { migration0007 } from './0007-live-job-indexes.js';
import { migration0008 } from './0008-column-stamps.js';
import { migration0009 } from './0009-served-schema.js';
import { migration0010 } from './0010-job-retention-schedules-webhooks.js';
import { migration0011 } from './0011-stores.js';
import { migration0012 } from './0012-scoped-rows.js';
import { migration0013 } from './0013-queued-jobs-by-queue.js';
import { migration0014 } from './0014-rows-held-by-writer.js';
import { migration0015 } from './0015-unique-values-by-row-id.js';

/**
 * The numbered migrations, run in order on start. A migration never changes once it has landed; a change
 * of schema is a new number.
 */
const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': migration0001,
  '0002-sync-jobs': migration0002,
  '0003-rate-limits': migration0003,
  '0004-push-answers-by-push-id': migration0004,
  '0005-conflicts-by-time': migration0005,
  '0006-sync-jobs-to-dispatch': migration0006,
  '0007-live-job-indexes': migration0007,
  '0008-column-stamps': migration0008,
  '0009-served-schema': migration0009,
  '0010-job-retention-schedules-webhooks': migration0010,
  '0011-stores': migration0011,
  '0012-scoped-rows': migration0012,
  '0013-queued-jobs-by-queue': migration0013,
  '0014-rows-held-by-writer': migration0014,
  '0015-unique-values-by-row-id': migration0015,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(MIGRATIONS),
};

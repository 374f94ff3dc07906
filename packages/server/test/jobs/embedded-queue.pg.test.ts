import { EmbeddedJobQueue } from '@tillsync/jobs';
import { describeEmbeddedQueueStop } from './embedded-queue-stop.js';
import { describeJobQueueConformance } from './job-queue-conformance.js';

// The same suite on PostgreSQL: every claim, lock and commit is portable SQL.
describeJobQueueConformance(
  'embedded on PostgreSQL',
  (env, executor) => new EmbeddedJobQueue({ store: env.store, executor, pollIntervalMs: 20, concurrency: 8 }),
  { postgres: true },
);
describeEmbeddedQueueStop({ postgres: true });

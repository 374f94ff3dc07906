import { EmbeddedJobQueue } from '@tillsync/jobs';
import { describeEmbeddedQueueStop } from './embedded-queue-stop.js';
import { describeJobQueueConformance } from './job-queue-conformance.js';

describeJobQueueConformance(
  'embedded',
  (env, executor) => new EmbeddedJobQueue({ store: env.store, executor, pollIntervalMs: 20, concurrency: 8 }),
);
describeEmbeddedQueueStop();

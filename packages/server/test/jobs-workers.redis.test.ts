import { randomUUID } from 'node:crypto';
import { afterAll } from 'vitest';
import { describeWorkerProcesses } from './jobs-workers.js';
import { deleteRedisKeys, REDIS_URL } from './redis-fixture.js';

const prefixes: string[] = [];
afterAll(() => deleteRedisKeys(prefixes));

// Workers on BullMQ, each test on its own key prefix.
describeWorkerProcesses('BullMQ', () => {
  const prefix = `tillsync-test-${randomUUID().slice(0, 8)}`;
  prefixes.push(prefix);
  return ['--redis-url', REDIS_URL, '--bullmq-prefix', prefix];
});

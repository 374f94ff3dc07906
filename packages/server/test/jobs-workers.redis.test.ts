import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { describeWorkerProcesses } from './jobs-workers.js';

const REDIS_URL = process.env.TILLSYNC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefixes: string[] = [];

afterAll(async () => {
  const redis = new Redis(REDIS_URL);
  for (const prefix of prefixes) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  }
  await redis.quit();
});

// Workers on BullMQ, each test on its own key prefix.
describeWorkerProcesses('BullMQ', () => {
  const prefix = `tillsync-test-${randomUUID().slice(0, 8)}`;
  prefixes.push(prefix);
  return ['--redis-url', REDIS_URL, '--bullmq-prefix', prefix];
});

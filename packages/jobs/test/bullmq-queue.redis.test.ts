import { randomUUID } from 'node:crypto';
import { BullMqJobQueue } from '@tillsync/jobs';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { describeJobQueueConformance } from './job-queue-conformance.js';

/** The machine's Redis; every test gets its own key prefix, and the keys are removed at the end. */
const REDIS_URL = process.env.TILLSYNC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefixes = new Set<string>();

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

const prefixByEnv = new WeakMap<object, string>();

describeJobQueueConformance('BullMQ', (env, executor) => {
  let prefix = prefixByEnv.get(env);
  if (!prefix) {
    prefix = `tillsync-test-${randomUUID().slice(0, 8)}`;
    prefixByEnv.set(env, prefix);
    prefixes.add(prefix);
  }
  return new BullMqJobQueue({
    store: env.store,
    executor,
    redisUrl: REDIS_URL,
    prefix,
    pollIntervalMs: 20,
    concurrency: 8,
    lockDurationMs: 2_000,
    stalledIntervalMs: 1_000,
  });
});

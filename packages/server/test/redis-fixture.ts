import { Redis } from 'ioredis';

/** The machine's Redis unless `TILLSYNC_TEST_REDIS_URL` names another. Each test uses a key prefix of its own. */
export const REDIS_URL = process.env.TILLSYNC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Deletes every key under each prefix (`<prefix>:*`), as a test file ends. */
export async function deleteRedisKeys(prefixes: readonly string[]): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    for (const prefix of prefixes) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    await redis.quit();
  }
}

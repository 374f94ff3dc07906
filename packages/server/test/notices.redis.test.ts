import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { EventStream } from './event-stream.js';
import { newId, startTestServer, tempDir, type TestServer } from './helpers.js';
import { deleteRedisKeys, REDIS_URL } from './redis-fixture.js';

const admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
const available = await admin.connect().then(
  () => true,
  () => {
    admin.disconnect();
    return false;
  },
);
if (!available) console.warn(`Redis does not answer at ${REDIS_URL}: the Redis notice tests are skipped`);
const prefixes: string[] = [];
afterAll(async () => {
  if (!available) return;
  await admin.quit();
  await deleteRedisKeys(prefixes);
});

/** The `CLIENT LIST` lines of the connections named `name`. */
async function connectionsNamed(name: string): Promise<string[]> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  return list.split('\n').filter((line) => line.includes(` name=${name} `));
}

/** Waits until `check` holds (at most 5 s), so a test never sleeps for a fixed time. */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still not true after 5 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Two server apps on one database and one Redis prefix, as two processes behind a balancer would be. */
async function twoServers(): Promise<{ first: TestServer; second: TestServer; prefix: string }> {
  const prefix = `tillsync-test-${randomUUID().slice(0, 8)}`;
  prefixes.push(prefix);
  const dbPath = path.join(tempDir(), 'cloud.db');
  const jobs = { redisUrl: REDIS_URL, bullmqPrefix: prefix };
  const first = await startTestServer({ dbPath, jobs });
  const second = await startTestServer({ dbPath, jobs, clock: first.clock });
  return { first, second, prefix };
}

describe.skipIf(!available)('live change notices through Redis', () => {
  it("reaches a tenant's devices streaming from another server, and no other tenant's", async () => {
    const { first, second, prefix } = await twoServers();
    const pusher = await first.pair('till-first');
    const listener = await second.pair('till-second');
    const otherOwner = await first.otherTenantOwner();
    const stranger = await first.pair('x', otherOwner.token);
    const strangerOnSecond = await second.pair('y', otherOwner.token);

    const [heard, strangerHeard] = await Promise.all([
      EventStream.open(listener),
      EventStream.open(strangerOnSecond),
    ]);
    await eventually('the second server subscribed to both tenants', async () => {
      const counts = (await admin.pubsub(
        'NUMSUB',
        `${prefix}:changes:${listener.tenantId}`,
        `${prefix}:changes:${stranger.tenantId}`,
      )) as Array<string | number>;
      return counts[1] === 1 && counts[3] === 1;
    });

    // Each tenant's push goes through the first server; each stream on the second hears its own tenant's only.
    await stranger.push([stranger.upsert('categories', newId(), { name: 'Theirs' })]);
    await pusher.push([pusher.upsert('categories', newId(), { name: 'Fruit' })]);
    await Promise.all([heard.waitFor(1), strangerHeard.waitFor(1)]);
    await pusher.push([pusher.upsert('categories', newId(), { name: 'Veg' })]);
    await heard.waitFor(2);
    expect(heard.notices).toEqual([
      { tenantId: listener.tenantId, deviceId: pusher.deviceId },
      { tenantId: listener.tenantId, deviceId: pusher.deviceId },
    ]);
    expect(strangerHeard.notices).toEqual([{ tenantId: stranger.tenantId, deviceId: stranger.deviceId }]);
  });

  it('subscribes again after losing its Redis connection, and closes its connections on shutdown', async () => {
    const { first, second, prefix } = await twoServers();
    const pusher = await first.pair('till-first');
    const listener = await second.pair('till-second');
    const heard = await EventStream.open(listener);
    const channel = `${prefix}:changes:${listener.tenantId}`;
    const subscribers = async (): Promise<number> =>
      ((await admin.pubsub('NUMSUB', channel)) as [string, number])[1];
    await eventually('the second server subscribed', async () => (await subscribers()) === 1);

    // Redis drops the second server's subscribing connection; ioredis connects again and subscribes again.
    const [subscriber] = (await connectionsNamed(`${prefix}:notices`)).filter((line) =>
      / sub=[1-9]/.test(line),
    );
    const id = /\bid=(\d+)/.exec(subscriber ?? '')?.[1];
    expect(id, 'a subscribing notices connection').toBeDefined();
    await admin.call('CLIENT', 'KILL', 'ID', id!);
    await eventually('the second server subscribed again', async () => {
      const lines = await connectionsNamed(`${prefix}:notices`);
      return (await subscribers()) === 1 && !lines.some((line) => line.includes(`id=${id} `));
    });
    await pusher.push([pusher.upsert('categories', newId(), { name: 'Fruit' })]);
    await heard.waitFor(1);

    await first.close();
    await second.close();
    await eventually(
      'no notices connection is left',
      async () => (await connectionsNamed(`${prefix}:notices`)).length === 0,
    );
  });
});

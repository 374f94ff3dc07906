import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { formatStamp, type Change, type PullResponse, type PushResponse } from '@tillsync/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresDatabase, postgresAnswers } from './postgres-fixture.js';

const CLI = path.resolve(import.meta.dirname, '../../cli/bin/tillsync.js');
const EMAIL = 'owner@chain.test';
const PASSWORD = 'a long enough password';
const available = await postgresAnswers();
if (!available) console.warn('PostgreSQL does not answer on 127.0.0.1:5432: the two-process test is skipped');

/** A `tillsync serve` child process on the shared database. */
class ServeProcess {
  readonly #databaseUrl: string;
  #child: ChildProcess | null = null;
  url = '';

  constructor(databaseUrl: string) {
    this.#databaseUrl = databaseUrl;
  }

  async start(): Promise<void> {
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--database-url', this.#databaseUrl, '--port', '0'],
      {
        env: { ...process.env, TILLSYNC_ADMIN_EMAIL: EMAIL, TILLSYNC_ADMIN_PASSWORD: PASSWORD },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.#child = child;
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    this.url = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(stdout);
        if (match?.[1]) resolve(match[1]);
      });
      child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr.slice(-500)}`)));
    });
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    expect(child.exitCode).toBe(0);
  }
}

async function call<T>(
  url: string,
  init: { method?: string; body?: unknown; token?: string } = {},
): Promise<T> {
  const response = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

/** A device speaking HTTP to one of the processes. */
class Device {
  readonly nodeId = `d${randomUUID().slice(0, 8)}`;
  cursor = '';
  #ms = 0;
  #counter = 0;

  constructor(
    public server: ServeProcess,
    readonly token: string,
  ) {}

  stamp(): string {
    const now = Date.now();
    if (now > this.#ms) [this.#ms, this.#counter] = [now, 0];
    else this.#counter += 1;
    return formatStamp({ ms: this.#ms, counter: this.#counter, nodeId: this.nodeId });
  }

  push(changes: Change[]): Promise<PushResponse> {
    return call(`${this.server.url}/api/sync/push`, {
      body: { pushId: randomUUID(), changes },
      token: this.token,
    });
  }

  /** Pulls to the end; returns the changes in the order received. */
  async pullAll(limit: number): Promise<PullResponse['changes']> {
    const changes: PullResponse['changes'] = [];
    for (;;) {
      const page = await call<PullResponse>(
        `${this.server.url}/api/sync/pull?limit=${limit}&since=${encodeURIComponent(this.cursor)}`,
        { token: this.token },
      );
      changes.push(...page.changes);
      this.cursor = page.cursor;
      if (!page.hasMore) return changes;
    }
  }
}

describe.skipIf(!available)('two server processes on one PostgreSQL', () => {
  let drop: () => Promise<void> = () => Promise.resolve();
  let first: ServeProcess;
  let second: ServeProcess;

  beforeAll(async () => {
    const database = await freshPostgresDatabase();
    drop = () => database.drop();
    first = new ServeProcess(database.url);
    second = new ServeProcess(database.url);
    // Both start at once on the empty database: migrations and the first owner must not collide.
    await Promise.all([first.start(), second.start()]);
  });

  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    await drop();
  });

  async function pair(server: ServeProcess): Promise<Device> {
    const { token } = await call<{ token: string }>(`${server.url}/api/auth/login`, {
      body: { email: EMAIL, password: PASSWORD },
    });
    const { code } = await call<{ code: string }>(`${server.url}/api/pairing-codes`, { body: {}, token });
    const paired = await call<{ accessToken: string }>(`${server.url}/api/devices/pair`, {
      body: { code, name: 'd', platform: 'test' },
    });
    return new Device(server, paired.accessToken);
  }

  it('misses no change, adds counters from both, and survives restarting both', async () => {
    const viaFirst = await pair(first);
    const viaSecond = await pair(second);
    const puller = await pair(second);

    // A notice of a push through the first process reaches a device streaming from the second.
    const events = await fetch(`${second.url}/api/sync/events`, {
      headers: { authorization: `Bearer ${puller.token}` },
    });
    const reader = events.body!.getReader();
    const heard = (async () => {
      let text = '';
      while (!text.includes('event: changes')) {
        const { value, done } = (await reader.read()) as { value?: Uint8Array; done: boolean };
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      return text;
    })();

    const product = randomUUID();
    const created = await viaFirst.push([
      {
        table: 'products',
        id: product,
        op: 'upsert',
        updatedAt: viaFirst.stamp(),
        values: { sku: 'P-1', name: 'Pear', price_cents: 90, stock: 100, active: 1 },
      },
    ]);
    expect(created.results[0]?.status).toBe('applied');
    expect(await heard).toContain('event: changes');
    await reader.cancel();

    // Two devices push through two processes while a third pages through the second with small pages.
    const pushed: string[] = [];
    const pushMany = async (device: Device): Promise<void> => {
      for (let round = 0; round < 25; round++) {
        const batch: Change[] = Array.from({ length: 8 }, () => ({
          table: 'customers',
          id: randomUUID(),
          op: 'upsert' as const,
          updatedAt: device.stamp(),
          values: { name: 'c', phone: null, email: null },
        }));
        batch.push({
          table: 'products',
          id: product,
          op: 'upsert',
          updatedAt: device.stamp(),
          values: { sku: 'P-1', name: 'Pear', price_cents: 90, stock: { delta: -1 }, active: 1 },
        });
        const answer = await device.push(batch);
        expect(answer.results.every((result) => result.status !== 'rejected')).toBe(true);
        pushed.push(...batch.filter((change) => change.table === 'customers').map((change) => change.id));
      }
    };
    const seen = new Set<string>();
    let pushing = true;
    const pulling = (async () => {
      while (pushing) for (const change of await puller.pullAll(7)) seen.add(change.id);
    })();
    await Promise.all([pushMany(viaFirst), pushMany(viaSecond)]);
    pushing = false;
    await pulling;
    const tail = await puller.pullAll(7);
    for (const change of tail) seen.add(change.id);
    expect(pushed).toHaveLength(400);
    expect(pushed.filter((id) => !seen.has(id))).toEqual([]);

    const stockOf = (changes: PullResponse['changes']): unknown =>
      changes.filter((change) => change.id === product).at(-1)?.values?.stock;
    const fresh = await pair(first);
    expect(stockOf(await fresh.pullAll(500))).toBe(100 - 25 - 25);

    // Restart both processes: nothing is lost, cursors stay valid, pushes go on.
    await Promise.all([first.stop(), second.stop()]);
    await Promise.all([first.start(), second.start()]);
    expect(await puller.pullAll(50)).toEqual([]);
    const again = new Device(first, fresh.token);
    const snapshot = await again.pullAll(1000);
    expect(snapshot.filter((change) => change.table === 'customers')).toHaveLength(400);
    expect(stockOf(snapshot)).toBe(50);
    viaSecond.server = second;
    const after = await viaSecond.push([
      {
        table: 'products',
        id: product,
        op: 'upsert',
        updatedAt: viaSecond.stamp(),
        values: { sku: 'P-1', name: 'Pear', price_cents: 90, stock: { delta: -5 }, active: 1 },
      },
    ]);
    expect(after.results[0]?.status).toBe('applied');
    expect(stockOf(await puller.pullAll(50))).toBe(45);
  });
});

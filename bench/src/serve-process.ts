import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { formatStamp, type Change, type PushResponse } from '@tillsync/protocol';

/** The built `tillsync` command. */
export const CLI = path.resolve(import.meta.dirname, '../../packages/cli/bin/tillsync.js');

/** A server in a process of its own, so a benchmark's client does not share its event loop. */
export interface ServeProcess {
  readonly url: string;
  stop(): Promise<void>;
}

/** `tillsync serve` in a process of its own; `nodeArgs` go to node itself (e.g. `--cpu-prof`). */
export function startServeProcess(
  dbArgs: readonly string[],
  env: Readonly<Record<string, string>>,
  nodeArgs: readonly string[] = [],
): Promise<ServeProcess> {
  return startListeningProcess([...nodeArgs, CLI, 'serve', ...dbArgs, '--port', '0'], env);
}

/** Runs `node <args>` and waits for the line `listening on <url>` it prints once it listens. */
export async function startListeningProcess(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<ServeProcess> {
  const child: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', process.env.TILLSYNC_BENCH_CHILD_STDERR ? 'inherit' : 'ignore'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) =>
      reject(new Error(`${args.find((arg) => !arg.startsWith('-')) ?? 'node'} exited ${code}`)),
    );
  });
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The owner every benchmark server is started with. */
export const BENCH_EMAIL = 'bench@shop.test';
export const BENCH_PASSWORD = 'bench-password-1';

/** POSTs JSON and returns the answer's JSON; any status but 2xx throws. */
export async function postJson<T>(url: string, body: unknown, token?: string): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

/** A pairing code from the benchmark owner. */
export async function pairingCode(server: ServeProcess): Promise<string> {
  const { token } = await postJson<{ token: string }>(`${server.url}/api/auth/login`, {
    email: BENCH_EMAIL,
    password: BENCH_PASSWORD,
  });
  return (await postJson<{ code: string }>(`${server.url}/api/pairing-codes`, {}, token)).code;
}

/** A customer as a till creates it: the rows every device benchmark syncs, Tillsync and its peer alike. */
export interface BenchCustomer {
  readonly id: string;
  readonly name: string;
  readonly phone: string;
  readonly email: string;
}

/** `count` customers, their ids from `newId` (UUIDv7 in creation order unless told). */
export function makeCustomers(count: number, newId: () => string = uuidv7): BenchCustomer[] {
  return Array.from({ length: count }, (_, index) => ({
    id: newId(),
    name: `Customer ${index}`,
    phone: `+44 20 7946 ${String(index % 10000).padStart(4, '0')}`,
    email: `customer${index}@example.com`,
  }));
}

/** A device paired over HTTP directly, for seeding and for reading what the server sends. */
export async function pairedDeviceToken(server: ServeProcess, name: string): Promise<string> {
  const device = await postJson<{ accessToken: string }>(`${server.url}/api/devices/pair`, {
    code: await pairingCode(server),
    name,
    platform: 'bench',
  });
  return device.accessToken;
}

/**
 * The upserts of `customers`, the first being customer number `first` of its set: stamped `ms`, each with a
 * counter of its own (a new node every 65,535), as a device that had them would push them.
 */
export function customerChanges(customers: readonly BenchCustomer[], first: number, ms: number): Change[] {
  return customers.map((customer, offset) => ({
    table: 'customers',
    id: customer.id,
    op: 'upsert',
    updatedAt: formatStamp({
      ms,
      counter: (first + offset) % 0xffff,
      nodeId: `seed${Math.floor((first + offset) / 0xffff)}`,
    }),
    values: { name: customer.name, phone: customer.phone, email: customer.email },
  }));
}

/** Puts `customers` on the server, in pushes of 1,000, as a device that already had them would. */
export async function seedCustomers(
  server: ServeProcess,
  customers: readonly BenchCustomer[],
): Promise<void> {
  await pushChanges(
    server,
    await pairedDeviceToken(server, 'seeder'),
    customerChanges(customers, 0, Date.now() - 60_000),
  );
}

/** Pushes `changes` in their order, in pushes of 1,000, as device `token`; each must be applied. */
export async function pushChanges(
  server: ServeProcess,
  token: string,
  changes: readonly Change[],
): Promise<void> {
  for (let start = 0; start < changes.length; start += 1000) {
    const answer = await postJson<PushResponse>(
      `${server.url}/api/sync/push`,
      { pushId: uuidv7(), changes: changes.slice(start, start + 1000) },
      token,
    );
    if (answer.results.some((result) => result.status !== 'applied'))
      throw new Error('a seeding push was not applied');
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const CLI = path.resolve(import.meta.dirname, '../../packages/cli/bin/tillsync.js');

/** `tillsync serve` in a process of its own, so a benchmark's device does not share its event loop. */
export interface ServeProcess {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startServeProcess(
  dbArgs: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<ServeProcess> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', ...dbArgs, '--port', '0'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`tillsync serve exited ${code}`)));
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

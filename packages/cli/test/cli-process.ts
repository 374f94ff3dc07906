import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';

/**
 * The built `tillsync` command (run `npx tsc -b` first) as the tests run it: in a child process, with none
 * of the machine's TILLSYNC_* settings.
 */

export const ROOT = path.resolve(import.meta.dirname, '../../..');
export const CLI = path.join(ROOT, 'packages/cli/bin/tillsync.js');

/** How a command ended: its exit code (null when it was killed) and what it printed. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Where a command runs, what it is given beside a clean environment, and how long it may take. */
export interface CliOptions {
  readonly cwd?: string;
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
}

/** A folder removed when the test ends. */
export function tempDir(prefix = 'tillsync-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** This process's environment without any TILLSYNC_* setting, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('TILLSYNC_')),
  );
  return { ...env, ...extra };
}

/** Runs `tillsync ARGS` to its end. */
export function tillsync(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: options.cwd ?? os.tmpdir(), env: cleanEnv(options.env), timeout: options.timeoutMs ?? 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A long-running `tillsync` command (serve, device, worker) that printed its ready line. */
export interface RunningCli {
  /** The match of the ready line. */
  readonly ready: RegExpExecArray;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Sends `signal` (SIGTERM by default) and answers the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `tillsync ARGS` and waits until its stdout matches `ready`; it is killed when the test ends if it
 * is still running. Fails with the end of its stderr if it exits first.
 */
export async function startCli(
  args: readonly string[],
  ready: RegExp,
  options: Omit<CliOptions, 'timeoutMs'> = {},
): Promise<RunningCli> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? os.tmpdir(),
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const found = ready.exec(stdout);
      if (found) resolve(found);
    });
    void exited.then((code) =>
      reject(
        new Error(`tillsync ${args[0] ?? ''} exited ${code} before it was ready: ${stderr.slice(-800)}`),
      ),
    );
  });
  return {
    ready: match,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      child.kill(signal);
      return exited;
    },
  };
}

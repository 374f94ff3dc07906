import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI, cleanEnv, tempDir } from './cli-process.js';

/**
 * The quick commands (`status`, `sync`, `pair`, `--help`) load only what they use: none of the server's
 * modules (Fastify, Kysely, pg, BullMQ, PGlite) and not the device agent's local API. Each runs in a child
 * process whose module loads are written to a file: ES modules by a resolve hook, CommonJS ones (most of
 * those libraries) from `require.cache` at exit.
 */

const HOOKS = `
import fs from 'node:fs';
let out;
export function initialize(data) { out = data.file; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  fs.appendFileSync(out, resolved.url + '\\n');
  return resolved;
}
`;

const TRACE = (hooksUrl: string): string => `
import fs from 'node:fs';
import { createRequire, register } from 'node:module';
const file = process.env.MODULE_TRACE_FILE;
register(${JSON.stringify(hooksUrl)}, { data: { file } });
const require = createRequire(import.meta.url);
process.on('exit', () => {
  fs.appendFileSync(file, Object.keys(require.cache).map((name) => name + '\\n').join(''));
});
`;

/** What must not load: the server's libraries, the server's own code, and the device agent. */
const HEAVY = [
  /node_modules\/fastify\//,
  /node_modules\/kysely\//,
  /node_modules\/pg\//,
  /node_modules\/bullmq\//,
  /node_modules\/ioredis\//,
  /node_modules\/@electric-sql\/pglite\//,
  /packages\/server\/dist\/(?!storage\/postgres\/pglite-url\.js)/,
  /packages\/cli\/dist\/device-agent\.js/,
];

/** Runs `tillsync ARGS` and returns the files it loaded (its exit code does not matter here). */
async function loadedBy(args: readonly string[]): Promise<string[]> {
  const dir = tempDir('tillsync-modules-');
  const hooks = path.join(dir, 'hooks.mjs');
  const trace = path.join(dir, 'trace.mjs');
  const file = path.join(dir, 'loaded.txt');
  fs.writeFileSync(hooks, HOOKS);
  fs.writeFileSync(trace, TRACE(pathToFileURL(hooks).href));
  await new Promise<void>((resolve) => {
    execFile(
      process.execPath,
      ['--import', pathToFileURL(trace).href, CLI, ...args],
      { cwd: dir, env: cleanEnv({ MODULE_TRACE_FILE: file }), timeout: 60_000 },
      () => resolve(),
    );
  });
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

const heavyIn = (loaded: readonly string[]): string[] =>
  loaded.filter((name) => HEAVY.some((pattern) => pattern.test(name)));

describe('quick commands', () => {
  it('tillsync status loads the device code it reads the file with, and nothing of the server', async () => {
    const db = path.join(tempDir(), 'device.db');
    fs.writeFileSync(db, '');
    const loaded = await loadedBy(['status', '--db', db]);
    // The trace sees both kinds of module: the client's ES modules and better-sqlite3 (CommonJS).
    expect(loaded.some((name) => name.includes('packages/client/dist/'))).toBe(true);
    expect(loaded.some((name) => name.includes('node_modules/better-sqlite3/'))).toBe(true);
    expect(heavyIn(loaded)).toEqual([]);
  });

  it('tillsync status on a device file that is set up loads neither the sync nor the protocol schemas', async () => {
    const db = path.join(tempDir(), 'device.db');
    fs.writeFileSync(db, '');
    await loadedBy(['status', '--db', db]);
    // The file is set up now (the first status went the long way): this one reads it over a bare connection.
    const loaded = await loadedBy(['status', '--db', db]);
    expect(loaded.some((name) => name.includes('packages/client/dist/quick-status.js'))).toBe(true);
    expect(
      loaded.filter(
        (name) =>
          name.includes('node_modules/@sinclair/typebox/') ||
          name.includes('packages/protocol/dist/index.js') ||
          name.includes('packages/client/dist/index.js'),
      ),
    ).toEqual([]);
    expect(heavyIn(loaded)).toEqual([]);
  });

  it('tillsync sync and pair load nothing of the server', async () => {
    const dir = tempDir();
    const db = path.join(dir, 'device.db');
    fs.writeFileSync(db, '');
    // An unpaired file (sync refuses it) and a server that is not there (pair fails): each ran its action.
    const sync = await loadedBy(['sync', '--db', db]);
    const pair = await loadedBy(['pair', '--server', 'http://127.0.0.1:9', '--db', db, '--code', 'X']);
    expect(sync.some((name) => name.includes('packages/client/dist/'))).toBe(true);
    expect(heavyIn(sync)).toEqual([]);
    expect(heavyIn(pair)).toEqual([]);
  });

  it('tillsync --help, sync --help and pair --help load neither the client nor the server', async () => {
    for (const args of [['--help'], ['sync', '--help'], ['pair', '--help']]) {
      const loaded = await loadedBy(args);
      expect(loaded.some((name) => name.includes('node_modules/commander/'))).toBe(true);
      expect(loaded.filter((name) => name.includes('packages/client/dist/'))).toEqual([]);
      expect(loaded.filter((name) => name.includes('node_modules/@sinclair/typebox/'))).toEqual([]);
      expect(heavyIn(loaded)).toEqual([]);
    }
  });
});

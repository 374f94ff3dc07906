import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PROTOCOL_VERSION } from '@tillsync/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startCli, tempDir, tillsync, type CliRun } from './cli-process.js';

const READY = /^tillsync serve: listening on (http:\/\/127\.0\.0\.1:(\d+))$/m;

/** `tillsync serve ARGS` running until the test ends: its URL once its ready line is printed. */
async function serve(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<{ url: string; port: number; stdout: () => string; stop(): Promise<number | null> }> {
  const server = await startCli(['serve', ...args], READY, options);
  return {
    url: server.ready[1] ?? '',
    port: Number(server.ready[2]),
    stdout: server.stdout,
    stop: () => server.stop(),
  };
}

async function call(
  url: string,
  method: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** One line on stderr: what a user reads when a command was called wrongly. */
function expectOneLine(run: CliRun): string {
  const lines = run.stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines, run.stderr).toHaveLength(1);
  return lines[0] ?? '';
}

/** The commands a help text lists, without `help` itself. */
function listedCommands(help: string): string[] {
  const section = help.split(/^Commands:$/m)[1] ?? '';
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)]
    .map((match) => match[1] ?? '')
    .filter((name) => name !== 'help');
}

const SCHEMA = {
  version: 2,
  tables: {
    notes: {
      columns: { title: { type: 'text', required: true }, likes: { type: 'integer', merge: 'counter' } },
    },
  },
};

describe('tillsync serve and admin', () => {
  beforeAll(() => {
    try {
      execFileSync('npx', ['tsc', '-b'], { cwd: ROOT, stdio: 'pipe' });
    } catch (error) {
      const output = error as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`npx tsc -b failed:\n${String(output.stdout)}${String(output.stderr)}`);
    }
  }, 120_000);

  it('prints its real URL when ready on port 0, serves the schema file it was given, and stops on SIGTERM', async () => {
    const dir = tempDir();
    const schemaFile = path.join(dir, 'schema.json');
    fs.writeFileSync(schemaFile, JSON.stringify(SCHEMA));
    const server = await serve(['--db', path.join(dir, 'cloud.db'), '--port', '0', '--schema', schemaFile], {
      cwd: dir,
      env: {
        TILLSYNC_ADMIN_EMAIL: 'owner@shop.test',
        TILLSYNC_ADMIN_PASSWORD: 'correct horse battery',
        TILLSYNC_ACCESS_TOKEN_TTL: '120',
      },
    });
    expect(server.port).toBeGreaterThan(0);
    expect(server.stdout().trim().split('\n')).toHaveLength(1);
    const health = await call(`${server.url}/api/sync/health`, 'GET');
    expect(health).toMatchObject({ status: 200, body: { ok: true, protocol: PROTOCOL_VERSION } });

    // The owner from the environment, a device with a token living TILLSYNC_ACCESS_TOKEN_TTL seconds.
    const owner = await call(`${server.url}/api/auth/login`, 'POST', {
      email: 'owner@shop.test',
      password: 'correct horse battery',
    });
    expect(owner.status).toBe(200);
    const code = await call(`${server.url}/api/pairing-codes`, 'POST', {}, String(owner.body.token));
    const paired = await call(`${server.url}/api/devices/pair`, 'POST', {
      code: code.body.code,
      name: 'Till',
    });
    expect(paired.status).toBe(201);
    const lifetime = Date.parse(String(paired.body.accessTokenExpiresAt)) - Date.now();
    expect(lifetime).toBeGreaterThan(110_000);
    expect(lifetime).toBeLessThanOrEqual(120_000);

    const token = String(paired.body.accessToken);
    expect(await call(`${server.url}/api/sync/schema`, 'GET', undefined, token)).toEqual({
      status: 200,
      body: SCHEMA,
    });
    const pushed = await call(
      `${server.url}/api/sync/push`,
      'POST',
      {
        pushId: randomUUID(),
        changes: [
          {
            table: 'notes',
            id: randomUUID(),
            op: 'upsert',
            updatedAt: `${new Date().toISOString()}-0000-t`,
            values: { title: 'Hi', likes: 1 },
          },
          {
            table: 'products',
            id: randomUUID(),
            op: 'delete',
            updatedAt: `${new Date().toISOString()}-0001-t`,
          },
        ],
      },
      token,
    );
    expect(pushed.body.results).toMatchObject([
      { status: 'applied' },
      { status: 'rejected', error: { code: 'UNKNOWN_TABLE' } },
    ]);

    expect(await server.stop()).toBe(0);
  });

  it('creates a tenant and a pairing code in the database of a running server, and the code pairs over HTTP', async () => {
    const dir = tempDir();
    const db = path.join(dir, 'cloud.db');
    const server = await serve(['--db', db, '--port', '0'], { cwd: dir });

    const created = await tillsync(
      [
        'admin',
        'create-tenant',
        '--db',
        db,
        '--name',
        'Corner shop',
        '--email',
        'Me@Shop.test',
        '--password',
        'a long password',
      ],
      { cwd: dir },
    );
    expect(created, created.stderr).toMatchObject({ code: 0 });
    const tenant = JSON.parse(created.stdout) as { tenantId: string; ownerId: string; email: string };
    expect(tenant).toMatchObject({ tenantId: expect.any(String), email: 'me@shop.test' });

    const pairing = await tillsync(['admin', 'pairing-code', '--db', db, '--tenant', tenant.tenantId], {
      cwd: dir,
    });
    expect(pairing, pairing.stderr).toMatchObject({ code: 0 });
    const { code, expiresAt } = JSON.parse(pairing.stdout) as { code: string; expiresAt: string };
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(14 * 60 * 1000);

    const paired = await call(`${server.url}/api/devices/pair`, 'POST', {
      code,
      name: 'Till 1',
      platform: 'linux',
    });
    expect(paired).toMatchObject({ status: 201, body: { tenantId: tenant.tenantId } });
    const again = await call(`${server.url}/api/devices/pair`, 'POST', { code, name: 'Till 2' });
    expect(again).toMatchObject({ status: 400, body: { error: { code: 'INVALID_CODE' } } });
    const owner = await call(`${server.url}/api/auth/login`, 'POST', {
      email: 'me@shop.test',
      password: 'a long password',
    });
    expect(owner).toMatchObject({ status: 200, body: { tenantId: tenant.tenantId } });

    // A tenant that is not there, and an owner that is there already: exit 2 with one line.
    const noTenant = await tillsync(['admin', 'pairing-code', '--db', db, '--tenant', randomUUID()], {
      cwd: dir,
    });
    expect(noTenant.code).toBe(2);
    expect(expectOneLine(noTenant)).toMatch(/tenant/);
    const duplicate = await tillsync(
      [
        'admin',
        'create-tenant',
        '--db',
        db,
        '--name',
        'Copy',
        '--email',
        'me@shop.test',
        '--password',
        'a long password',
      ],
      { cwd: dir },
    );
    expect(duplicate.code).toBe(2);
    expect(expectOneLine(duplicate)).toContain('me@shop.test');

    expect(await server.stop()).toBe(0);
  });

  it('serves from a PGlite folder, one process at a time, keeping its data across restarts and its pairing limit', async () => {
    const dir = tempDir();
    const databaseUrl = `pglite:${path.join(dir, 'pg')}`;
    const env = { TILLSYNC_ADMIN_EMAIL: 'me@shop.test', TILLSYNC_ADMIN_PASSWORD: 'a long password' };
    const args = ['--database-url', databaseUrl, '--port', '0', '--pair-rate-limit', '2/3600'];
    let server = await serve(args, { cwd: dir, env });
    const owner = await call(`${server.url}/api/auth/login`, 'POST', {
      email: 'me@shop.test',
      password: 'a long password',
    });
    const ownerToken = String(owner.body.token);
    const pairOne = async (): Promise<{ status: number; body: Record<string, unknown> }> => {
      const { body } = await call(`${server.url}/api/pairing-codes`, 'POST', {}, ownerToken);
      return call(`${server.url}/api/devices/pair`, 'POST', { code: body.code, name: 'Till' });
    };
    const first = await pairOne();
    expect(first.status).toBe(201);
    expect((await pairOne()).status).toBe(201);
    expect(await pairOne()).toMatchObject({ status: 429, body: { error: { code: 'RATE_LIMITED' } } });
    const deviceToken = String(first.body.accessToken);
    const categoryId = randomUUID();
    const pushed = await call(
      `${server.url}/api/sync/push`,
      'POST',
      {
        pushId: randomUUID(),
        changes: [
          {
            table: 'categories',
            id: categoryId,
            op: 'upsert',
            updatedAt: `${new Date().toISOString()}-0000-till1`,
            values: { name: 'Fruit' },
          },
        ],
      },
      deviceToken,
    );
    expect(pushed).toMatchObject({ status: 200, body: { results: [{ status: 'applied' }] } });

    // PGlite serves one process: a second one on the same folder is refused while the server runs.
    const second = await tillsync(
      ['admin', 'pairing-code', '--database-url', databaseUrl, '--tenant', String(owner.body.tenantId)],
      { cwd: dir },
    );
    expect(second.code).toBe(2);
    expect(expectOneLine(second)).toMatch(/is open in process \d+/);

    expect(await server.stop()).toBe(0);
    server = await serve(args, { cwd: dir, env });
    const pulled = await call(`${server.url}/api/sync/pull`, 'GET', undefined, deviceToken);
    expect(pulled.body.changes).toMatchObject([
      { table: 'categories', id: categoryId, values: { name: 'Fruit' } },
    ]);
    expect(await server.stop()).toBe(0);
  }, 240_000);

  it('answers --help on every command with exit 0', async () => {
    const top = await tillsync(['--help']);
    expect(top.code).toBe(0);
    const commands = listedCommands(top.stdout);
    expect(commands).toEqual(expect.arrayContaining(['serve', 'admin']));
    const nested = await Promise.all(
      commands.map(async (name) => {
        const run = await tillsync([name, '--help']);
        expect({ name, code: run.code }).toEqual({ name, code: 0 });
        expect(run.stdout).toContain(`Usage: tillsync ${name}`);
        return listedCommands(run.stdout).map((child) => [name, child]);
      }),
    );
    const subcommands = nested.flat();
    expect(subcommands).toEqual(
      expect.arrayContaining([
        ['admin', 'create-tenant'],
        ['admin', 'pairing-code'],
      ]),
    );
    await Promise.all(
      subcommands.map(async (names) => {
        const run = await tillsync([...names, '--help']);
        expect({ names, code: run.code }).toEqual({ names, code: 0 });
        expect(run.stdout).toContain(`Usage: tillsync ${names.join(' ')}`);
      }),
    );
  });

  it('exits 2 with one line on stderr for an unknown flag, a missing file or a bad value', async () => {
    const dir = tempDir();
    const db = path.join(dir, 'cloud.db');
    const runs = await Promise.all([
      tillsync(['serve', '--db', db, '--bogus']),
      tillsync([
        'admin',
        'create-tenant',
        '--db',
        db,
        '--name',
        'x',
        '--email',
        'a@b.c',
        '--password',
        'long enough!',
        '--bogus',
      ]),
      tillsync(['serve', '--db', db, '--port', '0', '--schema', path.join(dir, 'missing.json')]),
      tillsync(['serve', '--db', db, '--port', 'eighty']),
      tillsync(['admin', 'pairing-code', '--db', path.join(dir, 'missing.db'), '--tenant', 't']),
    ]);
    const lines = runs.map((run) => {
      expect(run.code, run.stderr).toBe(2);
      return expectOneLine(run);
    });
    expect(lines[0]).toContain('--bogus');
    expect(lines[1]).toContain('--bogus');
    expect(lines[2]).toContain('missing.json');
    expect(lines[3]).toContain('--port');
    expect(lines[4]).toContain('missing.db');
    // Nothing was started or created by a wrong call.
    expect(fs.existsSync(path.join(dir, 'missing.db'))).toBe(false);
  });

  it('refuses an invalid schema file, naming the table and the column', async () => {
    const dir = tempDir();
    const invalid = path.join(dir, 'invalid.json');
    fs.writeFileSync(
      invalid,
      JSON.stringify({
        version: 1,
        tables: { items: { columns: { stock: { type: 'text', merge: 'counter' } } } },
      }),
    );
    const broken = path.join(dir, 'broken.json');
    fs.writeFileSync(broken, '{"version": 1, "tables": {');
    const [badSchema, badJson] = await Promise.all([
      tillsync(['serve', '--db', path.join(dir, 'cloud.db'), '--port', '0', '--schema', invalid]),
      tillsync(['serve', '--db', path.join(dir, 'cloud.db'), '--port', '0', '--schema', broken]),
    ]);
    expect(badSchema.code).toBe(2);
    expect(expectOneLine(badSchema)).toMatch(/items\.stock.*counter/);
    expect(badJson.code).toBe(2);
    expect(expectOneLine(badJson)).toContain('broken.json');
  });
});

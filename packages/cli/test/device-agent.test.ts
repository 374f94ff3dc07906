import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startDeviceAgent, type DeviceAgent, type DeviceAgentOptions } from '../src/device-agent.js';
import { ROOT, startCli, tempDir, tillsync } from './cli-process.js';
import { startCloud, type Cloud } from './cloud-fixture.js';

/**
 * `tillsync device`: the agent's local API over real HTTP, on a real server; and the built command in a
 * child process (run `npx tsc -b` first; `npm test` does).
 */

const READY = /^tillsync device: listening on (http:\/\/127\.0\.0\.1:\d+)$/m;

async function agentOn(
  cloud: Cloud,
  dir: string,
  options: Partial<DeviceAgentOptions> = {},
): Promise<DeviceAgent> {
  const agent = await startDeviceAgent({
    dbPath: path.join(dir, `${uuidv7()}.db`),
    serverUrl: cloud.url,
    port: 0,
    ...options,
  });
  onTestFinished(() => agent.close());
  return agent;
}

async function api(
  base: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(base + route, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A request with headers fetch will not send as given (Host, Origin). */
function rawRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** Reads server-sent events from the agent until `done` says enough (at most 5 s). */
async function readEvents(
  url: string,
  done: (events: Array<{ event: string; data: Record<string, unknown> }>) => boolean,
  whileOpen: () => Promise<unknown> = () => Promise.resolve(),
): Promise<Array<{ event: string; data: Record<string, unknown> }>> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5000);
  const response = await fetch(url, { signal: controller.signal });
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const events: Array<{ event: string; data: Record<string, unknown> }> = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let started = false;
  try {
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += value;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
      }
      if (!started && events.length > 0) {
        started = true;
        void whileOpen();
      }
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the condition');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the local API', () => {
  it('shows the status and the log, and starts, stops, forces a sync and a pull', async () => {
    const dir = tempDir('tillsync-agent-');
    const cloud = await startCloud(dir);
    const agent = await agentOn(cloud, dir, { pairCode: await cloud.pairingCode(), name: 'Till 1' });
    await agent.worker.idle();

    const status = await api(agent.url, 'GET', '/api/status');
    expect(status).toMatchObject({
      status: 200,
      body: { state: 'synced', running: true, pendingChanges: 0 },
    });
    expect(status.body.text).toMatch(/^Synced (just now|\ds ago)$/);
    expect((await api(agent.url, 'GET', '/api/device')).body).toMatchObject({
      paired: true,
      name: 'Till 1',
      serverUrl: cloud.url,
      intervalMs: 30_000,
    });

    agent.client.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Ada')").run(uuidv7());
    expect(await api(agent.url, 'POST', '/api/sync')).toMatchObject({
      status: 200,
      body: { ok: true, trigger: 'force', pushed: 1, rejected: 0, error: null },
    });
    agent.client.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Local only')").run(uuidv7());
    expect(await api(agent.url, 'POST', '/api/pull', { discardLocal: true })).toMatchObject({
      status: 200,
      body: { ok: true, trigger: 'force-pull', pushed: 0 },
    });
    expect(agent.client.status.pendingChanges).toBe(0);

    const log = (await api(agent.url, 'GET', '/api/log')).body.entries as Array<Record<string, unknown>>;
    expect(log.map((entry) => [entry.trigger, entry.mode, entry.ok])).toEqual([
      ['force-pull', 'discard-local', true],
      ['force', 'sync', true],
      ['startup', 'sync', true],
    ]);
    expect((await api(agent.url, 'GET', '/api/log?limit=1')).body.entries).toHaveLength(1);
    expect(log[0]).toMatchObject({ conflicts: 0, conflictRows: [] });
    expect((await api(agent.url, 'GET', '/api/lost-edits')).body).toEqual({ edits: [] });

    expect((await api(agent.url, 'POST', '/api/worker/stop')).body).toMatchObject({
      state: 'stopped',
      running: false,
      nextSyncAt: null,
      text: 'Sync stopped',
    });
    const started = await api(agent.url, 'POST', '/api/worker/start');
    expect(started.body).toMatchObject({ running: true });
    await agent.worker.idle();
    expect((await api(agent.url, 'GET', '/api/log?limit=1')).body.entries).toMatchObject([
      { trigger: 'startup' },
    ]);

    await cloud.stop();
    const offline = await api(agent.url, 'POST', '/api/sync');
    expect(offline.body).toMatchObject({ ok: false, error: expect.stringContaining('cannot be reached') });
    const text = (await api(agent.url, 'GET', '/api/status')).body.text as string;
    expect(text).toMatch(/^Offline · last sync (just now|\ds ago)$/);
  });

  it('streams the status and each cycle as server-sent events', async () => {
    const dir = tempDir('tillsync-agent-');
    const cloud = await startCloud(dir);
    const agent = await agentOn(cloud, dir, { pairCode: await cloud.pairingCode() });
    await agent.worker.idle();
    const events = await readEvents(
      `${agent.url}/api/status/events`,
      (seen) => seen.some((event) => event.event === 'cycle') && seen.at(-1)?.data.state === 'synced',
      () => api(agent.url, 'POST', '/api/sync'),
    );
    expect(events[0]).toMatchObject({ event: 'status', data: { state: 'synced', running: true } });
    expect(events.map((event) => (event.event === 'status' ? event.data.state : event.event))).toEqual([
      'synced',
      'syncing',
      'cycle',
      'synced',
    ]);
    expect(events[2]?.data).toMatchObject({ trigger: 'force', ok: true });
  });

  it('pairs an unpaired device, which then syncs and shows edits from another device live', async () => {
    const dir = tempDir('tillsync-agent-');
    const cloud = await startCloud(dir);
    const fresh = await agentOn(cloud, dir);
    expect((await api(fresh.url, 'GET', '/api/status')).body).toMatchObject({
      state: 'unpaired',
      text: 'Not paired',
    });
    expect(await api(fresh.url, 'POST', '/api/sync')).toMatchObject({
      status: 409,
      body: { error: { code: 'NOT_PAIRED' } },
    });
    const refused = await api(fresh.url, 'POST', '/api/pair', { code: 'NOPE-NOPE' });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
    expect(refused.body.error).toMatchObject({ code: expect.stringMatching(/^[A-Z_]+$/) });

    const paired = await api(fresh.url, 'POST', '/api/pair', {
      code: await cloud.pairingCode(),
      name: 'Tablet',
    });
    expect(paired).toMatchObject({
      status: 200,
      body: { deviceId: expect.any(String), tenantId: expect.any(String) },
    });
    await fresh.worker.idle();
    await until(() => fresh.worker.status.live);
    expect((await api(fresh.url, 'GET', '/api/status')).body).toMatchObject({
      state: 'synced',
      running: true,
    });

    const other = await agentOn(cloud, dir, { pairCode: await cloud.pairingCode() });
    await other.worker.idle();
    const id = uuidv7();
    other.client.database.prepare("INSERT INTO customers (id, name) VALUES (?, 'Live')").run(id);
    await api(other.url, 'POST', '/api/sync');
    await until(
      () => fresh.client.database.prepare('SELECT 1 FROM customers WHERE id = ?').get(id) !== undefined,
    );
    const log = (await api(fresh.url, 'GET', '/api/log?limit=1')).body.entries as Array<
      Record<string, unknown>
    >;
    expect(log[0]).toMatchObject({ trigger: 'live', pulled: 1 });
  });

  it('pushes soon after a write by any program: a sale shows on the other device with nothing pressed', async () => {
    const dir = tempDir('tillsync-agent-');
    const cloud = await startCloud(dir);
    const selling = await agentOn(cloud, dir, { pairCode: await cloud.pairingCode() });
    const other = await agentOn(cloud, dir, { pairCode: await cloud.pairingCode() });
    await Promise.all([selling.worker.idle(), other.worker.idle()]);
    await until(() => selling.worker.status.live && other.worker.status.live);
    const onOther = (id: string) => () =>
      other.client.database.prepare('SELECT 1 FROM customers WHERE id = ?').get(id) !== undefined;

    // Another program (the POS) writes the file with plain SQL on its own connection.
    const pos = new Database(selling.client.database.name);
    onTestFinished(() => {
      pos.close();
    });
    const byPos = uuidv7();
    pos.prepare("INSERT INTO customers (id, name) VALUES (?, 'From the POS')").run(byPos);
    await until(onOther(byPos));

    // The agent's own connection (the till page's routes write through it).
    const byPage = uuidv7();
    selling.client.database
      .prepare("INSERT INTO customers (id, name) VALUES (?, 'From the page')")
      .run(byPage);
    await until(onOther(byPage));

    const triggers = selling.client.syncLog(10).map((entry) => entry.trigger);
    expect(triggers).toContain('write');
    expect(triggers).not.toContain('force');
  });

  it('answers bad requests with a clear error, and only to its own host and origin', async () => {
    const dir = tempDir('tillsync-agent-');
    const cloud = await startCloud(dir);
    const agent = await agentOn(cloud, dir, { pairCode: await cloud.pairingCode() });
    const bad = async (method: string, route: string, body?: string): Promise<[number, unknown]> => {
      const response = await fetch(agent.url + route, { method, ...(body === undefined ? {} : { body }) });
      const answer = (await response.json()) as { error: { code: string; message: string } };
      expect(answer.error.message.length).toBeGreaterThan(10);
      return [response.status, answer.error.code];
    };
    expect(await bad('GET', '/api/nothing')).toEqual([404, 'NOT_FOUND']);
    expect(await bad('GET', '/api/sync')).toEqual([405, 'METHOD_NOT_ALLOWED']);
    expect(await bad('DELETE', '/api/status')).toEqual([405, 'METHOD_NOT_ALLOWED']);
    expect(await bad('POST', '/api/pull', '{"discardLocal":')).toEqual([400, 'INVALID_REQUEST']);
    expect(await bad('POST', '/api/pull', '{"discardLocal":"yes"}')).toEqual([400, 'INVALID_REQUEST']);
    expect(await bad('POST', '/api/pull', '{"everything":true}')).toEqual([400, 'INVALID_REQUEST']);
    expect(await bad('POST', '/api/pull', '[1]')).toEqual([400, 'INVALID_REQUEST']);
    expect(await bad('POST', '/api/pair', '{"code":""}')).toEqual([400, 'INVALID_REQUEST']);
    expect(await bad('POST', '/api/pair', '{"code":"A","serverUrl":"ftp://x"}')).toEqual([
      400,
      'INVALID_REQUEST',
    ]);
    expect(await bad('GET', '/api/log?limit=500')).toEqual([400, 'INVALID_REQUEST']);
    expect(await bad('GET', '/api/lost-edits?limit=501')).toEqual([400, 'INVALID_REQUEST']);
    expect(await bad('GET', '/api/lost-edits?limit=many')).toEqual([400, 'INVALID_REQUEST']);

    const rebound = await rawRequest(`${agent.url}/api/status`, 'GET', { host: 'till.attacker.test' });
    expect(rebound.status).toBe(403);
    const crossSite = await rawRequest(`${agent.url}/api/worker/stop`, 'POST', {
      origin: 'https://attacker.test',
    });
    expect(crossSite.status).toBe(403);
    expect(agent.worker.running).toBe(true);
    const ownPage = await rawRequest(`${agent.url}/api/status`, 'GET', { origin: agent.url });
    expect(ownPage.status).toBe(200);
  });

  it('refuses bodies its schemas refuse with the field at fault, and serves itself as OpenAPI', async () => {
    const dir = tempDir('tillsync-agent-');
    const cloud = await startCloud(dir);
    const agent = await agentOn(cloud, dir);
    const message = async (route: string, body: string): Promise<string> => {
      const response = await fetch(agent.url + route, { method: 'POST', body });
      expect(response.status).toBe(400);
      return ((await response.json()) as { error: { message: string } }).error.message;
    };
    expect(await message('/api/pull', '[1]')).toBe('the body must be a JSON object');
    expect(await message('/api/pull', '{"everything":true}')).toBe(
      'unknown field "everything"; expected discardLocal',
    );
    expect(await message('/api/pull', '{"discardLocal":"yes"}')).toBe('"discardLocal" must be a boolean');
    const noCode = 'give the pairing code from the owner\'s dashboard as "code"';
    expect(await message('/api/pair', '{}')).toBe(noCode);
    expect(await message('/api/pair', '{"code":null}')).toBe(noCode);
    expect(await message('/api/pair', '{"code":"  "}')).toBe(noCode);
    expect(await message('/api/pair', '{"code":7}')).toBe('"code" must be a string');
    expect(await message('/api/pair', '{"code":"A","name":" "}')).toBe('"name" must be 1 to 100 characters');
    expect(await message('/api/pair', `{"code":"A","name":"${'n'.repeat(101)}"}`)).toBe(
      '"name" must be 1 to 100 characters',
    );

    const document = (await api(agent.url, 'GET', '/api/openapi.json')).body as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/api/status', '/api/log', '/api/pair', '/api/pull', '/api/rows/{table}/{id}']),
    );
    expect(document.paths['/api/pair']?.post).toMatchObject({
      requestBody: { content: { 'application/json': { schema: { required: ['code'] } } } },
    });
  });
});

interface Child {
  readonly url: string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `tillsync device ARGS` in a child process, once it printed its ready line. */
async function device(args: readonly string[]): Promise<Child> {
  const agent = await startCli(['device', ...args], READY);
  return { url: agent.ready[1] ?? '', stop: (signal) => agent.stop(signal) };
}

describe('tillsync device', () => {
  beforeAll(() => {
    if (!fs.existsSync(path.join(ROOT, 'packages/cli/dist/device-agent.js'))) {
      throw new Error('the CLI is not built: run `npx tsc -b` first');
    }
  });

  it('pairs, prints its URL when ready, exits 0 on SIGTERM, and keeps its log across a restart', async () => {
    const dir = tempDir('tillsync-agent-');
    const cloud = await startCloud(dir);
    const dbPath = path.join(dir, 'till.db');
    const first = await device([
      '--server',
      cloud.url,
      '--db',
      dbPath,
      '--pair',
      await cloud.pairingCode(),
      '--port',
      '0',
    ]);
    await until(async () => (await api(first.url, 'GET', '/api/status')).body.state === 'synced');
    expect((await api(first.url, 'POST', '/api/sync')).body).toMatchObject({ ok: true, trigger: 'force' });
    expect(await first.stop()).toBe(0);

    // Paired already: neither --pair nor --server is needed (it syncs with the server it was paired with).
    const second = await device(['--db', dbPath, '--port', '0', '--interval', '120']);
    await until(async () => (await api(second.url, 'GET', '/api/log')).body.entries instanceof Array);
    await until(
      async () => ((await api(second.url, 'GET', '/api/log')).body.entries as unknown[]).length === 3,
    );
    const log = (await api(second.url, 'GET', '/api/log')).body.entries as Array<Record<string, unknown>>;
    expect(log.map((entry) => entry.trigger)).toEqual(['startup', 'force', 'startup']);
    expect((await api(second.url, 'GET', '/api/device')).body).toMatchObject({ intervalMs: 120_000 });
    const status = (await api(second.url, 'GET', '/api/status')).body;
    expect(Date.parse(status.nextSyncAt as string) - Date.now()).toBeGreaterThan(100_000);
    expect(await second.stop('SIGINT')).toBe(0);
  });

  it('tells on stderr how far a long sync got, and prints its summary alone on stdout', async () => {
    const dir = tempDir('tillsync-agent-');
    const cloud = await startCloud(dir);
    const dbPath = path.join(dir, 'till.db');
    const paired = await tillsync([
      'pair',
      '--server',
      cloud.url,
      '--db',
      dbPath,
      '--code',
      await cloud.pairingCode(),
    ]);
    expect(paired.code, paired.stderr).toBe(0);
    const pos = new Database(dbPath);
    const add = pos.prepare("INSERT INTO customers (id, name) VALUES (?, 'Regular')");
    pos.transaction(() => {
      for (let n = 0; n < 20_000; n++) add.run(uuidv7());
    })();
    pos.close();

    const env = { TILLSYNC_PROGRESS_EVERY_MS: '10' };
    const json = await tillsync(['sync', '--db', dbPath, '--progress', 'json'], { env });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, pushed: 20_000 });
    const reports = json.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { progress?: { pushed: number; pulled: number; elapsedMs: number } })
      .filter((line) => line.progress !== undefined);
    expect(reports.length).toBeGreaterThan(0);
    const pushed = reports.map((line) => line.progress!.pushed);
    expect(pushed).toEqual([...pushed].sort((a, b) => a - b));

    // A second device takes the 20,000 rows: in lines, on stderr only.
    const second = path.join(dir, 'tablet.db');
    await tillsync(['pair', '--server', cloud.url, '--db', second, '--code', await cloud.pairingCode()]);
    const lines = await tillsync(['sync', '--db', second], { env });
    expect(lines.code, lines.stderr).toBe(0);
    expect(JSON.parse(lines.stdout)).toMatchObject({ ok: true, pulled: 20_000 });
    // A first sync: the server's first page said how many rows to expect, so the line gives a share.
    const line = /^tillsync sync: pulled ([\d,]+) of ([\d,]+) rows \((\d+)%\) so far \(\d+ s\)$/m.exec(
      lines.stderr,
    );
    expect(line, lines.stderr).not.toBeNull();
    const [pulledSoFar, expected, percent] = line!.slice(1).map((text) => Number(text.replaceAll(',', '')));
    expect(expected).toBe(20_000);
    expect(percent).toBe(Math.floor((pulledSoFar! * 100) / 20_000));

    const none = await tillsync(['sync', '--db', second, '--progress', 'none'], { env });
    expect(none.stderr).toBe('');
    const bad = await tillsync(['sync', '--db', second, '--progress', 'loud']);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('--progress must be one of') });
  });

  it('refuses wrong flags and bad values with one line and exit code 2, and answers --help', async () => {
    const help = await tillsync(['device', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--server', '--db', '--pair', '--interval', '--port'])
      expect(help.stdout).toContain(flag);
    const wrong = [
      ['device', '--db', 'x.db'],
      ['device', '--server', 'http://127.0.0.1:1'],
      ['device', '--server', 'not a url', '--db', 'x.db'],
      ['device', '--server', 'http://127.0.0.1:1', '--db', 'x.db', '--interval', '0'],
      ['device', '--server', 'http://127.0.0.1:1', '--db', 'x.db', '--port', '70000'],
      ['device', '--server', 'http://127.0.0.1:1', '--db', '/no/such/folder/x.db'],
      ['device', '--server', 'http://127.0.0.1:1', '--db', 'x.db', '--colour'],
    ];
    const results = await Promise.all(wrong.map((args) => tillsync(args)));
    results.forEach((result, index) => {
      const args = wrong[index]?.join(' ');
      expect(result.code, args).toBe(2);
      expect(result.stderr.trim().split('\n'), args).toHaveLength(1);
    });
  });
});

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ConflictList } from '@tillsync/protocol';
import { describe, expect, it } from 'vitest';
import { expectError, expectOk, newId, productValues, request, startTestServer, tempDir } from './helpers.js';

describe('GET /api/conflicts', () => {
  it("answers the owner's overridden writes newest first, with both versions and the devices", async () => {
    const server = await startTestServer();
    const till = await server.pair('till');
    const tablet = await server.pair('tablet');
    const first = newId();
    const second = newId();
    const t0 = server.clock.now();
    await till.push([till.upsert('categories', first, { name: 'Fruit' }, till.stamps.at(t0 - 1000))]);
    await tablet.push([tablet.upsert('categories', first, { name: 'Fruits' }, tablet.stamps.at(t0 - 2000))]);
    server.clock.advance(1000);
    await till.push([till.upsert('customers', second, { name: 'Ada' }, till.stamps.at(t0 - 500))]);
    await tablet.push([tablet.upsert('customers', second, { name: 'Ada B.' }, tablet.stamps.at(t0 - 900))]);

    const all = expectOk(
      await request(server.url, 'GET', '/api/conflicts', { token: server.ownerToken }),
      ConflictList,
    );
    expect(all.map((conflict) => conflict.table)).toEqual(['customers', 'categories']);
    expect(all[1]).toMatchObject({
      table: 'categories',
      id: first,
      winner: { op: 'upsert', values: { name: 'Fruit' }, deviceId: till.deviceId },
      loser: { op: 'upsert', values: { name: 'Fruits' }, deviceId: tablet.deviceId },
    });

    const oneRow = expectOk(
      await request(server.url, 'GET', `/api/conflicts?table=categories&id=${first}&limit=5`, {
        token: server.ownerToken,
      }),
      ConflictList,
    );
    expect(oneRow.map((conflict) => conflict.id)).toEqual([first]);
    const limited = expectOk(
      await request(server.url, 'GET', '/api/conflicts?limit=1', { token: server.ownerToken }),
      ConflictList,
    );
    expect(limited).toHaveLength(1);
  });

  it('answers one conflict per column, with the row named and each column read as the shop reads it', async () => {
    const server = await startTestServer();
    const till = await server.pair('till');
    const tablet = await server.pair('tablet');
    const [fruit, veg, apple] = [newId(), newId(), newId()];
    const t0 = server.clock.now();
    await till.push([
      till.upsert('categories', fruit, { name: 'Fruit' }, till.stamps.at(t0 - 5000)),
      till.upsert('categories', veg, { name: 'Vegetables' }, till.stamps.at(t0 - 5000)),
      till.upsert(
        'products',
        apple,
        productValues({ name: 'Apple', category_id: fruit }),
        till.stamps.at(t0 - 5000),
      ),
    ]);
    const created = till.stamps.at(t0 - 5000);
    // Both edit the product without having seen the other's edit: the tablet's later write wins each column.
    await till.push([
      till.upsert(
        'products',
        apple,
        { price_cents: 150, active: 0, category_id: veg },
        till.stamps.at(t0 - 3000),
      ),
    ]);
    await tablet.push([
      {
        ...tablet.upsert('products', apple, { price_cents: 199, active: 1, category_id: fruit }),
        base: created,
      },
    ]);

    const conflicts = expectOk(
      await request(server.url, 'GET', `/api/conflicts?table=products&id=${apple}`, {
        token: server.ownerToken,
      }),
      ConflictList,
    );
    expect(conflicts.map((conflict) => conflict.column).sort()).toEqual([
      'active',
      'category_id',
      'price_cents',
    ]);
    const byColumn = new Map(conflicts.map((conflict) => [conflict.column, conflict]));
    expect(byColumn.get('price_cents')).toMatchObject({
      rowName: 'Apple',
      display: { price_cents: 'money' },
      winner: { values: { price_cents: 199 }, deviceId: tablet.deviceId },
      loser: { values: { price_cents: 150 }, deviceId: till.deviceId },
    });
    expect(byColumn.get('active')).toMatchObject({ display: { active: 'flag' } });
    expect(byColumn.get('category_id')).toMatchObject({
      display: { category_id: 'reference' },
      names: { [fruit]: 'Fruit', [veg]: 'Vegetables' },
    });
  });

  it("is for owners only, and never shows another tenant's conflicts", async () => {
    const server = await startTestServer();
    const till = await server.pair('till');
    const tablet = await server.pair('tablet');
    const id = newId();
    const t0 = server.clock.now();
    await till.push([till.upsert('categories', id, { name: 'A' }, till.stamps.at(t0 - 100))]);
    await tablet.push([tablet.upsert('categories', id, { name: 'B' }, tablet.stamps.at(t0 - 200))]);

    expectError(await request(server.url, 'GET', '/api/conflicts'), 401, 'UNAUTHORIZED');
    expectError(await till.request('GET', '/api/conflicts'), 403, 'FORBIDDEN');
    expectError(
      await request(server.url, 'GET', '/api/conflicts?limit=lots', { token: server.ownerToken }),
      400,
      'INVALID_REQUEST',
    );
    const other = await server.otherTenantOwner();
    expect(await request(server.url, 'GET', '/api/conflicts', { token: other.token })).toMatchObject({
      status: 200,
      body: [],
    });
  });
});

describe('the dashboard files', () => {
  it('serves the built pages outside /api, with index.html for the app paths and JSON errors in /api', async () => {
    const webRoot = tempDir();
    fs.mkdirSync(path.join(webRoot, 'assets'));
    fs.writeFileSync(path.join(webRoot, 'index.html'), '<!doctype html><title>dashboard</title>');
    fs.writeFileSync(path.join(webRoot, 'assets', 'app-1234.js'), 'console.log(1)');
    const server = await startTestServer({ webRoot });

    const index = await request(server.url, 'GET', '/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(await request(server.url, 'GET', '/jobs/0193-abc')).toMatchObject({
      status: 200,
      body: index.body,
    });

    const script = await request(server.url, 'GET', '/assets/app-1234.js');
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('cache-control')).toContain('immutable');

    expectError(await request(server.url, 'GET', '/assets/missing.js'), 404, 'NOT_FOUND');
    expectError(await request(server.url, 'GET', '/api/nothing-here'), 404, 'NOT_FOUND');
    // A path that climbs out of the folder gets the page, never a file outside it.
    const climbing = await rawGet(server.url, '/../../../../etc/passwd');
    expect(climbing).not.toContain('root:');
    expect(await rawGet(server.url, '/assets/..%2f..%2f..%2fetc%2fpasswd')).not.toContain('root:');
    expectError(await request(server.url, 'POST', '/devices'), 404, 'NOT_FOUND');
  });

  it('answers the API only without a web root', async () => {
    const server = await startTestServer();
    expectError(await request(server.url, 'GET', '/'), 404, 'NOT_FOUND');
  });
});

/** A GET with the path sent exactly as given (fetch would normalise `..` away). */
function rawGet(baseUrl: string, rawPath: string): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const call = http.get({ hostname, port, path: rawPath }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    call.on('error', reject);
  });
}

import fs from 'node:fs';
import path from 'node:path';
import { parseSchema } from '@tillsync/protocol';
import { startServer } from '@tillsync/server';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { tempDir, tillsync } from './cli-process.js';

/**
 * Adopting a database from nothing with the built command (run `npx tsc -b` first): `adopt init` writes the
 * schema and the map, the server runs with that schema, `admin tenants` finds the tenant for a pairing
 * code, and `attach`, `sync` and `status` take it from there.
 */
describe('tillsync adopt init, admin tenants, attach', () => {
  it('adopts a shop database from nothing, with the files adopt init wrote', async () => {
    const dir = tempDir('tillsync-adopt-init-');
    const shop = new Database(path.join(dir, 'shop.db'));
    onTestFinished(() => {
      shop.close();
    });
    shop.exec(`
      CREATE TABLE Artist (ArtistId INTEGER PRIMARY KEY, Name TEXT NOT NULL UNIQUE);
      CREATE TABLE Genre (GenreId INT NOT NULL PRIMARY KEY, Name TEXT);
      CREATE TABLE Album (AlbumId INTEGER PRIMARY KEY, Title TEXT NOT NULL, Price NUMERIC(10,2) NOT NULL,
        Released DATETIME, Cover BLOB, ArtistId INTEGER NOT NULL REFERENCES Artist (ArtistId));
      CREATE TABLE AlbumGenre (AlbumId INTEGER NOT NULL REFERENCES Album, GenreId INT NOT NULL REFERENCES Genre,
        PRIMARY KEY (AlbumId, GenreId));
      CREATE TABLE AuditLog (Message TEXT);
      INSERT INTO Artist VALUES (1, 'AC/DC');
      INSERT INTO Genre VALUES (1, 'Rock');
      INSERT INTO Album VALUES (1, 'Back in Black', 9.99, '1980-07-25 00:00:00', NULL, 1);
      INSERT INTO AlbumGenre VALUES (1, 1);
    `);

    const init = await tillsync(['adopt', 'init', '--legacy', 'shop.db', '--out', 'adopt'], { cwd: dir });
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(JSON.parse(init.stdout)).toEqual({
      schema: path.join('adopt', 'schema.json'),
      map: path.join('adopt', 'map.json'),
      tables: [
        { table: 'album', legacyTable: 'Album', key: 'AlbumId', keys: 'database' },
        { table: 'album_genre', legacyTable: 'AlbumGenre', key: ['AlbumId', 'GenreId'], keys: 'composite' },
        { table: 'artist', legacyTable: 'Artist', key: 'ArtistId', keys: 'database' },
        { table: 'genre', legacyTable: 'Genre', key: 'GenreId', keys: 'max+1' },
      ],
      skipped: [{ table: 'AuditLog', reason: expect.stringMatching(/no primary key/) }],
    });
    const schema = JSON.parse(fs.readFileSync(path.join(dir, 'adopt', 'schema.json'), 'utf8')) as {
      tables: Record<string, { columns: Record<string, unknown> }>;
    };
    expect(schema.tables['album']?.columns).toEqual({
      title: { type: 'text', required: true },
      price_cents: { type: 'integer', required: true },
      released: { type: 'text', format: 'iso-time' },
      artist_id: { type: 'text', required: true, references: 'artist' },
    });
    expect(schema.tables['artist']?.columns['name']).toEqual({ type: 'text', required: true, unique: true });
    const map = JSON.parse(fs.readFileSync(path.join(dir, 'adopt', 'map.json'), 'utf8')) as {
      legacy: unknown;
      notes: string[];
    };
    expect(map.legacy).toEqual({ sqlite: path.join('..', 'shop.db') });
    expect(map.notes).toEqual([
      expect.stringMatching(/^Album\.Cover \(blob\) is left out/),
      expect.stringMatching(/^AuditLog is left out: it has no primary key/),
    ]);
    const twice = await tillsync(['adopt', 'init', '--legacy', 'shop.db', '--out', 'adopt'], { cwd: dir });
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(
      /^tillsync: --out adopt: .*schema\.json is there already; give --force to replace it\n$/,
    );

    // The server with that schema; `admin tenants` finds the tenant a pairing code is made for.
    const server = await startServer({
      dbPath: path.join(dir, 'cloud.db'),
      port: 0,
      host: '127.0.0.1',
      adminEmail: 'owner@shop.test',
      adminPassword: 'correct horse battery staple',
      logger: false,
      schema: parseSchema(schema),
    });
    onTestFinished(() => server.close());
    const tenants = await tillsync(['admin', 'tenants', '--db', 'cloud.db'], { cwd: dir });
    expect(tenants.code).toBe(0);
    const listed = JSON.parse(tenants.stdout) as { tenants: { tenantId: string; owners: string[] }[] };
    expect(listed.tenants).toEqual([
      expect.objectContaining({ owners: ['owner@shop.test'], devices: 0, tenantId: expect.any(String) }),
    ]);
    const code = await tillsync(
      ['admin', 'pairing-code', '--db', 'cloud.db', '--tenant', listed.tenants[0]?.tenantId ?? ''],
      { cwd: dir },
    );
    expect(code.code).toBe(0);
    const paired = await tillsync(
      [
        'pair',
        '--server',
        server.url,
        '--db',
        'till.db',
        '--code',
        (JSON.parse(code.stdout) as { code: string }).code,
      ],
      { cwd: dir },
    );
    expect(paired.code).toBe(0);

    // A map naming a MariaDB database that is not there: which file, which field, which line, what to check.
    fs.writeFileSync(
      path.join(dir, 'wrong.json'),
      JSON.stringify(
        { legacy: { mysql: 'mysql://root@127.0.0.1:3306/tillsync_no_such_db' }, tables: {} },
        null,
        2,
      ),
    );
    const wrong = await tillsync(['attach', '--db', 'till.db', '--map', 'wrong.json'], { cwd: dir });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe(
      'tillsync: --map wrong.json: legacy.mysql (line 3): mysql://127.0.0.1:3306/tillsync_no_such_db: Unknown database \'tillsync_no_such_db\' (check the database name after the last "/" of the URL)\n',
    );

    // A wrong user, a wrong host or port, a SQLite file that is not there: each named with its line and what
    // to check, exit 2.
    const wrongMaps: [string, unknown, RegExp][] = [
      [
        'user.json',
        { mysql: 'mysql://tillsync_no_such_user:x@127.0.0.1:3306/mysql' },
        /^tillsync: --map user\.json: legacy\.mysql \(line 3\): mysql:\/\/127\.0\.0\.1:3306\/mysql: Access denied for user 'tillsync_no_such_user'.*\(check the user and password in the URL\)\n$/,
      ],
      [
        'port.json',
        { mysql: 'mysql://root@127.0.0.1:1/shop' },
        /^tillsync: --map port\.json: legacy\.mysql \(line 3\): mysql:\/\/127\.0\.0\.1:1\/shop: .*\(nothing answers there; check the host and port in the URL, and that MariaDB runs\)\n$/,
      ],
      [
        'file.json',
        { sqlite: 'no-such-shop.db' },
        /^tillsync: --map file\.json: legacy\.sqlite \(line 3\): there is no file .*no-such-shop\.db\n$/,
      ],
    ];
    for (const [name, legacy, message] of wrongMaps) {
      fs.writeFileSync(path.join(dir, name), JSON.stringify({ legacy, tables: {} }, null, 2));
      const refused = await tillsync(['attach', '--db', 'till.db', '--map', name], { cwd: dir });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(message);
    }

    const attached = await tillsync(['attach', '--db', 'till.db', '--map', 'adopt/map.json'], { cwd: dir });
    expect(attached.stderr).toBe('');
    expect(attached.code).toBe(0);
    expect(JSON.parse(attached.stdout)).toMatchObject({ broughtIn: 4, broughtOut: 0 });
    const synced = await tillsync(['sync', '--db', 'till.db'], { cwd: dir });
    expect(JSON.parse(synced.stdout)).toMatchObject({ ok: true, pushed: 4, rejected: 0 });
    const status = await tillsync(['status', '--db', 'till.db'], { cwd: dir });
    expect(JSON.parse(status.stdout)).toMatchObject({
      state: 'synced',
      pendingChanges: 0,
      legacy: { legacy: path.join(dir, 'shop.db'), refused: 0, lastRefusal: null },
    });
  }, 300_000);
});

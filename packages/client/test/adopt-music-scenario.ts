import { parseSchema, pillText } from '@tillsync/protocol';
import { v7 as uuidv7 } from 'uuid';
import { expect } from 'vitest';
import { attachLegacyDatabase, generateAdoptMap, readLegacyStatus, type SyncClient } from '../src/index.js';
import { MUSIC_ROWS, MUSIC_TABLES, type MusicShop } from './adopt-music-shop.js';
import { bridgedWorker } from './adopt-scenario.js';
import { tempFolder } from './helpers.js';
import { startTestServer } from './server-fixture.js';

const SYNCED = [
  'artist',
  'album',
  'genre',
  'media_type',
  'track',
  'playlist',
  'playlist_track',
  'employee',
  'customer',
  'invoice',
  'invoice_line',
] as const;

function count(client: SyncClient, table: string): number {
  return (client.database.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

function idOf(client: SyncClient, table: string, where: string, ...params: unknown[]): string {
  const row = client.database.prepare(`SELECT id FROM ${table} WHERE ${where}`).get(...params) as
    { id: string } | undefined;
  if (!row) throw new Error(`no ${table} row where ${where}`);
  return row.id;
}

/**
 * Adopting a database nobody here wrote, from nothing: `adopt init`'s schema and map as they come (less the
 * program's own review table), a server with that schema, the till with the bridge around its worker's
 * cycles (as the agent runs it), and a second device. The same on every engine.
 */
export async function musicShopStory(shop: MusicShop): Promise<void> {
  // adopt init: every table, its keys, references and money read off the database.
  const folder = tempFolder('tillsync-music-map-');
  const { schema, map, skipped } = await generateAdoptMap({ legacy: shop.legacy, mapFolder: folder });
  expect(skipped).toEqual([]);
  expect(Object.keys(map.tables).sort()).toEqual([...SYNCED, 'track_review'].sort());
  const tables = map.tables;
  expect(tables['playlist_track']).toMatchObject({
    table: 'PlaylistTrack',
    key: ['PlaylistId', 'TrackId'],
    columns: { playlist_id: 'PlaylistId', track_id: 'TrackId' },
  });
  expect(tables['genre']).toMatchObject({ key: 'GenreId', newKeys: 'max+1' });
  expect(tables['artist']?.newKeys).toBe(shop.engine === 'mysql' ? 'max+1' : undefined);
  expect(tables['track']?.columns['unit_price_cents']).toEqual({
    column: 'UnitPrice',
    convert: 'decimal-to-cents',
  });
  expect(tables['employee']?.columns['hire_date']).toEqual({
    column: 'HireDate',
    convert: 'datetime-to-iso',
  });
  expect(schema.tables['employee']?.columns['reports_to']).toEqual({ type: 'text', references: 'employee' });
  expect(schema.tables['invoice_line']?.columns['invoice_id']).toEqual({
    type: 'text',
    required: true,
    references: 'invoice',
  });
  expect(schema.tables['playlist_track']).toEqual({
    columns: {
      playlist_id: { type: 'text', required: true, references: 'playlist' },
      track_id: { type: 'text', required: true, references: 'track' },
    },
    // The composite key as a unique rule: the server refuses a second row for the same pair.
    unique: [['playlist_id', 'track_id']],
  });
  expect(schema.tables['track']?.columns['unit_price_cents']).toEqual({ type: 'integer', required: true });
  // The person reviewing it leaves the program's own review table out of sync.
  delete schema.tables['track_review'];
  delete map.tables['track_review'];

  const server = await startTestServer({ schema: parseSchema(schema) });
  const till = await server.pairedClient('till');
  const other = await server.pairedClient('other');
  const tillPath = till.database.name;
  const attached = await attachLegacyDatabase({ dbPath: tillPath, map, mapFolder: folder });
  expect(attached.broughtIn).toBe(MUSIC_ROWS);
  expect(Object.fromEntries(attached.tables.map((table) => [table.table, table.keys]))).toMatchObject({
    playlist_track: 'composite',
    genre: 'max+1',
    artist: shop.engine === 'mysql' ? 'max+1' : 'database',
  });
  // The schema adopt init wrote holds the composite key's rule: attach has nothing to say of it.
  expect(attached.tables.filter((table) => table.note !== undefined)).toEqual([]);

  const worker = bridgedWorker(till);
  const syncTill = async () => {
    const entry = await worker.syncNow();
    // The log keeps the entry as the worker saw it: the bridge's part (time, refusals) included.
    expect(till.syncLog(1)[0]).toEqual(entry);
    return entry;
  };

  // The first sync pushes every row and writes nothing back to the program's database: no echo.
  const version = await shop.dataVersion();
  const first = await syncTill();
  expect(first.error).toBeNull();
  expect(first.pushed).toBe(MUSIC_ROWS);
  expect(await shop.dataVersion()).toBe(version);
  expect(till.database.prepare('SELECT count(*) AS n FROM _sync_adopt_inbox').get()).toEqual({ n: 0 });
  expect((await other.sync()).ok).toBe(true);
  expect(Object.fromEntries(SYNCED.map((table) => [table, count(other, table)]))).toEqual(
    Object.fromEntries(SYNCED.map((table) => [table, count(till, table)])),
  );
  // The self-reference: Jane reports to Nancy, who reports to Andrew.
  const andrew = idOf(other, 'employee', 'first_name = ?', 'Andrew');
  const nancy = idOf(other, 'employee', 'first_name = ?', 'Nancy');
  expect(other.database.prepare('SELECT reports_to FROM employee WHERE id = ?').get(nancy)).toEqual({
    reports_to: andrew,
  });
  expect(
    other.database.prepare("SELECT unit_price_cents FROM track WHERE name = 'Restless and Wild'").get(),
  ).toEqual({ unit_price_cents: 129 });

  // Attach run again with the same map: nothing brought in or out, nothing written to the program's database.
  const again = await attachLegacyDatabase({ dbPath: tillPath, map, mapFolder: folder });
  expect(again).toMatchObject({ broughtIn: 0, broughtOut: 0 });
  expect(await shop.dataVersion()).toBe(version);

  // The other device adds a genre and an artist (keys the program's way), a track to a playlist (a
  // composite key), an employee under Jane (the self-reference), and deletes an invoice with its lines.
  const blues = uuidv7();
  other.database.prepare("INSERT INTO genre (id, name) VALUES (?, 'Blues')").run(blues);
  other.database.prepare("INSERT INTO artist (id, name) VALUES (?, 'Buddy Guy')").run(uuidv7());
  other.database
    .prepare('INSERT INTO playlist_track (id, playlist_id, track_id) VALUES (?, ?, ?)')
    .run(
      uuidv7(),
      idOf(other, 'playlist', 'name = ?', 'Music'),
      idOf(other, 'track', 'name = ?', 'Fast As a Shark'),
    );
  other.database
    .prepare("INSERT INTO employee (id, last_name, first_name, reports_to) VALUES (?, 'Park', 'Margaret', ?)")
    .run(uuidv7(), idOf(other, 'employee', 'first_name = ?', 'Jane'));
  const invoice = idOf(other, 'invoice', "billing_city = 'Stuttgart'");
  // The parent first: the program's database would refuse that order; the bridge puts the lines first.
  other.database.prepare('DELETE FROM invoice WHERE id = ?').run(invoice);
  other.database.prepare('DELETE FROM invoice_line WHERE invoice_id = ?').run(invoice);
  expect((await other.sync()).ok).toBe(true);
  expect((await syncTill()).ok).toBe(true);
  expect(await shop.query('SELECT GenreId, Name FROM Genre ORDER BY GenreId')).toEqual([
    { GenreId: 1, Name: 'Rock' },
    { GenreId: 2, Name: 'Jazz' },
    { GenreId: 3, Name: 'Blues' },
  ]);
  expect(await shop.query("SELECT ArtistId FROM Artist WHERE Name = 'Buddy Guy'")).toEqual([{ ArtistId: 4 }]);
  expect(
    await shop.query('SELECT PlaylistId, TrackId FROM PlaylistTrack ORDER BY PlaylistId, TrackId'),
  ).toEqual([
    { PlaylistId: 1, TrackId: 1 },
    { PlaylistId: 1, TrackId: 2 },
    { PlaylistId: 1, TrackId: 3 },
    { PlaylistId: 2, TrackId: 3 },
    { PlaylistId: 2, TrackId: 4 },
  ]);
  expect(await shop.query("SELECT EmployeeId, ReportsTo FROM Employee WHERE FirstName = 'Margaret'")).toEqual(
    [{ EmployeeId: 4, ReportsTo: 3 }],
  );
  expect(await shop.query('SELECT InvoiceId FROM Invoice')).toEqual([{ InvoiceId: 1 }]);
  expect(await shop.query('SELECT InvoiceLineId FROM InvoiceLine ORDER BY InvoiceLineId')).toEqual([
    { InvoiceLineId: 1 },
    { InvoiceLineId: 2 },
  ]);
  expect(till.status.state).toBe('synced');

  // A delete the program's database refuses (its own review table still points at the track): it shows in
  // the log, the status and `tillsync status`, and is tried again every cycle until it goes in.
  other.database.prepare("DELETE FROM track WHERE name = 'Princess of the Dawn'").run();
  expect((await other.sync()).ok).toBe(true);
  const refused = await syncTill();
  expect(refused).toMatchObject({ ok: false, outcome: 'error', errorCode: 'LEGACY_REFUSED' });
  expect(refused.error).toMatch(
    /^1 row does not go into the shop program's database; newest: .*delete Track 5 \(track /,
  );
  expect(refused.rejected).toEqual([
    expect.objectContaining({
      table: 'track',
      code: 'LEGACY_REFUSED',
      message: expect.stringMatching(/refused to delete Track 5 \(track [0-9a-f-]+\): .*foreign key/i),
    }),
  ]);
  expect(till.status).toMatchObject({ state: 'error', lastError: refused.error });
  // The agent's status, as its page and the pill read it (this worker is not started, so its own state says
  // "stopped"; a running agent's is the device file's).
  expect(worker.status).toMatchObject({ lastError: refused.error, lastErrorCode: 'LEGACY_REFUSED' });
  expect(pillText({ ...worker.status, state: till.status.state }, Date.now())).toMatch(
    /^Shop database refused a row · last sync /,
  );
  expect(readLegacyStatus(tillPath)).toMatchObject({
    refused: 1,
    lastRefusal: { table: 'track', legacyTable: 'Track', localKey: '5', op: 'delete', attempts: 1 },
  });
  expect((await syncTill()).ok).toBe(false);
  expect(readLegacyStatus(tillPath)?.lastRefusal?.attempts).toBeGreaterThan(1);
  // The owner's devices panel counts the waiting row with the till's pending changes.
  const devices = (await (
    await fetch(`${server.url}/api/devices`, {
      headers: { authorization: `Bearer ${await server.ownerToken()}` },
    })
  ).json()) as { name: string; pendingChanges: number | null }[];
  expect(devices.find((device) => device.name === 'till')?.pendingChanges).toBe(1);
  expect(await shop.query('SELECT TrackId FROM Track WHERE TrackId = 5')).toEqual([{ TrackId: 5 }]);
  await shop.run('DELETE FROM TrackReview WHERE ReviewId = 1');
  expect((await syncTill()).ok).toBe(true);
  expect(await shop.query('SELECT TrackId FROM Track WHERE TrackId = 5')).toEqual([]);
  expect(readLegacyStatus(tillPath)).toMatchObject({ refused: 0, lastRefusal: null });
  expect(till.status.state).toBe('synced');

  // The program deletes a playlist; its tracks go by the cascade (which fires no trigger on MariaDB).
  await shop.run('DELETE FROM Playlist WHERE PlaylistId = 2');
  // And adds a track to the other playlist, under its composite key.
  await shop.run('INSERT INTO PlaylistTrack (PlaylistId, TrackId) VALUES (1, 4)');
  expect((await syncTill()).ok).toBe(true);
  expect((await other.sync()).ok).toBe(true);
  expect(other.database.prepare("SELECT count(*) AS n FROM playlist WHERE name = 'Heavy'").get()).toEqual({
    n: 0,
  });
  expect(
    other.database
      .prepare(
        `SELECT p.name AS playlist, t.name AS track FROM playlist_track pt JOIN playlist p ON p.id = pt.playlist_id
         JOIN track t ON t.id = pt.track_id ORDER BY t.name`,
      )
      .all(),
  ).toEqual([
    { playlist: 'Music', track: 'Balls to the Wall' },
    { playlist: 'Music', track: 'Fast As a Shark' },
    { playlist: 'Music', track: 'For Those About To Rock' },
    { playlist: 'Music', track: 'Restless and Wild' },
  ]);

  // The program adds an employee, then the manager she reports to: the self-reference in the later row.
  await shop.run("INSERT INTO Employee (EmployeeId, LastName, FirstName) VALUES (7, 'Mitchell', 'Michelle')");
  await shop.run("INSERT INTO Employee (EmployeeId, LastName, FirstName) VALUES (8, 'King', 'Robert')");
  await shop.run('UPDATE Employee SET ReportsTo = 8 WHERE EmployeeId = 7');
  expect((await syncTill()).ok).toBe(true);
  expect((await other.sync()).ok).toBe(true);
  expect(
    other.database
      .prepare(
        `SELECT boss.first_name AS boss FROM employee e JOIN employee boss ON boss.id = e.reports_to
         WHERE e.first_name = 'Michelle'`,
      )
      .get(),
  ).toEqual({ boss: 'Robert' });

  // In the end the program's database and the fleet hold the same rows.
  const legacyCounts: number[] = [];
  for (const table of MUSIC_TABLES) {
    const [row] = await shop.query<{ n: number | string }>(`SELECT count(*) AS n FROM ${table}`);
    legacyCounts.push(Number(row?.n));
  }
  expect(legacyCounts).toEqual(SYNCED.map((table) => count(other, table)));
  expect(till.status).toMatchObject({ state: 'synced', pendingChanges: 0 });

  // Another device adds a pair the playlist holds already, under an id of its own: the composite key's rule
  // on the server refuses it, and the program's PlaylistTrack is left with one row for the pair.
  const twice = uuidv7();
  other.database
    .prepare('INSERT INTO playlist_track (id, playlist_id, track_id) VALUES (?, ?, ?)')
    .run(
      twice,
      idOf(other, 'playlist', 'name = ?', 'Music'),
      idOf(other, 'track', 'name = ?', 'Balls to the Wall'),
    );
  const duplicate = await other.runCycle({ trigger: 'manual' });
  expect(duplicate.rejected).toEqual([
    expect.objectContaining({ table: 'playlist_track', id: twice, code: 'UNIQUE_VIOLATION' }),
  ]);
  expect((await syncTill()).ok).toBe(true);
  const pairs = await shop.query<{ n: number | string }>(
    'SELECT count(*) AS n FROM PlaylistTrack WHERE PlaylistId = 1 AND TrackId = 2',
  );
  expect(pairs.map((row) => Number(row.n))).toEqual([1]);
  expect(count(till, 'playlist_track')).toBe(4);
}

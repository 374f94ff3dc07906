import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { CycleLease } from '../src/cycle-lease.js';
import { StateKey } from '../src/device-state.js';
import { createSyncClient } from '../src/index.js';
import { LocalStore } from '../src/local-store.js';
import { readQuickStatus } from '../src/quick-status.js';
import { onCleanup, tempFolder } from './helpers.js';
import { startTestServer } from './server-fixture.js';

describe('the quick status (tillsync status)', () => {
  it('says what the client says, unpaired, stopped, synced, with changes pending, offline and syncing', async () => {
    const server = await startTestServer();
    const dbPath = path.join(tempFolder(), 'device.db');
    const client = createSyncClient({ dbPath, serverUrl: server.url });
    onCleanup(() => client.close());
    const states: string[] = [];
    const sameAsClient = (): void => {
      const quick = readQuickStatus(dbPath);
      expect(quick).toEqual(client.status);
      // The same keys in the same order: the command prints it as JSON.
      expect(JSON.stringify(quick)).toBe(JSON.stringify(client.status));
      states.push(client.status.state);
    };

    sameAsClient();
    await client.pair(await server.pairingCode(), { name: 'till', platform: 'test' });
    sameAsClient();
    expect((await client.sync()).ok).toBe(true);
    sameAsClient();
    client.database.prepare("INSERT INTO categories (id, name) VALUES (?, 'Fruit')").run(uuidv7());
    sameAsClient();
    await server.stop();
    expect((await client.sync()).ok).toBe(false);
    sameAsClient();
    // Another process (an agent) holds the cycle lease: both say syncing.
    const agent = LocalStore.open({ dbPath });
    onCleanup(() => agent.close());
    const lease = new CycleLease(agent);
    await lease.acquire();
    sameAsClient();
    lease.release();
    sameAsClient();
    expect(states).toEqual(['unpaired', 'stopped', 'synced', 'synced', 'offline', 'syncing', 'offline']);
  });

  it('leaves to the client, untouched, a file that is missing, empty, not SQLite, of another version or with a database attached', () => {
    const folder = tempFolder();
    expect(readQuickStatus(path.join(folder, 'missing.db'))).toBeNull();
    expect(fs.existsSync(path.join(folder, 'missing.db'))).toBe(false);

    const empty = path.join(folder, 'empty.db');
    fs.writeFileSync(empty, '');
    expect(readQuickStatus(empty)).toBeNull();
    expect(fs.statSync(empty).size).toBe(0);

    const text = path.join(folder, 'notes.txt');
    fs.writeFileSync(text, 'not a database at all, and long enough to have a header of its own\n'.repeat(4));
    expect(readQuickStatus(text)).toBeNull();

    const older = path.join(folder, 'older.db');
    LocalStore.open({ dbPath: older }).close();
    const db = new Database(older);
    db.prepare('UPDATE _sync_state SET value = ? WHERE key = ?').run('2', StateKey.storeVersion);
    db.close();
    expect(readQuickStatus(older)).toBeNull();

    const attached = path.join(folder, 'attached.db');
    LocalStore.open({ dbPath: attached }).close();
    const other = new Database(attached);
    other.exec(
      'CREATE TABLE _sync_adopt (id INTEGER PRIMARY KEY, map TEXT NOT NULL, attached_at TEXT NOT NULL)',
    );
    other.close();
    expect(readQuickStatus(attached)).toBeNull();

    const current = path.join(folder, 'current.db');
    LocalStore.open({ dbPath: current }).close();
    expect(readQuickStatus(current)).toMatchObject({ state: 'unpaired', pendingChanges: 0 });
  });
});

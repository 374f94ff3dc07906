import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStorage } from '@tillsync/server';
import { describeMergeConformance } from './merge-conformance.js';
import { describeSnapshotConformance } from './snapshot-conformance.js';
import { describeNoEchoConformance } from './no-echo-conformance.js';
import { describeSyncStoreConformance, withTwoTenants } from './store-conformance.js';

async function openSqlite(): ReturnType<typeof withTwoTenants> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-'));
  const storage = await openStorage({ dbPath: path.join(dir, 'cloud.db') });
  return withTwoTenants(storage, async () => {
    await storage.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

describeSyncStoreConformance('SQLite', openSqlite);
describeMergeConformance('SQLite', openSqlite);
describeSnapshotConformance('SQLite', openSqlite);
describeNoEchoConformance('SQLite', openSqlite);

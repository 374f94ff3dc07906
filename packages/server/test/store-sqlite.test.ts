import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStorage } from '@tillsync/server';
import { describeSyncStoreConformance } from './store-conformance.js';

describeSyncStoreConformance('SQLite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-'));
  const storage = await openStorage({ dbPath: path.join(dir, 'cloud.db') });
  const tenant = await storage.accounts.createTenant({
    name: 'Shop',
    email: 'owner@shop.test',
    passwordHash: 'x',
  });
  const other = await storage.accounts.createTenant({
    name: 'Other',
    email: 'owner@other.test',
    passwordHash: 'x',
  });
  return {
    storage,
    tenantId: tenant.tenantId,
    otherTenantId: other.tenantId,
    async cleanup() {
      await storage.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

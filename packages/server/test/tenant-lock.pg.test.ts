import { Accounts, openStorage, resolveServerConfig } from '@tillsync/server';
import { describe, expect, it } from 'vitest';
import { freshPostgresDatabase, postgresAnswers } from './postgres-fixture.js';

/** What `promise` settled to within `ms`, or 'waiting' if it had not. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'waiting'> {
  let timer: NodeJS.Timeout | undefined;
  const waiting = new Promise<'waiting'>((resolve) => (timer = setTimeout(() => resolve('waiting'), ms)));
  try {
    return await Promise.race([promise, waiting]);
  } finally {
    clearTimeout(timer);
  }
}

if (await postgresAnswers()) {
  describe("a tenant's write lock on PostgreSQL", () => {
    it("serialises the tenant's writes of rows but lets pairings, pairing codes and stores through", async () => {
      const database = await freshPostgresDatabase();
      const storage = await openStorage({ databaseUrl: database.url });
      let release: () => void = () => undefined;
      try {
        const accounts = new Accounts(storage.accounts, resolveServerConfig({}));
        const { tenantId } = await accounts.createTenant({
          name: 'Chain',
          email: 'owner@chain.test',
          password: 'a long enough password',
        });
        const tenant = storage.sync.forTenant(tenantId);
        const released = new Promise<void>((resolve) => (release = resolve));
        let holding: () => void = () => undefined;
        const held = new Promise<void>((resolve) => (holding = resolve));
        // A push holds the tenant's lock (a busy chain's pushes hold it one after the other)...
        const first = tenant.push(async () => {
          holding();
          await released;
        });
        await held;
        // ...a second push waits for it...
        let secondRan = false;
        const second = tenant.push(() => {
          secondRan = true;
          return Promise.resolve();
        });
        // ...but what only references the tenant does not: a pairing code, a pairing and a new store.
        const code = await within(accounts.createPairingCode(tenantId), 10_000);
        expect(code).not.toBe('waiting');
        if (code === 'waiting') return;
        const paired = await within(accounts.pair({ code: code.code, name: 'Till' }), 10_000);
        expect(paired).not.toBe('waiting');
        expect(await within(storage.accounts.createStore(tenantId, 'Harbour'), 10_000)).not.toBe('waiting');
        expect(secondRan).toBe(false);
        release();
        await Promise.all([first, second]);
        expect(secondRan).toBe(true);
      } finally {
        release();
        await storage.close();
        await database.drop();
      }
    });
  });
} else {
  describe("a tenant's write lock on PostgreSQL", () => {
    it.skip('PostgreSQL does not answer on 127.0.0.1:5432', () => {});
  });
}

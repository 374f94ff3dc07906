import { afterAll } from 'vitest';
import { SharedPgliteDatabase } from './pglite-fixture.js';
import { describeMergeConformance } from './merge-conformance.js';
import { describeSnapshotConformance } from './snapshot-conformance.js';
import { describeNoEchoConformance } from './no-echo-conformance.js';
import { describeSyncStoreConformance, withTwoTenants } from './store-conformance.js';

// The PostgreSQL engine on PGlite: it runs wherever the tests run, with or without a PostgreSQL server.
const database = new SharedPgliteDatabase();
afterAll(() => database.close());

const openPglite = async (): ReturnType<typeof withTwoTenants> =>
  withTwoTenants(await database.emptied(), () => Promise.resolve());
describeSyncStoreConformance('PGlite', openPglite);
describeMergeConformance('PGlite', openPglite);
describeSnapshotConformance('PGlite', openPglite);
describeNoEchoConformance('PGlite', openPglite);

import { startTestServer } from './helpers.js';
import { tenantWritesSuite } from './tenant-writes-suite.js';

tenantWritesSuite('SQLite', (options) => startTestServer(options));

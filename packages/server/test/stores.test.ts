import { startTestServer } from './helpers.js';
import { storesSuite } from './stores-suite.js';

storesSuite('SQLite', (options) => startTestServer(options));

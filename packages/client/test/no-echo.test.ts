import { describeNoEcho } from './no-echo-suite.js';

describeNoEcho('SQLite server', () => Promise.resolve({}));

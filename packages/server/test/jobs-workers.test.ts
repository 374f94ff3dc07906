import { describeWorkerProcesses } from './jobs-workers.js';

// Workers that claim straight from the database (`tillsync worker` without --redis-url).
describeWorkerProcesses('from the database', () => []);

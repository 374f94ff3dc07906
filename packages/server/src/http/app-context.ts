import type { Accounts } from '../accounts.js';
import type { ServerConfig } from '../config.js';
import type { ServerMetrics } from '../metrics.js';
import type { ChangeNotices } from '../notices/change-notices.js';
import type { Storage } from '../storage/storage.js';
import type { ServerJobs } from '../jobs/server-jobs.js';

/** What the routes need. */
export interface AppContext {
  readonly config: ServerConfig;
  readonly storage: Storage;
  readonly accounts: Accounts;
  readonly notices: ChangeNotices;
  readonly metrics: ServerMetrics;
  /** Sync jobs; without them the job routes answer nothing and pushes trigger no jobs. */
  readonly jobs?: ServerJobs;
}

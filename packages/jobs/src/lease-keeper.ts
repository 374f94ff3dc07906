import type { JobClaim, JobStore } from './job-store.js';
import type { JobLogger } from './logger.js';
import type { JobScheduler } from './scheduler.js';

/** What {@link LeaseKeeper} needs. */
export interface LeaseKeeperOptions {
  readonly store: JobStore;
  readonly leaseMs: number;
  /** The clock the leases are counted on, and the timer that renews them. */
  readonly scheduler: JobScheduler;
  readonly logger: JobLogger;
}

/**
 * Renews the leases of the jobs a worker runs, all in one call, every third of the lease. A worker that
 * dies stops renewing, its leases run out, and another worker takes its jobs over (and their locks).
 */
export class LeaseKeeper {
  readonly #store: JobStore;
  readonly #leaseMs: number;
  readonly #scheduler: JobScheduler;
  readonly #logger: JobLogger;
  readonly #claims = new Map<string, JobClaim>();
  #timer: unknown = null;

  constructor(options: LeaseKeeperOptions) {
    this.#store = options.store;
    this.#leaseMs = options.leaseMs;
    this.#scheduler = options.scheduler;
    this.#logger = options.logger;
  }

  add(claim: JobClaim): void {
    this.#claims.set(claim.jobId, claim);
    this.#timer ??= this.#scheduler.setInterval(
      () => void this.#renew(),
      Math.max(10, Math.floor(this.#leaseMs / 3)),
      { background: true },
    );
  }

  delete(jobId: string): void {
    this.#claims.delete(jobId);
    if (this.#claims.size === 0) this.stop();
  }

  stop(): void {
    if (this.#timer !== null) this.#scheduler.clearInterval(this.#timer);
    this.#timer = null;
  }

  async #renew(): Promise<void> {
    if (this.#claims.size === 0) return;
    try {
      await this.#store.renewLeases([...this.#claims.values()], this.#scheduler.now() + this.#leaseMs);
    } catch (error) {
      // A missed renewal is survivable: the lease is three renewals long.
      this.#logger.warn({ err: error }, 'could not renew the leases of running sync jobs');
    }
  }
}

import type { JobClaim, JobStore } from './job-store.js';
import type { JobLogger } from './logger.js';

/**
 * Renews the leases of the jobs a worker runs, all in one call, every third of the lease. A worker that
 * dies stops renewing, its leases run out, and another worker takes its jobs over (and their locks).
 */
export class LeaseKeeper {
  readonly #store: JobStore;
  readonly #leaseMs: number;
  readonly #now: () => number;
  readonly #logger: JobLogger;
  readonly #claims = new Map<string, JobClaim>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: { store: JobStore; leaseMs: number; now: () => number; logger: JobLogger }) {
    this.#store = options.store;
    this.#leaseMs = options.leaseMs;
    this.#now = options.now;
    this.#logger = options.logger;
  }

  add(claim: JobClaim): void {
    this.#claims.set(claim.jobId, claim);
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.#renew(), Math.max(10, Math.floor(this.#leaseMs / 3)));
      this.#timer.unref();
    }
  }

  delete(jobId: string): void {
    this.#claims.delete(jobId);
    if (this.#claims.size === 0) this.stop();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #renew(): Promise<void> {
    if (this.#claims.size === 0) return;
    try {
      await this.#store.renewLeases([...this.#claims.values()], this.#now() + this.#leaseMs);
    } catch (error) {
      // A missed renewal is survivable: the lease is three renewals long.
      this.#logger.warn({ err: error }, 'could not renew the leases of running sync jobs');
    }
  }
}

import { sql } from 'kysely';
import type { SqlEngine } from './sql-engine.js';

/** A limit: at most `max` hits per `windowMs`. */
export interface RateLimit {
  readonly max: number;
  readonly windowMs: number;
}

/** What a hit found: allowed, or refused until the window ends. */
export type RateLimitVerdict =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/**
 * Fixed-window counters kept in the database, so the limits hold across server processes (a login refused
 * by one process is refused by all). One atomic upsert per hit; both engines have the same syntax.
 */
export class RateLimiter {
  readonly #engine: SqlEngine;

  constructor(engine: SqlEngine) {
    this.#engine = engine;
  }

  /** Counts a hit on `key` at `now` and says whether it is within the limit. */
  async hit(key: string, limit: RateLimit, now: number): Promise<RateLimitVerdict> {
    const windowStart = now - (now % limit.windowMs);
    const row = await sql<{ window_start: number | string; hits: number | string }>`
      insert into rate_limits (key, window_start, hits) values (${key}, ${windowStart}, 1)
      on conflict (key) do update set
        hits = case when rate_limits.window_start = excluded.window_start then rate_limits.hits + 1 else 1 end,
        window_start = excluded.window_start
      returning window_start, hits`.execute(this.#engine.db);
    const hits = Number(row.rows[0]?.hits ?? 1);
    if (hits <= limit.max) return { allowed: true };
    return {
      allowed: false,
      retryAfterMs: Number(row.rows[0]?.window_start ?? windowStart) + limit.windowMs - now,
    };
  }

  /** Forgets the hits on `key` (a successful login clears its failures). */
  async reset(key: string): Promise<void> {
    await sql`delete from rate_limits where key = ${key}`.execute(this.#engine.db);
  }

  /** Drops windows that ended before `before`. */
  async purge(before: number): Promise<void> {
    await sql`delete from rate_limits where window_start < ${before}`.execute(this.#engine.db);
  }
}

import { performance } from 'node:perf_hooks';
import { v7 as uuidv7 } from 'uuid';
import type { SyncClient } from '@tillsync/client';

/** How often the till writes during a first sync (a busy till: a sale line every 10 ms). */
export const WRITE_EVERY_MS = 10;

/** The `p`th percentile of `values` (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? NaN;
}

/**
 * Writes a sale through the library every `WRITE_EVERY_MS` until stopped, and records how long each waited
 * past its time: the event loop being busy (a pull page being applied) plus the write itself.
 */
export function tillWrites(client: SyncClient): { stop: () => number[] } {
  const insert = client.database.prepare(
    "INSERT INTO sales (id, customer_id, total_cents, created_at) VALUES (?, NULL, 120, '2026-11-22T09:00:00.000Z')",
  );
  const waits: number[] = [];
  let timer: NodeJS.Timeout;
  const next = (): void => {
    const due = performance.now() + WRITE_EVERY_MS;
    timer = setTimeout(() => {
      insert.run(uuidv7());
      waits.push(performance.now() - due);
      next();
    }, WRITE_EVERY_MS);
  };
  next();
  return {
    stop: () => {
      clearTimeout(timer);
      return waits;
    },
  };
}

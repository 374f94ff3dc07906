import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import {
  CompiledSchema,
  formatStamp,
  HybridClock,
  SHOP_SCHEMA,
  type Change,
  type RowValues,
} from '@tillsync/protocol';
import type { JobsDatabase } from '../src/jobs/job-tables.js';
import { writeTarget } from '../src/jobs/target-writer.js';
import type { OpenedStore } from './store-conformance.js';

/** Changes and stamps of the store-level push scenarios (merge and no-echo conformance). */
export const schema = new CompiledSchema(SHOP_SCHEMA);
export const BASE_MS = Date.parse('2026-11-22T12:00:00.000Z');
/** The server's clock in these pushes: an hour past every stamp the devices make. */
export const now = (): number => BASE_MS + 3_600_000;
let stampCounter = 0;

/** Stamps that grow through the run: each one made later than every one before it. */
export function stamp(nodeId: string): string {
  stampCounter += 1;
  return formatStamp({ ms: BASE_MS + stampCounter, counter: 0, nodeId });
}

/** A moment just past the last stamp made: a clock for the server's own writes, later than every change. */
export const afterLastStamp = (): number => BASE_MS + stampCounter + 1;

export function upsert(
  table: string,
  id: string,
  values: Record<string, unknown>,
  updatedAt: string,
  base?: string,
): Change {
  return { table, id, op: 'upsert', updatedAt, values, ...(base !== undefined ? { base } : {}) };
}

export function remove(table: string, id: string, updatedAt: string, base?: string): Change {
  return { table, id, op: 'delete', updatedAt, ...(base !== undefined ? { base } : {}) };
}

/** Moves the stamps `count` ms on: past the server's own writes stamped at {@link afterLastStamp}. */
export function skipStamps(count: number): void {
  stampCounter += count;
}

/** A sync job's write of `values` to a row, as the server's job writer makes it: stamped after every change so far. */
export async function writeAsJob(
  opened: OpenedStore,
  table: string,
  id: string,
  values: RowValues,
): Promise<void> {
  const clock = new HybridClock({ nodeId: 'jobs', now: afterLastStamp });
  await opened.storage.engine.write((trx) =>
    writeTarget(
      {
        trx: trx as unknown as Kysely<JobsDatabase>,
        tenantId: opened.tenantId,
        schema,
        clock,
        now,
        types: null,
      },
      { table, id, seen: null, values, jobId: randomUUID(), jobType: 'test', jobSource: null },
    ),
  );
}

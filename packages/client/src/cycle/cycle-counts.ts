import type { RejectedRow } from '../apply-push.js';
import type { ConflictRow } from '../lost-edits.js';
import type { TableRepair } from '../sync-log.js';

/** Counts of one cycle, filled by its steps as they go; the cycle's log entry is made from them. */
export interface CycleCounts {
  pushed: number;
  pulled: number;
  /** The rows a fresh snapshot brings in all, as the server said on its first page; null otherwise. */
  expectedPulled: number | null;
  /** How many rows had an edit of this device lose: `conflictRows.length`. */
  conflicts: number;
  conflictRows: ConflictRow[];
  rejected: RejectedRow[];
  repairs: TableRepair[];
}

/** Counts of a cycle that has done nothing yet. */
export function emptyCycleCounts(): CycleCounts {
  return {
    pushed: 0,
    pulled: 0,
    expectedPulled: null,
    conflicts: 0,
    conflictRows: [],
    rejected: [],
    repairs: [],
  };
}

/** Adds rows whose edits lost to a cycle's counts, each row once. */
export function noteConflicts(counts: CycleCounts, rows: readonly ConflictRow[]): void {
  for (const row of rows) {
    if (!counts.conflictRows.some((seen) => seen.table === row.table && seen.id === row.id))
      counts.conflictRows.push(row);
  }
  counts.conflicts = counts.conflictRows.length;
}

/** Gives the event loop a turn: between two requests or two slices, the app embedding the client runs. */
export function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

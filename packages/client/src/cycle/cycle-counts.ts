import type { RejectedRow } from '../apply-push.js';
import type { TableRepair } from '../sync-log.js';

/** Counts of one cycle, filled by its steps as they go; the cycle's log entry is made from them. */
export interface CycleCounts {
  pushed: number;
  pulled: number;
  conflicts: number;
  rejected: RejectedRow[];
  repairs: TableRepair[];
}

/** Counts of a cycle that has done nothing yet. */
export function emptyCycleCounts(): CycleCounts {
  return { pushed: 0, pulled: 0, conflicts: 0, rejected: [], repairs: [] };
}

/** Gives the event loop a turn: between two requests or two slices, the app embedding the client runs. */
export function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

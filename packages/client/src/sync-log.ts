import type { ConflictRow, RejectedRow, SyncLogEntry, TableRepair } from '@tillsync/protocol';
import type { LocalStore } from './local-store.js';

/**
 * Why a cycle ran: `manual` (an app's or `tillsync sync`'s call), `auto` (the worker's schedule), `force`
 * ("Force sync now"), `force-pull` ("Force pull"), `startup` (the worker's first cycle when started), `live`
 * (the server said another device's push committed), or a name of the app's own.
 */
export type SyncTrigger =
  'manual' | 'auto' | 'force' | 'force-pull' | 'startup' | 'live' | 'write' | (string & {});

/** What a cycle did: push and pull, pull only ("Force pull"), or pull only with the unsent rows discarded. */
export type SyncMode = SyncLogEntry['mode'];

/** How a cycle ended, as the status shows it; `stopped`: the worker was stopped while it ran. */
export type SyncOutcome = SyncLogEntry['outcome'];

/**
 * One cycle as the sync log keeps it (the last 20 are kept in the device file), and a table it took again
 * from a fresh snapshot: the device agent API's own types (`protocol/src/device-agent-api.ts`).
 */
export type { SyncLogEntry, TableRepair };

/** How many cycles the log keeps. */
export const SYNC_LOG_SIZE = 20;

/** The sync log (`_sync_log`): the last {@link SYNC_LOG_SIZE} cycles, kept across restarts. */
export class SyncLog {
  readonly #store: LocalStore;

  constructor(store: LocalStore) {
    this.#store = store;
  }

  /** Adds a cycle and drops the ones past the log's size. Call it inside the cycle's last transaction. */
  append(entry: SyncLogEntry): void {
    this.#store
      .statement(
        `INSERT INTO _sync_log (cycle_trigger, mode, started_at, duration_ms, ok, outcome, pushed, pulled, conflicts, conflict_rows, rejected, rejected_rows, repairs, error, error_code)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        entry.trigger,
        entry.mode,
        entry.startedAt,
        entry.durationMs,
        entry.ok ? 1 : 0,
        entry.outcome,
        entry.pushed,
        entry.pulled,
        entry.conflicts,
        JSON.stringify(entry.conflictRows),
        entry.rejected.length,
        JSON.stringify(entry.rejected),
        JSON.stringify(entry.repairs),
        entry.error,
        entry.errorCode,
      );
    this.#store
      .statement('DELETE FROM _sync_log WHERE id <= (SELECT max(id) FROM _sync_log) - ?')
      .run(SYNC_LOG_SIZE);
  }

  /**
   * Rewrites the newest cycle with what was learnt after it ended (the adopt bridge's time and refusals),
   * if it is the cycle `entry` stands for (the same start and trigger); returns whether it did.
   */
  amendNewest(entry: SyncLogEntry): boolean {
    const result = this.#store
      .statement(
        `UPDATE _sync_log SET duration_ms = ?, ok = ?, outcome = ?, rejected = ?, rejected_rows = ?, error = ?, error_code = ?
         WHERE id = (SELECT max(id) FROM _sync_log) AND started_at = ? AND cycle_trigger = ?`,
      )
      .run(
        entry.durationMs,
        entry.ok ? 1 : 0,
        entry.outcome,
        entry.rejected.length,
        JSON.stringify(entry.rejected),
        entry.error,
        entry.errorCode,
        entry.startedAt,
        entry.trigger,
      );
    return result.changes > 0;
  }

  /** The logged cycles, newest first. */
  entries(limit = SYNC_LOG_SIZE): SyncLogEntry[] {
    const rows = this.#store.statement('SELECT * FROM _sync_log ORDER BY id DESC LIMIT ?').all(limit) as {
      cycle_trigger: string;
      mode: SyncMode;
      started_at: string;
      duration_ms: number;
      ok: number;
      outcome: SyncOutcome;
      pushed: number;
      pulled: number;
      conflicts: number;
      conflict_rows: string;
      rejected_rows: string;
      repairs: string;
      error: string | null;
      error_code: string | null;
    }[];
    return rows.map((row) => ({
      trigger: row.cycle_trigger,
      mode: row.mode,
      startedAt: row.started_at,
      durationMs: row.duration_ms,
      ok: row.ok === 1,
      outcome: row.outcome,
      pushed: row.pushed,
      pulled: row.pulled,
      conflicts: row.conflicts,
      conflictRows: JSON.parse(row.conflict_rows) as ConflictRow[],
      rejected: JSON.parse(row.rejected_rows) as RejectedRow[],
      repairs: JSON.parse(row.repairs) as TableRepair[],
      error: row.error,
      errorCode: row.error_code,
    }));
  }
}

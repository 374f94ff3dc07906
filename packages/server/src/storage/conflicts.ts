// Transactions PostgreSQL ends to break a deadlock or for a serialization failure, and running them again.

/**
 * How often a PostgreSQL transaction that the database ended to break a deadlock, or for a serialization
 * failure, is run again before its error is the caller's: such an end says nothing of the work, only of what
 * ran beside it, and a push or a job's claim or end must not fail for it.
 */
const MAX_CONFLICT_RUNS = 5;
/** The longest pause before a transaction ended by a conflict runs again (jittered, doubled each time). */
const MAX_CONFLICT_PAUSE_MS = 50;

/**
 * Runs `write` (a transaction, or one statement), and again when PostgreSQL ended it for a deadlock or a
 * serialization failure: nothing of it was stored, so running it again is safe when it only uses the
 * database.
 */
export async function runAgainOnConflict<T>(write: () => Promise<T>): Promise<T> {
  for (let run = 1; ; run++) {
    try {
      return await write();
    } catch (error) {
      if (run >= MAX_CONFLICT_RUNS || !isConflict(error)) throw error;
      const pause = Math.min(MAX_CONFLICT_PAUSE_MS, 2 ** run) * (0.5 + Math.random());
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/** PostgreSQL's `deadlock_detected` and `serialization_failure`: the transaction was ended, nothing stored. */
function isConflict(error: unknown): boolean {
  const code =
    typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
      ? error.code
      : null;
  return code === '40P01' || code === '40001';
}

import { ProtocolError, type PushResponse, type RejectedRow } from '@tillsync/protocol';
import type { ApplierParts, PullApplier } from './apply-pull.js';
import { deleteStoredPush } from './cycle/push-journal-table.js';
import { idsByTable, type PushCover } from './outbox.js';

/** A change the server refused, with its reason: it stays pending and shows in the status and the log. */
export type { RejectedRow };

/** What applying a push's answer did. */
export interface PushAnswerOutcome {
  /** Changes the server took (applied, or answered with its newer version). */
  readonly pushed: number;
  readonly conflicts: number;
  readonly rejected: readonly RejectedRow[];
}

/**
 * Applies the answer to a push, in the transaction that also deletes the push from `_sync_push`, so an
 * answer is applied exactly once.
 *
 * - `applied`: the server has the row as pushed. Its pending entry goes, unless the row was written again
 *   while the push was on the wire; then it stays, its counter bases moved to the values pushed.
 * - `stale`: the server's `current` is merged as a pulled change would be (after the same move of the
 *   bases, since the server adds a stale row's deltas too); the local version goes to the conflict log.
 * - `rejected`: the row stays pending with the error; the other rows are not held up by it.
 */
export function applyPushAnswer(
  parts: ApplierParts,
  applier: PullApplier,
  pushId: string,
  covers: readonly PushCover[],
  response: PushResponse,
): PushAnswerOutcome {
  const { store, schema, tables, outbox, serverRows, clock } = parts;
  if (response.results.length !== covers.length) {
    throw new ProtocolError(
      502,
      'INVALID_RESPONSE',
      `the server answered ${response.results.length} results to a push of ${covers.length} changes`,
    );
  }
  return store.applying(() =>
    serverRows.batch(() => {
      let pushed = 0;
      let conflicts = 0;
      const rejected: RejectedRow[] = [];
      // The batch's pending entries and server stamps, read set-wise: most answers are `applied` to rows
      // nobody wrote meanwhile, and those need nothing more than their entry deleted, also set-wise below.
      const revisionsByTable = new Map<string, Map<string, number>>();
      const stampsByTable = new Map<string, Map<string, string>>();
      for (const [table, ids] of idsByTable(covers)) {
        revisionsByTable.set(table, outbox.revisionsOf(table, ids));
        stampsByTable.set(table, serverRows.stampsOf(table, ids));
      }
      const settled: PushCover[] = [];
      covers.forEach((cover, index) => {
        const result = response.results[index];
        const table = schema.table(cover.table);
        if (!result || result.table !== cover.table || result.id !== cover.id) {
          throw new ProtocolError(
            502,
            'INVALID_RESPONSE',
            `the server's result ${index} names ${result?.table}/${result?.id}, not ${cover.table}/${cover.id}`,
          );
        }
        if (!table) return;
        // The revision of the row's pending entry; undefined when it has none.
        const pendingRevision = revisionsByTable.get(cover.table)?.get(cover.id);
        const counters = table.counterColumns.length > 0 ? (cover.counters ?? null) : null;
        switch (result.status) {
          case 'applied': {
            pushed += 1;
            const previous = stampsByTable.get(cover.table)?.get(cover.id) ?? null;
            if (cover.op === 'upsert') serverRows.set(cover.table, cover.id, cover.stamp, previous);
            else serverRows.remove(cover.table, cover.id, previous);
            if (pendingRevision === cover.revision) {
              // Not written again while on the wire: its entry goes (with the others, after the loop).
              settled.push(cover);
              return;
            }
            if (pendingRevision === undefined) {
              // The triggers keep a row that is on the wire pending; if that entry is gone anyway (removed by
              // hand), a row deleted meanwhile must still be deleted on the server.
              if (cover.op === 'upsert' && tables.read(table, cover.id) === null) {
                outbox.addDelete(cover.table, cover.id);
              }
            } else {
              if (cover.op === 'delete') outbox.setBase(cover.table, cover.id, null);
              else if (counters) outbox.setBase(cover.table, cover.id, counters);
              outbox.clearError(cover.table, cover.id);
            }
            break;
          }
          case 'stale': {
            pushed += 1;
            if (pendingRevision !== undefined && counters) outbox.setBase(cover.table, cover.id, counters);
            const current = result.current;
            clock.receive(current.updatedAt);
            const merged = applier.merge(
              table,
              current,
              serverRows.stampOf(cover.table, cover.id),
              outbox.get(cover.table, cover.id),
              'push',
            );
            if (merged) conflicts += 1;
            break;
          }
          case 'rejected': {
            rejected.push({
              table: cover.table,
              id: cover.id,
              code: result.error.code,
              message: result.error.message,
            });
            if (pendingRevision !== undefined)
              outbox.setError(cover.table, cover.id, result.error.code, result.error.message);
            break;
          }
        }
        // A row deleted here while its insert was on the wire, and which the server did not take, leaves a
        // pending delete of a row the server never had.
        const after = outbox.get(cover.table, cover.id);
        if (after?.op === 'delete' && serverRows.stampOf(cover.table, cover.id) === null) {
          outbox.remove(cover.table, cover.id);
        }
      });
      for (const [table, ids] of idsByTable(settled)) outbox.removeMany(table, ids);
      const settledKeys = new Set(settled);
      // The pushed stamps are now the server's, and their pending rows may be gone: the clock's floor must
      // hold them, so later writes to those rows are stamped after them.
      let latest = '';
      for (const cover of covers) if (cover.stamp > latest) latest = cover.stamp;
      clock.receive(latest);
      outbox.endPush(covers.filter((cover) => !settledKeys.has(cover)));
      deleteStoredPush(store, pushId);
      return { pushed, conflicts, rejected };
    }),
  );
}

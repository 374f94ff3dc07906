import {
  ProtocolError,
  type StoredChange,
  type Change,
  type PushResponse,
  type RejectedRow,
  type SchemaTable,
} from '@tillsync/protocol';
import type { ApplierParts, PullApplier } from './apply-pull.js';
import { deleteStoredPush } from './cycle/push-journal-table.js';
import type { StoredPush } from './cycle/stored-push.js';
import { conflictRowsOf, rowNameOf, type ConflictRow, type NewLostEdit } from './lost-edits.js';
import { idsByTable, type PushCover } from './outbox.js';

/** A change the server refused, with its reason: it stays pending and shows in the status and the log. */
export type { RejectedRow };

/** What applying a push's answer did. */
export interface PushAnswerOutcome {
  /** Changes the server took (applied, or answered with its newer version). */
  readonly pushed: number;
  readonly conflicts: number;
  /** The rows with an edit of this device that lost (see `lost-edits.ts`). */
  readonly conflictRows: readonly ConflictRow[];
  readonly rejected: readonly RejectedRow[];
  /**
   * The tables of deletes the server refused because rows still point at the row (`FK_VIOLATION`): the
   * device gave them up, and takes those tables again from a snapshot, which brings the rows back.
   */
  readonly restore: readonly string[];
}

type PushResult = PushResponse['results'][number];

/**
 * The row as the server stored it, in an answer that carries it: always with `stale`, and with `applied`
 * where some columns of the change lost to later writes (protocol 2). The transport has checked its shape.
 */
function currentOf(result: PushResult): StoredChange | null {
  return result.status === 'rejected' ? null : (result.current ?? null);
}

/**
 * Applies the answer to a push, in the transaction that also deletes the push from `_sync_push`, so an
 * answer is applied exactly once.
 *
 * - `applied`: the server has the row's columns as pushed. Its pending entry goes, unless the row was
 *   written again while the push was on the wire; then it stays, its counter bases moved to the values
 *   pushed, with the columns written since. The row's server stamp becomes the pushed one, while the base of
 *   its next writes stays the stamp last received (`ServerRows.setPushed`).
 * - `stale`, or `applied` with `current` (some columns lost to later writes): each column value pushed
 *   that `current` shows overridden is a lost edit of this device's; then `current` is merged as a pulled
 *   change would be (after the same move of the bases, since the server adds a stale row's deltas too), so
 *   the columns that lost take the server's values and those written since the push stay pending.
 * - `rejected`: the row stays pending with the error, its columns pending again; the other rows are not
 *   held up by it. A delete refused because rows still point at the row is given up instead (its table is
 *   in `restore`): no later push could make it stand, and kept pending it would leave the device without a
 *   row that the server and every other device keep.
 */
export function applyPushAnswer(
  parts: ApplierParts,
  applier: PullApplier,
  push: StoredPush,
  response: PushResponse,
): PushAnswerOutcome {
  const { store, schema, tables, outbox, serverRows, clock } = parts;
  const { pushId, covers } = push;
  let sent: readonly Change[] | null = null;
  /** The change as pushed, read from the stored body only for the few answers that need it. */
  const sentChange = (index: number): Change | undefined =>
    (sent ??= (JSON.parse(push.body) as { changes: Change[] }).changes)[index];
  if (response.results.length !== covers.length) {
    throw new ProtocolError(
      502,
      'INVALID_RESPONSE',
      `the server answered ${response.results.length} results to a push of ${covers.length} changes`,
    );
  }
  return store.applying(() =>
    serverRows.batch(() => {
      // Before any pending entry goes: the row of an entry that leaves unindexed would stay unfound.
      tables.search.catchUp();
      let pushed = 0;
      const lost: NewLostEdit[] = [];
      const rejected: RejectedRow[] = [];
      const restore = new Set<string>();
      // The batch's pending entries and server stamps, read set-wise: most answers are `applied` to rows
      // nobody wrote meanwhile, and those need nothing more than their entry deleted, also set-wise below.
      const revisionsByTable = new Map<string, Map<string, number>>();
      const stampsByTable = new Map<string, Map<string, string>>();
      for (const [table, ids] of idsByTable(covers)) {
        revisionsByTable.set(table, outbox.revisionsOf(table, ids));
        stampsByTable.set(table, serverRows.stampsOf(table, ids));
      }
      const settled: PushCover[] = [];
      /**
       * Takes the row as the server stored it: the pushed values it overrode are lost edits, then it is merged
       * as a pulled row over what is still pending (`pending`: the row was written again while on the wire).
       */
      const takeCurrent = (
        index: number,
        cover: PushCover,
        current: StoredChange,
        pending: boolean,
      ): void => {
        const table = schema.table(cover.table);
        if (!table) return;
        lost.push(...noteLostValues(parts, table, cover, sentChange(index), current));
        clock.receive(current.updatedAt);
        const still = pending ? outbox.get(cover.table, cover.id) : null;
        lost.push(...applier.merge(table, current, serverRows.stampOf(cover.table, cover.id), still, 'push'));
      };
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
            // Written again while on the wire: what the device had received of the row, before this answer.
            const received =
              pendingRevision !== undefined && pendingRevision !== cover.revision
                ? serverRows.receivedOf(cover.table, cover.id)
                : null;
            if (cover.op === 'upsert') serverRows.setPushed(cover.table, cover.id, cover.stamp, previous);
            else serverRows.remove(cover.table, cover.id, previous);
            const current = currentOf(result);
            if (pendingRevision === cover.revision) {
              // Not written again while on the wire: its entry goes (with the others, after the loop).
              settled.push(cover);
            } else if (pendingRevision === undefined) {
              // The triggers keep a row that is on the wire pending; if that entry is gone anyway (removed by
              // hand), a row deleted meanwhile must still be deleted on the server.
              if (cover.op === 'upsert' && tables.read(table, cover.id) === null) {
                outbox.addDelete(cover.table, cover.id);
              }
            } else {
              if (cover.op === 'delete') outbox.setBase(cover.table, cover.id, null);
              else if (counters) outbox.setBase(cover.table, cover.id, counters);
              outbox.clearError(cover.table, cover.id);
              outbox.settlePushed(cover.table, cover.id, received);
            }
            if (current !== null) takeCurrent(index, cover, current, pendingRevision !== cover.revision);
            break;
          }
          case 'stale': {
            pushed += 1;
            if (pendingRevision !== undefined) {
              if (counters) outbox.setBase(cover.table, cover.id, counters);
              outbox.settlePushed(cover.table, cover.id, serverRows.receivedOf(cover.table, cover.id));
            }
            takeCurrent(index, cover, result.current, true);
            break;
          }
          case 'rejected': {
            rejected.push({
              table: cover.table,
              id: cover.id,
              code: result.error.code,
              message: result.error.message,
            });
            if (
              cover.op === 'delete' &&
              result.error.code === 'FK_VIOLATION' &&
              pendingRevision === cover.revision
            ) {
              // Its counter deltas (sales made before the delete) still count: they wait for the row.
              if (cover.counters) outbox.awaitRow(cover.table, cover.id);
              else outbox.remove(cover.table, cover.id);
              restore.add(cover.table);
            } else if (pendingRevision !== undefined)
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
      tables.indexWritten();
      deleteStoredPush(store, pushId);
      const conflictRows = conflictRowsOf(lost);
      return { pushed, conflicts: conflictRows.length, conflictRows, rejected, restore: [...restore] };
    }),
  );
}

/**
 * The column values a change set that `current` shows overridden: lost edits (see `lost-edits.ts` for why
 * each is a conflict), recorded in the list and, with both versions of the row, in the conflict log.
 * Counters merge by adding, so they never lose; a delete on either side is judged by the merge.
 */
function noteLostValues(
  parts: ApplierParts,
  table: SchemaTable,
  cover: PushCover,
  change: Change | undefined,
  current: StoredChange,
): NewLostEdit[] {
  if (cover.op !== 'upsert' || current.op !== 'upsert' || !change?.values) return [];
  const sentValues = change.values;
  const currentValues = current.values ?? {};
  const edits: NewLostEdit[] = [];
  for (const name of cover.columns ?? Object.keys(sentValues)) {
    const column = table.columnsByName.get(name);
    if (!column || column.merge === 'counter' || !(name in sentValues)) continue;
    const mine = (sentValues[name] ?? null) as string | number | null;
    const winning = currentValues[name] ?? null;
    if (mine === winning) continue;
    edits.push({
      table: table.name,
      rowId: cover.id,
      rowName: rowNameOf(table, currentValues, sentValues),
      kind: 'value',
      column: name,
      mine,
      winning,
      myStamp: cover.stamp,
      winningStamp: current.updatedAt,
    });
  }
  if (edits.length === 0) return edits;
  parts.lostEdits.record(edits);
  parts.conflicts.record({
    table: table.name,
    rowId: cover.id,
    winner: 'server',
    source: 'push',
    local: {
      op: 'upsert',
      values: Object.fromEntries(edits.map((edit) => [edit.column ?? '', edit.mine])),
      stamp: cover.stamp,
    },
    server: { op: 'upsert', values: currentValues, stamp: current.updatedAt },
  });
  return edits;
}

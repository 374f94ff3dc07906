import {
  parseStamp,
  type Change,
  type CompiledSchema,
  type ErrorDetail,
  type PushRequest,
  type PushResponse,
  type PushResult,
  type RowValues,
  type SchemaTable,
  type StoredChange,
} from '@tillsync/protocol';
import { checkAcrossRows, toRowWrite, type AppliedUpsert } from './rows/row-writer.js';
import {
  rowKey,
  type ConflictRecord,
  type PushTransaction,
  type RowWrite,
  type StoredRow,
  type TenantSyncStore,
} from './storage/sync-store.js';

/** A stamp further ahead of the server's clock than this is refused with CLOCK_SKEW (PROTOCOL.md §2). */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface PushOptions {
  readonly schema: CompiledSchema;
  readonly deviceId: string;
  readonly now: () => number;
  /**
   * Runs after the push's rows are written, in its transaction: sync-job triggers enqueue their jobs here,
   * so a change and the jobs it triggers commit together (and a retried pushId, which writes nothing, adds none).
   */
  readonly afterWrite?: (tx: PushTransaction, writes: readonly RowWrite[]) => Promise<void>;
}

/**
 * Applies a push (PROTOCOL.md §2, §5) in one transaction: one result per change in request order. A retried
 * `pushId` gets the answer it got the first time and changes nothing.
 */
export async function applyPush(
  store: TenantSyncStore,
  request: PushRequest,
  options: PushOptions,
): Promise<PushResponse> {
  return (await applyPushWithText(store, request, options)).response;
}

/** A push's answer, with its JSON text: the very text stored for a retry of its `pushId`. */
export interface PushAnswer {
  readonly response: PushResponse;
  readonly json: string;
}

/**
 * {@link applyPush}, answering the JSON text too, so the HTTP reply sends the text that was stored instead of
 * serialising its thousands of results a second time.
 */
export function applyPushWithText(
  store: TenantSyncStore,
  request: PushRequest,
  options: PushOptions,
): Promise<PushAnswer> {
  return store.push(async (tx) => {
    const earlier = earlierAnswer(
      await tx.findPushAnswers(options.deviceId, request.pushId),
      request,
      options.deviceId,
    );
    if (earlier !== null) return earlier;
    const response = await judgeAndWrite(tx, request.changes, options);
    const json = JSON.stringify(response);
    await tx.savePushAnswer(options.deviceId, request.pushId, json);
    return { response, json };
  });
}

/**
 * The answer this push got before: the device's own, or, for a till paired again (a new device id) that
 * resends its unanswered push, the answer given to the same changes under its earlier id. A push from
 * another device that merely shares the `pushId` but not the changes is judged as its own.
 */
function earlierAnswer(
  answers: ReadonlyArray<{ readonly deviceId: string; readonly answer: string }>,
  request: PushRequest,
  deviceId: string,
): PushAnswer | null {
  const own = answers.find((answer) => answer.deviceId === deviceId);
  if (own) return { response: JSON.parse(own.answer) as PushResponse, json: own.answer };
  for (const { answer } of answers) {
    const response = JSON.parse(answer) as PushResponse;
    const sameChanges =
      response.results.length === request.changes.length &&
      response.results.every(
        (result, index) =>
          result.table === request.changes[index]?.table && result.id === request.changes[index]?.id,
      );
    if (sameChanges) return { response, json: answer };
  }
  return null;
}

/** A change that passed the checks that need no stored row. */
interface Candidate extends AppliedUpsert {
  readonly change: Change;
}

/** A row's state while the push is judged; `lastIndex` is the change that made it, if any did. */
interface WorkingState {
  readonly values: RowValues | null;
  readonly updatedAt: string;
  readonly deviceId: string | null;
  readonly lastIndex: number | null;
}

interface Judgement {
  readonly results: PushResult[];
  readonly states: Map<string, WorkingState>;
  readonly conflicts: ConflictRecord[];
  /** The upserts that were applied, with the table they belong to. */
  readonly applied: Candidate[];
}

async function judgeAndWrite(
  tx: PushTransaction,
  changes: readonly Change[],
  options: PushOptions,
): Promise<PushResponse> {
  const rejected = new Map<number, ErrorDetail>();
  const candidates: Candidate[] = [];
  changes.forEach((change, index) => {
    const problem = checkWithoutRows(change, options);
    if ('code' in problem) rejected.set(index, problem);
    else
      candidates.push({
        index,
        change,
        table: problem.table,
        id: change.id,
        key: rowKey(change.table, change.id),
      });
  });
  const stored = await tx.getRows(candidates.map(({ change }) => change));

  // Judge the push, then the rules that look across rows (foreign keys, unique values) on its outcome;
  // a change those rules reject may change what others see, so judge again until nothing new is rejected.
  let judgement = judge(changes, candidates, stored, rejected, options);
  for (;;) {
    const problems = await checkAcrossRows(tx, judgement, stored, options.schema);
    if (problems.size === 0) break;
    for (const [index, problem] of problems) rejected.set(index, problem);
    judgement = judge(changes, candidates, stored, rejected, options);
  }

  const writes: Array<RowWrite & { readonly order: number }> = [];
  for (const [key, state] of judgement.states) {
    if (state.lastIndex === null) continue;
    const [table, id] = splitKey(key);
    writes.push({
      ...toRowWrite(options.schema.table(table), {
        table,
        id,
        values: state.values,
        updatedAt: state.updatedAt,
        deviceId: state.deviceId,
        previous: stored.get(key),
      }),
      order: state.lastIndex,
    });
  }
  writes.sort((a, b) => a.order - b.order);
  await tx.writeRows(writes);
  await options.afterWrite?.(tx, writes);
  await tx.addConflicts(judgement.conflicts);
  return { results: judgement.results, serverTime: new Date(options.now()).toISOString() };
}

/** A UTF-16 surrogate without its pair: text no database column can hold as it was sent. */
const LONE_SURROGATE = /\p{Cs}/u;

function checkWithoutRows(change: Change, options: PushOptions): ErrorDetail | { table: SchemaTable } {
  const table = options.schema.table(change.table);
  if (!table) return { code: 'UNKNOWN_TABLE', message: `there is no table "${change.table}"` };
  if (LONE_SURROGATE.test(change.id)) {
    return {
      code: 'INVALID_VALUE',
      message: `the id ${JSON.stringify(change.id)} of a ${change.table} row is not valid Unicode text (it holds half of a surrogate pair)`,
    };
  }
  if (table.serverOnly) {
    return {
      code: 'READ_ONLY_TABLE',
      message: `${change.table} is written on the server only; devices cannot push to it`,
    };
  }
  const stamp = parseStamp(change.updatedAt);
  if (!stamp) {
    return {
      code: 'INVALID_VALUE',
      message: `updatedAt "${change.updatedAt}" is not a stamp of the form <ISO time>-<4 hex digits>-<node id>`,
    };
  }
  const now = options.now();
  if (stamp.ms > now + MAX_CLOCK_SKEW_MS) {
    return {
      code: 'CLOCK_SKEW',
      message: `updatedAt ${change.updatedAt} is more than 5 minutes ahead of the server's clock (${new Date(now).toISOString()}): set this device's clock right`,
    };
  }
  if (change.op === 'upsert' && change.values === undefined) {
    return { code: 'INVALID_VALUE', message: `an upsert of ${change.table} ${change.id} carries no values` };
  }
  return { table };
}

/** Runs the push in order over the stored rows, in memory: last write wins, counters add. */
function judge(
  changes: readonly Change[],
  candidates: readonly Candidate[],
  stored: ReadonlyMap<string, StoredRow>,
  rejected: ReadonlyMap<number, ErrorDetail>,
  options: PushOptions,
): Judgement {
  // Filled in as the changes are judged; the ones left are the rejected ones (see the end).
  const judged = new Array<PushResult | undefined>(changes.length);
  const states = new Map<string, WorkingState>();
  const conflicts: ConflictRecord[] = [];
  const applied: Candidate[] = [];
  const stateOf = (key: string): WorkingState | undefined => {
    const working = states.get(key);
    if (working) return working;
    const row = stored.get(key);
    return row && { values: row.values, updatedAt: row.updatedAt, deviceId: row.deviceId, lastIndex: null };
  };

  for (const candidate of candidates) {
    const { index, change, table, key } = candidate;
    const rejection = rejected.get(index);
    if (rejection) continue;
    const state = stateOf(key);
    const live = state !== undefined && state.values !== null;
    let incoming: RowValues | null = null;
    let deltas: Record<string, number> = {};
    if (change.op === 'upsert') {
      const check = options.schema.checkValues(table, change.values ?? {}, live);
      if (!check.ok) {
        judged[index] = {
          table: change.table,
          id: change.id,
          status: 'rejected',
          error: { code: check.code, message: check.message },
        };
        continue;
      }
      ({ values: incoming, deltas } = resolveCounters(check.values, live ? state.values : null));
    }

    if (state && change.updatedAt <= state.updatedAt) {
      if (change.updatedAt === state.updatedAt) {
        // The very write the server holds, sent again: nothing to do, and its deltas were counted.
        judged[index] = { table: change.table, id: change.id, status: 'applied' };
        continue;
      }
      // Older than the server's row: the row stays, but counter deltas are added all the same.
      let current = state;
      if (live && Object.keys(deltas).length > 0 && Object.values(deltas).some((delta) => delta !== 0)) {
        const values = { ...state.values };
        for (const [column, delta] of Object.entries(deltas))
          values[column] = Number(values[column] ?? 0) + delta;
        // An applied change earlier in this push still owns the row's state, so the foreign keys and
        // unique values of that state are judged against it.
        current = { ...state, values, lastIndex: state.lastIndex ?? index };
        states.set(key, current);
      }
      judged[index] = {
        table: change.table,
        id: change.id,
        status: 'stale',
        current: toStoredChange(key, current),
      };
      conflicts.push({
        table: change.table,
        id: change.id,
        winner: toStoredChange(key, current),
        loser: toStoredChange(key, {
          values: incoming,
          updatedAt: change.updatedAt,
          deviceId: options.deviceId,
          lastIndex: index,
        }),
        winnerDeviceId: state.deviceId,
        loserDeviceId: options.deviceId,
      });
      continue;
    }

    const next: WorkingState = {
      values: incoming,
      updatedAt: change.updatedAt,
      deviceId: options.deviceId,
      lastIndex: index,
    };
    // Another device's write is overridden: its live row, or its delete when this upsert brings the row
    // back. Either way the owner can see where it went.
    if (state && state.deviceId !== options.deviceId && (live || change.op === 'upsert')) {
      conflicts.push({
        table: change.table,
        id: change.id,
        winner: toStoredChange(key, next),
        loser: toStoredChange(key, state),
        winnerDeviceId: options.deviceId,
        loserDeviceId: state.deviceId,
      });
    }
    states.set(key, next);
    judged[index] = { table: change.table, id: change.id, status: 'applied' };
    if (change.op === 'upsert') applied.push(candidate);
  }
  const results = changes.map(
    (change, index): PushResult =>
      judged[index] ?? {
        table: change.table,
        id: change.id,
        status: 'rejected',
        error: rejected.get(index) ?? { code: 'INVALID_VALUE', message: 'the change could not be judged' },
      },
  );
  return { results, states, conflicts, applied };
}

/** Turns counter deltas into values on top of the row's current ones; a new row's counters start at 0. */
function resolveCounters(
  checked: Record<string, string | number | null | { delta: number }>,
  current: RowValues | null,
): { values: RowValues; deltas: Record<string, number> } {
  const values: RowValues = {};
  const deltas: Record<string, number> = {};
  for (const column in checked) {
    const value = checked[column];
    if (value === undefined) continue;
    if (value !== null && typeof value === 'object') {
      deltas[column] = value.delta;
      values[column] = Number(current?.[column] ?? 0) + value.delta;
    } else {
      values[column] = value;
    }
  }
  return { values, deltas };
}

function toStoredChange(key: string, state: WorkingState): StoredChange {
  const [table, id] = splitKey(key);
  return state.values === null
    ? { table, id, op: 'delete', updatedAt: state.updatedAt }
    : { table, id, op: 'upsert', updatedAt: state.updatedAt, values: state.values };
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf('\u0000');
  return [key.slice(0, at), key.slice(at + 1)];
}

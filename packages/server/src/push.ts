import {
  formatStamp,
  isCounterDelta,
  MAX_COUNTER,
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
import {
  checkAcrossRows,
  DeletedRowReferences,
  visible,
  mergeChange,
  restamp,
  stampOf,
  toRowWrite,
  type AppliedUpsert,
  type DeletedTarget,
  type Merge,
  type MergeState,
  type ReferenceToClear,
} from './rows/row-writer.js';
import {
  rowKey,
  type ConflictRecord,
  type PushStartRead,
  type PushTransaction,
  type RowWrite,
  type StoredRow,
  type TenantSyncStore,
  type UniqueKey,
} from './storage/sync-store.js';
import { uniqueKeyOf } from './rows/unique-rules.js';

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
  /**
   * Aborted when the device has stopped waiting for the answer (its connection closed): a push still queued
   * for the tenant's lock then is not judged (it rejects with the signal's reason), and its retry is.
   */
  readonly signal?: AbortSignal;
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
  // The checks that need no stored row are made before the tenant's lock is taken.
  const screened = screen(request.changes, options);
  // One read for what the push needs first: its earlier answers, the rows it writes and the rows its
  // references point at, and the device's store.
  const startRead: PushStartRead = {
    deviceId: options.deviceId,
    pushId: request.pushId,
    keys: [...screened.candidates.map(({ change }) => change), ...referencedKeys(screened.candidates)],
    withStore: options.schema.hasStoreScopes,
    uniqueKeys: claimedKeys(screened.candidates),
  };
  return store.push(
    async (tx) => {
      const start = await tx.readPushStart(startRead);
      const earlier = earlierAnswer(start.answers, request, options.deviceId);
      if (earlier !== null) return earlier;
      const response = await judgeAndWrite(tx, request.changes, options, {
        candidates: screened.candidates,
        rejected: new Map(screened.rejected),
        stored: start.rows,
        storeId: start.storeId,
        uniqueHolders: start.uniqueHolders,
      });
      const json = JSON.stringify(response);
      await tx.savePushAnswer(options.deviceId, request.pushId, json);
      return { response, json };
    },
    options.signal,
    startRead,
  );
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
interface WorkingState extends MergeState {
  readonly lastIndex: number | null;
  /** Whether the pushing device's file holds this state as it is (`RowWrite.heldBy`): see {@link holdsAfter}. */
  readonly held: boolean;
}

interface Judgement {
  readonly results: PushResult[];
  readonly states: Map<string, WorkingState>;
  readonly conflicts: ConflictRecord[];
  /** The upserts that were applied, each with the columns it wrote. */
  readonly applied: AppliedUpsert[];
  /** The deletes that were applied to live rows. */
  readonly deletes: Candidate[];
}

/** The node id the server adds to the stamps of its own writes in a push (references it clears). */
const SERVER_NODE = 'server';

/** The longest node id a stamp may carry (PROTOCOL.md §1). */
const MAX_NODE_ID_LENGTH = 64;

/** A push's changes sorted by {@link checkWithoutRows}: those that passed, and the problems of the others. */
interface Screened {
  readonly candidates: readonly Candidate[];
  readonly rejected: ReadonlyMap<number, ErrorDetail>;
}

function screen(changes: readonly Change[], options: PushOptions): Screened {
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
  return { candidates, rejected };
}

/**
 * The rows the upserts' references name, as the changes give them: read with the push's own rows, so the
 * foreign keys are judged without a read of their own (a reference the merge leaves elsewhere is read then).
 */
function referencedKeys(candidates: readonly Candidate[]): Array<{ table: string; id: string }> {
  const keys: Array<{ table: string; id: string }> = [];
  for (const { change, table } of candidates) {
    if (change.op !== 'upsert' || change.values === undefined) continue;
    for (const column of table.references) {
      const target = change.values[column.name];
      if (typeof target === 'string' && column.references)
        keys.push({ table: column.references, id: target });
    }
  }
  return keys;
}

/**
 * The keys under unique rules the upserts' values claim, as the changes give them (every column of the rule
 * a plain value): their holders are read with the push's rows. A key the merge makes otherwise is looked
 * up when it is judged.
 */
function claimedKeys(candidates: readonly Candidate[]): UniqueKey[] {
  const keys: UniqueKey[] = [];
  for (const { change, table } of candidates) {
    const values = change.op === 'upsert' ? change.values : undefined;
    if (values === undefined) continue;
    for (const rule of table.uniqueRules) {
      const plain: RowValues = {};
      for (const column of rule.columns) {
        const value = values[column];
        if (typeof value === 'string' || typeof value === 'number') plain[column] = value;
      }
      // A key the values do not give as plain values is found by the merge, and looked up then.
      const value = uniqueKeyOf(rule, plain);
      if (value !== null) keys.push({ table: table.name, column: rule.name, value });
    }
  }
  return keys;
}

/** What a push read before it is judged (see {@link applyPushWithText}). */
interface PushRead {
  readonly candidates: readonly Candidate[];
  readonly rejected: Map<number, ErrorDetail>;
  /** The stored rows of the candidates, and of the rows they reference; rows read later are added. */
  readonly stored: Map<string, StoredRow>;
  /** The pushing device's store, read when the schema has per-store tables (null otherwise). */
  readonly storeId: string | null;
  /** The holders of the keys {@link claimedKeys} found, read with the rows. */
  readonly uniqueHolders: ReadonlyMap<string, string | null>;
}

async function judgeAndWrite(
  tx: PushTransaction,
  changes: readonly Change[],
  options: PushOptions,
  read: PushRead,
): Promise<PushResponse> {
  const { candidates, rejected, stored, storeId } = read;
  // A device writes the tenant's rows and its own store's (PROTOCOL.md §7).
  if (options.schema.hasStoreScopes)
    for (const candidate of candidates) {
      const problem = scopeProblem(candidate, stored.get(candidate.key), storeId);
      if (problem) rejected.set(candidate.index, problem);
    }

  // Judge the push, then the rules that look across rows (foreign keys, unique values, what a delete leaves
  // to the rows that reference it) on its outcome; a change those rules reject may change what others see,
  // so judge again until nothing new is rejected.
  const references = new DeletedRowReferences(tx, options.schema, storeId ?? '');
  let judgement = judge(changes, candidates, stored, rejected, options);
  let toClear: readonly ReferenceToClear[];
  for (;;) {
    // An optional reference to a row deleted before this push is cleared like one to a row it deletes: a
    // sale naming a customer another till deleted meanwhile is still a sale.
    const deletedTargets: DeletedTarget[] = [];
    const problems = await checkAcrossRows(
      tx,
      judgement,
      stored,
      options.schema,
      storeId ?? '',
      deletedTargets,
      read.uniqueHolders,
    );
    const deletes = await references.judge(judgement.deletes, judgement.states);
    for (const [index, problem] of deletes.problems) if (!problems.has(index)) problems.set(index, problem);
    // An upsert refused only for naming, through a required reference, a row this same push deletes: the
    // delete is what breaks the rule (PROTOCOL.md §2 push: references within a push are resolved first, and
    // a delete of a row live rows still need is refused), so once nothing else is refused, the delete is,
    // and the upsert is judged again against the row that stays. Refusing the upsert instead would leave it
    // pointing at a row gone for good (a till that sold a product, then deleted it, in one push).
    const onDeleted = upsertsOnDeletedRows(judgement, problems, changes, stored, storeId ?? '');
    if (onDeleted.upserts.size > 0) {
      const others = [...problems].filter(([index]) => !onDeleted.upserts.has(index));
      for (const [index, problem] of others.length > 0 ? others : onDeleted.refusals)
        rejected.set(index, problem);
      judgement = judge(changes, candidates, stored, rejected, options);
      continue;
    }
    if (problems.size === 0) {
      toClear = [
        ...deletes.toClear,
        ...deletedTargets.map(({ upsert, column, target }) => ({
          table: upsert.table,
          id: upsert.id,
          key: upsert.key,
          column,
          target,
        })),
      ];
      break;
    }
    for (const [index, problem] of problems) rejected.set(index, problem);
    judgement = judge(changes, candidates, stored, rejected, options);
  }
  await clearReferences(tx, judgement, stored, toClear);

  const writes: Array<RowWrite & { readonly order: number }> = [];
  for (const [key, state] of judgement.states) {
    if (state.lastIndex === null) continue;
    const [table, id] = splitKey(key);
    writes.push({
      ...toRowWrite(
        options.schema.table(table),
        {
          table,
          id,
          values: state.values,
          updatedAt: state.updatedAt,
          deviceId: state.deviceId,
          stamps: state.values === null ? null : state.stamps,
          previous: stored.get(key),
          heldBy: state.held ? options.deviceId : null,
        },
        storeId ?? '',
      ),
      order: state.lastIndex,
    });
  }
  writes.sort((a, b) => a.order - b.order);
  await tx.writeRows(writes);
  await options.afterWrite?.(tx, writes);
  await tx.addConflicts(judgement.conflicts);
  return { results: judgement.results, serverTime: new Date(options.now()).toISOString() };
}

/**
 * The upserts among `problems` refused only for naming, through a required reference they wrote, a row the
 * same push deletes (see the loop in {@link judgeAndWrite}), and the refusals of those deletes, by index,
 * each naming one such upsert's row. An upsert with another reference to a row that is not there is refused
 * for that anyway, and holds no delete up. `stored` holds every row a reference of the push points at (the
 * cross-row checks read them); `writerScope` is the pushing device's store.
 */
function upsertsOnDeletedRows(
  judgement: Judgement,
  problems: ReadonlyMap<number, ErrorDetail>,
  changes: readonly Change[],
  stored: ReadonlyMap<string, StoredRow>,
  writerScope: string,
): { readonly upserts: Set<number>; readonly refusals: Map<number, ErrorDetail> } {
  const upserts = new Set<number>();
  const refusals = new Map<number, ErrorDetail>();
  for (const upsert of judgement.applied) {
    if (problems.get(upsert.index)?.code !== 'FK_VIOLATION') continue;
    const state = judgement.states.get(upsert.key);
    if (!state?.values || state.lastIndex !== upsert.index) continue;
    const deletes = new Map<number, ErrorDetail>();
    let otherwiseMissing = false;
    for (const column of upsert.table.references) {
      const target = state.values[column.name];
      if (typeof target !== 'string' || column.references === undefined) continue;
      if (upsert.columns && !upsert.columns.has(column.name)) continue;
      const key = rowKey(column.references, target);
      const working = judgement.states.get(key);
      if (working?.values === null && working.lastIndex !== null) {
        // An optional reference to a row the push deletes is cleared, not refused.
        if (column.required === true && changes[working.lastIndex]?.op === 'delete')
          deletes.set(working.lastIndex, {
            code: 'FK_VIOLATION',
            message: `${column.references} ${target} is still referenced: ${upsert.table.name} ${upsert.id} points at it through ${upsert.table.name}.${column.name}; delete that row first, or in the same push`,
          });
        continue;
      }
      // As the cross-row checks judge it: a row never stored is missing; a deleted one too, unless the
      // reference is optional (the server clears it).
      const row = working ?? visible(stored.get(key), writerScope);
      if (!row || (row.values === null && column.required === true)) otherwiseMissing = true;
    }
    if (otherwiseMissing || deletes.size === 0) continue;
    upserts.add(upsert.index);
    for (const [index, refusal] of deletes) refusals.set(index, refusal);
  }
  return { upserts, refusals };
}

/**
 * Clears the optional references to the rows the push deleted (or that it points at rows deleted before it),
 * as the server's own write: each cleared column is stamped just past the stamp of the value it clears
 * ({@link clearStamp}), so that it wins over that value and every write before it, and loses to every later
 * write of the column. A device's write that points the row elsewhere, made before the delete reached the
 * server but pushed after it, is later than the value cleared and so wins, as it would have had it arrived
 * first (the delete then clears nothing): the outcome does not depend on the order pushes arrive in. The
 * cleared rows are written after the push's own changes, and every device pulls them.
 */
async function clearReferences(
  tx: PushTransaction,
  judgement: Judgement,
  stored: Map<string, StoredRow>,
  toClear: readonly ReferenceToClear[],
): Promise<void> {
  if (toClear.length === 0) return;
  const unread = toClear.filter(({ key }) => !judgement.states.has(key) && !stored.has(key));
  if (unread.length > 0) {
    const rows = await tx.getRows(unread.map(({ table, id }) => ({ table: table.name, id })));
    for (const [key, row] of rows) stored.set(key, row);
  }
  const stateOf = (key: string): MergeState | undefined => judgement.states.get(key) ?? stored.get(key);
  let order = judgement.results.length;
  for (const { key, column, target } of toClear) {
    const state = stateOf(key);
    if (!state?.values || state.values[column] !== target) continue;
    const stamp = clearStamp(stampOf(state, column)[0]);
    const next = restamp(state, { ...state.values, [column]: null }, [column], stamp, null);
    // The server's own write: the device whose push wrote the row no longer holds it as stored.
    judgement.states.set(key, { ...next, lastIndex: order++, held: false });
  }
}

/**
 * The stamp of the server's clear of a column whose value was written at `cleared`: the same stamp with
 * `-server` added to its node id, which sorts after `cleared` and before every later stamp any node issues
 * (node ids of devices never start with another node's id followed by `-server`). A node id too long for
 * that takes the next counter value instead, with the server's node id.
 */
export function clearStamp(cleared: string): string {
  const parsed = parseStamp(cleared);
  if (parsed && parsed.nodeId.length + SERVER_NODE.length + 1 <= MAX_NODE_ID_LENGTH)
    return `${cleared}-${SERVER_NODE}`;
  const { ms, counter } = parsed ?? { ms: 0, counter: 0 };
  return counter < MAX_COUNTER
    ? formatStamp({ ms, counter: counter + 1, nodeId: SERVER_NODE })
    : formatStamp({ ms: ms + 1, counter: 0, nodeId: SERVER_NODE });
}

/**
 * Why a device of `storeId` (null: a device of no store) may not write this change of a per-store table: a
 * row of another store, a store column naming another store (or one that does not exist), or a write that
 * would move its own store's row to another store. Null when it may.
 */
function scopeProblem(
  candidate: Candidate,
  stored: StoredRow | undefined,
  storeId: string | null,
): ErrorDetail | null {
  const { table, change } = candidate;
  if (table.storeColumn === null) return null;
  if (stored && stored.scope !== storeId)
    return {
      code: 'OUT_OF_SCOPE',
      message: `${table.name} ${change.id} is a row of another store: a device writes its own store's rows only`,
    };
  const named = change.op === 'upsert' ? change.values?.[table.storeColumn] : undefined;
  if (named === undefined || named === storeId) return null;
  return {
    code: 'OUT_OF_SCOPE',
    message: stored
      ? `${table.name}.${table.storeColumn} of ${change.id} cannot move to store ${JSON.stringify(named)}: a device never moves a row to another store`
      : `${table.name}.${table.storeColumn} ${JSON.stringify(named)} is not this device's store (${storeId ?? 'none'}): a device writes its own store's rows only`,
  };
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

/** Runs the push in order over the stored rows, in memory: last write wins per column, counters add. */
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
  const applied: AppliedUpsert[] = [];
  const deletes: Candidate[] = [];
  const stateOf = (key: string): WorkingState | undefined => {
    const working = states.get(key);
    if (working) return working;
    const row = stored.get(key);
    return row && { ...row, lastIndex: null, held: row.heldBy === options.deviceId };
  };

  for (const candidate of candidates) {
    const { index, change, table, key } = candidate;
    if (rejected.has(index)) continue;
    const state = stateOf(key);
    const merge = mergeChange({ schema: options.schema, table, deviceId: options.deviceId }, state, change);
    if (merge.status === 'rejected') {
      judged[index] = { table: change.table, id: change.id, status: 'rejected', error: merge.error };
      continue;
    }
    let current = state;
    if (merge.next) {
      // A stale change that only added counter deltas leaves the row to the change that made it, if one in
      // this push did, so the foreign keys and unique values of that state are judged against it.
      const lastIndex = merge.status === 'stale' ? (state?.lastIndex ?? index) : index;
      current = { ...merge.next, lastIndex, held: holdsAfter(merge, change, table, state) };
      states.set(key, current);
    }
    conflicts.push(...merge.conflicts);
    // A stale change always met a row (it lost to one), so it always answers `current`.
    judged[index] =
      merge.withCurrent && current
        ? { table: change.table, id: change.id, status: merge.status, current: toStoredChange(key, current) }
        : { table: change.table, id: change.id, status: 'applied' };
    if (merge.status !== 'applied' || !merge.next) continue;
    if (change.op === 'upsert')
      applied.push(merge.written ? { ...candidate, columns: merge.written } : candidate);
    else if (state?.values) deletes.push(candidate);
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
  return { results, states, conflicts, applied, deletes };
}

/**
 * Whether the device that pushed `change` holds the row's new state as the server stores it, so that its
 * pulls need not send the row back (issue 20, "no echo"). Only where that is certain: the change stood
 * whole (every column it carried, no `current` in the answer), its stamp is the row's (the stamp the device
 * records for the row once the answer is applied, which the checksums compare), and it made the whole
 * state: a delete, a row created with every column given as a plain value, or columns written over a state
 * the device held already. Anything else (a column lost to a later write, a counter merged with another
 * device's delta, the server's own write) is sent, as every row was before.
 */
function holdsAfter(
  merge: Extract<Merge, { status: 'applied' | 'stale' }>,
  change: Change,
  table: SchemaTable,
  before: WorkingState | undefined,
): boolean {
  if (merge.status !== 'applied' || merge.withCurrent || merge.next?.updatedAt !== change.updatedAt)
    return false;
  if (merge.written !== null) return before?.held === true;
  if (change.op === 'delete') return true;
  const values = change.values ?? {};
  return table.columns.every((column) => {
    const value = values[column.name];
    return value !== undefined && !isCounterDelta(value);
  });
}

function toStoredChange(key: string, state: MergeState): StoredChange {
  const [table, id] = splitKey(key);
  return state.values === null
    ? { table, id, op: 'delete', updatedAt: state.updatedAt }
    : { table, id, op: 'upsert', updatedAt: state.updatedAt, values: state.values };
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf('\u0000');
  return [key.slice(0, at), key.slice(at + 1)];
}

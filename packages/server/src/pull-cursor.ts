import { decodeCursor, encodeCursor } from '@tillsync/protocol';
import type { PullPage, SnapshotKey, TenantSyncStore } from './storage/sync-store.js';

/**
 * Where a pull stands: the sequence number of the protocol's cursor and, while a fresh snapshot is paged in
 * sequence order (cursors handed out before snapshots came in key order), the purge point its first page saw
 * and the last sequence number stored when it began (see `TenantSyncStore.pull`). While a fresh snapshot
 * delivers the rows that existed when it began, in key order (`TenantSyncStore.pullSnapshot`), `snapshot` is
 * the last key delivered and `seq` the snapshot's mark. On the wire it is one opaque string.
 */
interface PullPosition {
  readonly seq: number;
  readonly snapshotFloor: number;
  readonly snapshot?: SnapshotKey;
  readonly snapshotEnd?: number;
}

/** Joins the floor and the end to a protocol cursor; a protocol cursor never holds them. */
const SEPARATOR = '-';
const BASE36 = /^[0-9a-z]{1,11}$/;
/**
 * A snapshot's key cursor: `k1.<mark in base 36>.<table>.<id>`, the names in base64url (a table and an id
 * are at most 128 characters, so such a cursor stays under the 2,048 a pull's `since` may have).
 */
const KEY_PREFIX = 'k1.';
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function encodePullCursor(position: PullPosition): string {
  if (position.snapshot) {
    const { table, afterId } = position.snapshot;
    return `${KEY_PREFIX}${position.seq.toString(36)}.${toBase64url(table)}.${toBase64url(afterId)}`;
  }
  const cursor = encodeCursor(position.seq);
  // Past a point the cursor need not say it, so most cursors stay plain protocol cursors.
  const ahead = (point: number): string => (point > position.seq ? point.toString(36) : '');
  const floor = ahead(position.snapshotFloor);
  const end = ahead(position.snapshotEnd ?? 0);
  if (end !== '') return `${cursor}${SEPARATOR}${floor}${SEPARATOR}${end}`;
  return floor !== '' ? `${cursor}${SEPARATOR}${floor}` : cursor;
}

/** The position a cursor stands at, or null when it is not one this server hands out. Empty is the start. */
function decodePullCursor(cursor: string): PullPosition | null {
  if (cursor.startsWith(KEY_PREFIX)) return decodeKeyCursor(cursor.slice(KEY_PREFIX.length));
  const [head = '', floor, end, ...rest] = cursor.split(SEPARATOR);
  const seq = decodeCursor(head);
  if (seq === null || rest.length > 0) return null;
  // The floor is left empty where only the end is ahead of the cursor.
  const snapshotFloor = floor === undefined || (floor === '' && end !== undefined) ? 0 : pointOf(floor);
  const snapshotEnd = end === undefined ? 0 : pointOf(end);
  if (snapshotFloor === null || snapshotEnd === null) return null;
  return { seq, snapshotFloor, snapshotEnd };
}

function pointOf(text: string): number | null {
  if (!BASE36.test(text)) return null;
  const point = Number.parseInt(text, 36);
  return Number.isSafeInteger(point) ? point : null;
}

function decodeKeyCursor(body: string): PullPosition | null {
  const [mark = '', table = '', afterId = '', ...rest] = body.split('.');
  if (rest.length > 0 || !BASE36.test(mark) || !BASE64URL.test(table) || !BASE64URL.test(afterId))
    return null;
  const seq = Number.parseInt(mark, 36);
  if (!Number.isSafeInteger(seq)) return null;
  return {
    seq,
    snapshotFloor: 0,
    snapshot: { table: fromBase64url(table), afterId: fromBase64url(afterId) },
  };
}

const toBase64url = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');
const fromBase64url = (text: string): string => Buffer.from(text, 'base64url').toString('utf8');

/** What {@link pullAt} needs besides the store: the snapshot's table order, and the device that pulls. */
export interface PullAtOptions {
  /** Parents before the tables that reference them: a snapshot's rows come table by table in this order. */
  readonly tableOrder: readonly string[];
  readonly deviceId?: string;
}

/**
 * The page a pull from the cursor `since` answers, or null when `since` is not a cursor this server hands
 * out. A fresh snapshot (no cursor), and its pages among the rows that existed when it began, go by key
 * (`TenantSyncStore.pullSnapshot`, PROTOCOL.md §2); any other cursor in sequence order. Answer the page's
 * {@link cursorAfter}.
 */
export async function pullAt(
  store: Pick<TenantSyncStore, 'pull' | 'pullSnapshot'>,
  since: string,
  limit: number,
  options: PullAtOptions,
): Promise<PullPage | null> {
  if (since === '') return store.pullSnapshot(null, limit, options);
  const position = decodePullCursor(since);
  if (position === null) return null;
  if (position.snapshot !== undefined)
    return store.pullSnapshot({ mark: position.seq, key: position.snapshot }, limit, options);
  return store.pull(position.seq, limit, position.snapshotFloor, options.deviceId, position.snapshotEnd);
}

/** The cursor the next page of the pull starts from. */
export function cursorAfter(page: Extract<PullPage, { resyncRequired: false }>): string {
  return encodePullCursor({
    seq: page.cursorSeq,
    snapshotFloor: page.snapshotFloor,
    ...(page.snapshot === undefined ? {} : { snapshot: page.snapshot }),
    ...(page.snapshotEnd === undefined ? {} : { snapshotEnd: page.snapshotEnd }),
  });
}

import { decodeCursor, encodeCursor } from '@tillsync/protocol';

/**
 * Where a pull stands: the sequence number of the protocol's cursor and, while a fresh snapshot is paged,
 * the purge point its first page saw (see `TenantSyncStore.pull`). On the wire it is still one opaque string.
 */
export interface PullPosition {
  readonly seq: number;
  readonly snapshotFloor: number;
}

/** Joins the floor to a protocol cursor; a protocol cursor never holds it. */
const SEPARATOR = '-';
const BASE36 = /^[0-9a-z]{1,11}$/;

export function encodePullCursor(position: PullPosition): string {
  const cursor = encodeCursor(position.seq);
  // Past the floor it says nothing more, so most cursors stay plain protocol cursors.
  return position.snapshotFloor > position.seq
    ? `${cursor}${SEPARATOR}${position.snapshotFloor.toString(36)}`
    : cursor;
}

/** The position a cursor stands at, or null when it is not one this server hands out. Empty is the start. */
export function decodePullCursor(cursor: string): PullPosition | null {
  const [head = '', floor, ...rest] = cursor.split(SEPARATOR);
  const seq = decodeCursor(head);
  if (seq === null || rest.length > 0) return null;
  if (floor === undefined) return { seq, snapshotFloor: 0 };
  if (!BASE36.test(floor)) return null;
  const snapshotFloor = Number.parseInt(floor, 36);
  return Number.isSafeInteger(snapshotFloor) ? { seq, snapshotFloor } : null;
}

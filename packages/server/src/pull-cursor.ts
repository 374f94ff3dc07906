import { decodeCursor, encodeCursor } from '@tillsync/protocol';

/**
 * Where a pull stands: the sequence number of the protocol's cursor and, while a fresh snapshot is paged,
 * the purge point its first page saw and the last sequence number stored when it began (see
 * `TenantSyncStore.pull`); no `snapshotEnd` at all for the empty cursor, a fresh snapshot's start. On the
 * wire it is still one opaque string.
 */
export interface PullPosition {
  readonly seq: number;
  readonly snapshotFloor: number;
  readonly snapshotEnd?: number;
}

/** Joins the floor and the end to a protocol cursor; a protocol cursor never holds them. */
const SEPARATOR = '-';
const BASE36 = /^[0-9a-z]{1,11}$/;

export function encodePullCursor(position: PullPosition): string {
  const cursor = encodeCursor(position.seq);
  // Past a point the cursor need not say it, so most cursors stay plain protocol cursors.
  const ahead = (point: number): string => (point > position.seq ? point.toString(36) : '');
  const floor = ahead(position.snapshotFloor);
  const end = ahead(position.snapshotEnd ?? 0);
  if (end !== '') return `${cursor}${SEPARATOR}${floor}${SEPARATOR}${end}`;
  return floor !== '' ? `${cursor}${SEPARATOR}${floor}` : cursor;
}

/** The position a cursor stands at, or null when it is not one this server hands out. Empty is the start. */
export function decodePullCursor(cursor: string): PullPosition | null {
  // A cursor handed out at sequence 0 (a tenant that held nothing yet) is not the start: the device pulled.
  if (cursor === '') return { seq: 0, snapshotFloor: 0 };
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

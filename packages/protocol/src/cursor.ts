/**
 * Pull cursors. On the wire a cursor is opaque: clients store it and send it back. Inside, it is the
 * tenant's sequence number of the last change the page delivered; a sequence number is handed out in
 * commit order, so "everything after this number" never skips a change.
 */

const PREFIX = 's1.';

export function encodeCursor(seq: number): string {
  return PREFIX + seq.toString(36);
}

/** The sequence number a cursor stands at, or `null` when the string is not a cursor. Empty means 0. */
export function decodeCursor(cursor: string): number | null {
  if (cursor === '') return 0;
  if (!cursor.startsWith(PREFIX)) return null;
  const body = cursor.slice(PREFIX.length);
  if (!/^[0-9a-z]{1,11}$/.test(body)) return null;
  const seq = Number.parseInt(body, 36);
  return Number.isSafeInteger(seq) ? seq : null;
}

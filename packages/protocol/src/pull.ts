import { Type, type Static } from '@sinclair/typebox';
import { PulledChange } from './change.js';

/** The page size when a pull names none, and the largest the server hands out. */
export const DEFAULT_PULL_LIMIT = 1000;
export const MAX_PULL_LIMIT = 5000;

/** The query string of a pull; as in every query string, the limit travels as text. */
export const PullQuery = Type.Object({
  // A fresh snapshot's cursor names the last key it delivered (a table and an id of up to 128 characters).
  since: Type.Optional(Type.String({ maxLength: 2048 })),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
});
export type PullQuery = Static<typeof PullQuery>;

export const PullResponse = Type.Object({
  changes: Type.Array(PulledChange),
  cursor: Type.String(),
  /**
   * The store whose rows this pull carries besides the tenant's (PROTOCOL.md §7): the device's
   * store as the page was read. A device learns its store here, and after a move (a `410 RESYNC_REQUIRED`,
   * then a fresh snapshot) its new one.
   */
  storeId: Type.Optional(Type.String()),
  hasMore: Type.Boolean(),
  serverTime: Type.String(),
  /**
   * On the first page of a fresh snapshot (no `since`) that has more pages: the rows the device's scope holds
   * as the snapshot begins (the tenant's, and its store's in a chain), so a device can tell how far its first
   * sync got. Deletes the server still keeps come
   * on top, so it is a measure, not an exact count.
   */
  snapshotRows: Type.Optional(Type.Integer({ minimum: 0 })),
  checksums: Type.Optional(
    Type.Record(
      Type.String(),
      Type.Object({ count: Type.Integer(), sum: Type.String({ pattern: '^[0-9a-f]{16}$' }) }),
    ),
  ),
});
export type PullResponse = Static<typeof PullResponse>;

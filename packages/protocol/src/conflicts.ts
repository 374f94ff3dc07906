import { Type, type Static } from '@sinclair/typebox';
import { RowValues } from './change.js';

/**
 * `GET /api/conflicts` (owner): "where did my edit go?" Every column value that last-write-wins overrode
 * without its winner having known it is kept (PROTOCOL.md §5), with both values, the winner, when, and which
 * devices wrote them. A plain later edit (its writer had received the value it replaced) is not a conflict.
 */

/** One side of a conflict: what a device (or the server) wrote. */
export const ConflictVersion = Type.Object({
  op: Type.Union([Type.Literal('upsert'), Type.Literal('delete')]),
  /** The stamp of the write. */
  updatedAt: Type.String(),
  /**
   * What it wrote: the one column of a column conflict; the row's values when the conflict is about the row
   * as a whole (`column` null); absent for a delete.
   */
  values: Type.Optional(RowValues),
  /** The device that wrote it; null when the server (a sync job, or a reference cleared) did. */
  deviceId: Type.Union([Type.String(), Type.Null()]),
});
export type ConflictVersion = Static<typeof ConflictVersion>;

/** How the dashboard shows a column's values: money (`*_cents`), a 0/1 flag, a reference to another row. */
export const ColumnDisplay = Type.Union([
  Type.Literal('money'),
  Type.Literal('flag'),
  Type.Literal('reference'),
  Type.Literal('plain'),
]);
export type ColumnDisplay = Static<typeof ColumnDisplay>;

/** A value that was overridden: the version kept (`winner`) and the one overridden (`loser`). */
export const ConflictInfo = Type.Object({
  table: Type.String(),
  id: Type.String(),
  /**
   * The column whose value was overridden; null when a delete met writes (a delete that lost to later
   * writes, or a write that lost to a delete, or a row brought back over a delete). Records kept before
   * protocol 2 are whole rows, with `column` null.
   */
  column: Type.Union([Type.String(), Type.Null()]),
  /** When the server decided it. */
  at: Type.String(),
  winner: ConflictVersion,
  loser: ConflictVersion,
  /** The row's name as the shop reads it (its `name`, else its `sku`), or null when it has neither. */
  rowName: Type.Union([Type.String(), Type.Null()]),
  /** How each column in `values` reads (columns not listed: plain). */
  display: Type.Record(Type.String(), ColumnDisplay),
  /** The names of the rows that reference columns in `values` point at: id → name. */
  names: Type.Record(Type.String(), Type.String()),
});
export type ConflictInfo = Static<typeof ConflictInfo>;

export const ConflictList = Type.Array(ConflictInfo);
export type ConflictList = Static<typeof ConflictList>;

/** `GET /api/conflicts?table=&id=&limit=`: newest first; the limit travels as text, 1 to 500 (default 100). */
export const ConflictListQuery = Type.Object(
  {
    table: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$' })),
  },
  { additionalProperties: false },
);
export type ConflictListQuery = Static<typeof ConflictListQuery>;

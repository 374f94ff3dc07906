import { Type, type Static } from '@sinclair/typebox';
import { RowValues } from './change.js';

/**
 * `GET /api/conflicts` (owner): "where did my edit go?" Every write that last-write-wins overrode is kept
 * (PROTOCOL.md §5) with both versions, the winner, when, and which devices wrote them.
 */

/** One version of a row in a conflict: what a device (or the server) wrote. */
export const ConflictVersion = Type.Object({
  op: Type.Union([Type.Literal('upsert'), Type.Literal('delete')]),
  updatedAt: Type.String(),
  /** The row's values as written; absent for a delete. */
  values: Type.Optional(RowValues),
  /** The device that wrote it; null when the server (a sync job) did. */
  deviceId: Type.Union([Type.String(), Type.Null()]),
});
export type ConflictVersion = Static<typeof ConflictVersion>;

/** A write that was overridden: the version kept (`winner`) and the one overridden (`loser`). */
export const ConflictInfo = Type.Object({
  table: Type.String(),
  id: Type.String(),
  /** When the server decided it. */
  at: Type.String(),
  winner: ConflictVersion,
  loser: ConflictVersion,
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

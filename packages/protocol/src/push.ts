import { Type, type Static } from '@sinclair/typebox';
import { Change, StoredChange } from './change.js';
import { ErrorDetail } from './error.js';

/** The most changes one push may carry; a device sends larger backlogs in several pushes. */
export const MAX_CHANGES_PER_PUSH = 10_000;

export const PushRequest = Type.Object({
  pushId: Type.String({ minLength: 1, maxLength: 128 }),
  changes: Type.Array(Change, { maxItems: MAX_CHANGES_PER_PUSH }),
});
export type PushRequest = Static<typeof PushRequest>;

export const PushResult = Type.Union([
  Type.Object({
    table: Type.String(),
    id: Type.String(),
    status: Type.Literal('applied'),
    /** Present when some of the columns the change carried lost to later writes: the row as stored. */
    current: Type.Optional(StoredChange),
  }),
  Type.Object({
    table: Type.String(),
    id: Type.String(),
    status: Type.Literal('stale'),
    current: StoredChange,
  }),
  Type.Object({
    table: Type.String(),
    id: Type.String(),
    status: Type.Literal('rejected'),
    error: ErrorDetail,
  }),
]);
export type PushResult = Static<typeof PushResult>;

export const PushResponse = Type.Object({
  results: Type.Array(PushResult),
  serverTime: Type.String(),
});
export type PushResponse = Static<typeof PushResponse>;

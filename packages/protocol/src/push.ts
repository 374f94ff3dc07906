import { Type, type Static } from '@sinclair/typebox';
import { Change } from './change.js';
import { ErrorDetail } from './error.js';

/** The most changes one push may carry; a device sends larger backlogs in several pushes. */
export const MAX_CHANGES_PER_PUSH = 10_000;

export const PushRequest = Type.Object({
  pushId: Type.String({ minLength: 1, maxLength: 128 }),
  changes: Type.Array(Change, { maxItems: MAX_CHANGES_PER_PUSH }),
});
export type PushRequest = Static<typeof PushRequest>;

const StoredChangeSchema = Type.Object({
  table: Type.String(),
  id: Type.String(),
  op: Type.Union([Type.Literal('upsert'), Type.Literal('delete')]),
  updatedAt: Type.String(),
  values: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()]))),
});

export const PushResult = Type.Union([
  Type.Object({ table: Type.String(), id: Type.String(), status: Type.Literal('applied') }),
  Type.Object({
    table: Type.String(),
    id: Type.String(),
    status: Type.Literal('stale'),
    current: StoredChangeSchema,
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

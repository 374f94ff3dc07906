import { Type, type Static } from '@sinclair/typebox';

/**
 * A counter column's entry in a change that does not create the row: what the sender added to the column
 * since its last push (PROTOCOL.md §5).
 */
export const CounterDelta = Type.Object({ delta: Type.Integer() }, { additionalProperties: false });
export type CounterDelta = Static<typeof CounterDelta>;

/**
 * One row's new state (PROTOCOL.md §1). The shape is checked here; whether the table, the columns and the
 * values fit the schema is judged per change by the server, which rejects that change alone.
 */
export const Change = Type.Object({
  table: Type.String({ minLength: 1, maxLength: 128 }),
  id: Type.String({ minLength: 1, maxLength: 128 }),
  op: Type.Union([Type.Literal('upsert'), Type.Literal('delete')]),
  updatedAt: Type.String({ minLength: 1, maxLength: 128 }),
  values: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  /**
   * The row's `updatedAt` as the sender last received it before this write (protocol 2): a value this write
   * overrides that is not later than `base` was known to the writer, so overriding it is an edit, not a
   * conflict (PROTOCOL.md §5).
   */
  base: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});
export type Change = Static<typeof Change>;

/** The values of a row as stored and pulled: plain JSON scalars, counters summed. */
export const RowValues = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()]));
export type RowValues = Static<typeof RowValues>;

/** A change as the server hands it out on pull and in `current`: counters are plain integers. */
export const StoredChange = Type.Object({
  table: Type.String(),
  id: Type.String(),
  op: Type.Union([Type.Literal('upsert'), Type.Literal('delete')]),
  updatedAt: Type.String(),
  values: Type.Optional(RowValues),
});
export type StoredChange = Readonly<Static<typeof StoredChange>>;

/**
 * A row that left the device's scope (PROTOCOL.md §7): a sync job moved it to another store. Its old store's
 * devices receive it once, on pull only, and drop their copy; it is not a delete (the row lives on in its
 * new store), so a device neither records nor pushes anything for it. `updatedAt` is the row's stamp as
 * moved.
 */
export const EvictChange = Type.Object({
  table: Type.String(),
  id: Type.String(),
  op: Type.Literal('evict'),
  updatedAt: Type.String(),
  /** An eviction carries no values (declared, so `change.values` reads alike on every pulled change). */
  values: Type.Optional(Type.Never()),
});
export type EvictChange = Readonly<Static<typeof EvictChange>>;

/** A change as a pull hands it out: a row's latest state, or its eviction from the scope. */
export const PulledChange = Type.Union([StoredChange, EvictChange]);
export type PulledChange = StoredChange | EvictChange;

export function isCounterDelta(value: unknown): value is CounterDelta {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.keys(value).length === 1 &&
    Number.isSafeInteger((value as { delta?: unknown }).delta)
  );
}

import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * The map file of `tillsync attach` (docs/adopt.md): which database a shop program keeps, and which of its
 * tables and columns stand for which synced tables and columns. It is the runtime schema of that file; the
 * checks against the synced schema and the database itself are in `adopt-plan.ts`.
 */

const Scalar = Type.Union([Type.String(), Type.Number(), Type.Null()]);

/** How a legacy column's value becomes a synced column's value and back. */
export const Conversion = Type.Union([
  /** A price in decimal currency (19.99) as whole cents (1999). */
  Type.Literal('decimal-to-cents'),
  /** A date and time (`2026-12-01 10:30:00`, taken as UTC) as an ISO-8601 time. */
  Type.Literal('datetime-to-iso'),
]);
export type Conversion = Static<typeof Conversion>;

export const ColumnBinding = Type.Union([
  /** The legacy column's name: the value is taken as it is. */
  Type.String({ minLength: 1 }),
  Type.Object(
    {
      column: Type.String({ minLength: 1 }),
      convert: Type.Optional(Conversion),
      /** A value table, legacy value (as text) → synced value; it must read both ways (one to one). */
      values: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()]))),
    },
    { additionalProperties: false },
  ),
]);
export type ColumnBinding = Static<typeof ColumnBinding>;

export const TableBinding = Type.Object(
  {
    /** The legacy table. */
    table: Type.String({ minLength: 1 }),
    /**
     * Its primary key: one integer column, or all the columns of a composite key (a join table's), each of
     * them bound in `columns` too.
     */
    key: Type.Union([
      Type.String({ minLength: 1 }),
      Type.Array(Type.String({ minLength: 1 }), { minItems: 2 }),
    ]),
    /**
     * How a row from another device gets its integer key: `database` (SQLite INTEGER PRIMARY KEY,
     * AUTO_INCREMENT; the default when the database assigns keys), or `max+1` (the highest key + 1, taken in
     * the bridge's transaction; for a program that assigns keys itself).
     */
    newKeys: Type.Optional(Type.Union([Type.Literal('database'), Type.Literal('max+1')])),
    /** Synced column → legacy column. */
    columns: Type.Record(Type.String(), ColumnBinding),
    /** Values of synced columns the legacy table does not have, for the rows it creates. */
    defaults: Type.Optional(Type.Record(Type.String(), Scalar)),
    /** Values of legacy columns the map does not bind, for the rows other devices create. */
    legacyDefaults: Type.Optional(Type.Record(Type.String(), Scalar)),
  },
  { additionalProperties: false },
);
export type TableBinding = Static<typeof TableBinding>;

export const LegacyLocation = Type.Union([
  /** A SQLite file; a relative path is taken from the map file's folder. */
  Type.Object({ sqlite: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
  /** A MariaDB or MySQL database: `mysql://user:password@host:port/database`. */
  Type.Object({ mysql: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
]);
export type LegacyLocation = Static<typeof LegacyLocation>;

export const AdoptMap = Type.Object(
  {
    legacy: LegacyLocation,
    /** Synced table → its legacy table. */
    tables: Type.Record(Type.String(), TableBinding),
    /** Remarks for the person who reviews the map (what `adopt init` could not bind, and why); not read. */
    notes: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);
export type AdoptMap = Static<typeof AdoptMap>;

/**
 * A map that does not fit: its own form, the synced schema or the legacy database. Each problem names the
 * table and column it is about.
 */
export class AdoptMapError extends Error {
  override readonly name = 'AdoptMapError';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`the map does not fit: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/** Checks the form of a parsed map file and returns it typed, or throws an {@link AdoptMapError}. */
export function parseAdoptMap(input: unknown): AdoptMap {
  if (Value.Check(AdoptMap, input)) return input;
  const problems = [...Value.Errors(AdoptMap, input)].slice(0, 5).map((error) => {
    const where = error.path.replace(/^\//, '').replaceAll('/', '.') || '(top)';
    return `${where}: ${error.message}`;
  });
  throw new AdoptMapError(problems);
}

/** The legacy column a binding reads. */
export function legacyColumnOf(binding: ColumnBinding): string {
  return typeof binding === 'string' ? binding : binding.column;
}

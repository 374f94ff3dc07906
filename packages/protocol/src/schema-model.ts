import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isCounterDelta } from './change.js';
import type { RejectionCode } from './error.js';

/**
 * The declared schema of the synced tables (PROTOCOL.md §3): the one JSON form that `serve --schema`
 * reads, `GET /api/sync/schema` answers and devices create their tables from.
 */

export const ColumnSpec = Type.Object(
  {
    type: Type.Union([Type.Literal('text'), Type.Literal('integer'), Type.Literal('real')]),
    required: Type.Optional(Type.Boolean()),
    /** Unique among the table's live rows. */
    unique: Type.Optional(Type.Boolean()),
    /** The table whose `id` this column holds. */
    references: Type.Optional(Type.String()),
    /** `counter` merges by adding (PROTOCOL.md §5); the default is last write wins with the row. */
    merge: Type.Optional(Type.Union([Type.Literal('lww'), Type.Literal('counter')])),
    default: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Null()])),
    /** The only values the column may hold. */
    allowed: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Number()]), { minItems: 1 })),
    /** `iso-time`: an ISO-8601 UTC time; `date`: YYYY-MM-DD. */
    format: Type.Optional(Type.Union([Type.Literal('iso-time'), Type.Literal('date')])),
  },
  { additionalProperties: false },
);
export type ColumnSpec = Static<typeof ColumnSpec>;

export const TableSpec = Type.Object(
  {
    columns: Type.Record(Type.String(), ColumnSpec),
    /** Written on the server only (by sync jobs); devices receive it but may not push to it. */
    serverOnly: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type TableSpec = Static<typeof TableSpec>;

export const SyncSchema = Type.Object(
  {
    version: Type.Integer({ minimum: 1 }),
    tables: Type.Record(Type.String(), TableSpec),
  },
  { additionalProperties: false },
);
export type SyncSchema = Static<typeof SyncSchema>;

const NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** A schema file that cannot be used; `problems` name the table and column of each. */
export class SchemaError extends Error {
  override readonly name = 'SchemaError';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`the schema is not valid:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** Checks a parsed schema file and returns it typed, or throws a {@link SchemaError}. */
export function parseSchema(input: unknown): SyncSchema {
  if (!Value.Check(SyncSchema, input)) {
    const problems = [...Value.Errors(SyncSchema, input)].slice(0, 20).map((error) => {
      const where = error.path.replace(/^\//, '').replaceAll('/', '.') || '(top)';
      return `${where}: ${error.message}`;
    });
    throw new SchemaError(problems);
  }
  const problems: string[] = [];
  const tableNames = Object.keys(input.tables);
  if (tableNames.length === 0) problems.push('tables: declare at least one table');
  for (const [tableName, table] of Object.entries(input.tables)) {
    if (!NAME.test(tableName)) {
      problems.push(
        `${tableName}: a table name is lower-case letters, digits and "_", starting with a letter`,
      );
    }
    for (const [columnName, column] of Object.entries(table.columns)) {
      const where = `${tableName}.${columnName}`;
      if (columnName === 'id') problems.push(`${where}: "id" is implicit (the text primary key); remove it`);
      else if (!NAME.test(columnName)) {
        problems.push(
          `${where}: a column name is lower-case letters, digits and "_", starting with a letter`,
        );
      }
      if (column.references !== undefined) {
        if (!(column.references in input.tables)) {
          problems.push(
            `${where}: references table "${column.references}", which the schema does not declare`,
          );
        }
        if (column.type !== 'text')
          problems.push(`${where}: a reference holds an id, so its type must be "text"`);
      }
      if (column.merge === 'counter') {
        if (column.type !== 'integer') problems.push(`${where}: a counter column must be of type "integer"`);
        if (column.unique) problems.push(`${where}: a counter column cannot be unique`);
      }
      if (column.default !== undefined && column.default !== null) {
        const problem = checkValue(column, column.default);
        if (problem) problems.push(`${where}: the default ${JSON.stringify(column.default)} ${problem}`);
      }
    }
  }
  if (problems.length > 0) throw new SchemaError(problems);
  return input;
}

/** A column of a {@link CompiledSchema}. */
export interface SchemaColumn extends ColumnSpec {
  readonly name: string;
}

/** A table of a {@link CompiledSchema}, with the lookups push and pull need at hand. */
export interface SchemaTable {
  readonly name: string;
  readonly columns: readonly SchemaColumn[];
  readonly columnsByName: ReadonlyMap<string, SchemaColumn>;
  readonly counterColumns: readonly SchemaColumn[];
  readonly uniqueColumns: readonly SchemaColumn[];
  readonly references: readonly SchemaColumn[];
  readonly serverOnly: boolean;
}

/** What {@link CompiledSchema.checkValues} found: the row to store, or why the change is rejected. */
export type ValuesCheck =
  | { readonly ok: true; readonly values: Record<string, string | number | null | { delta: number }> }
  | { readonly ok: false; readonly code: RejectionCode; readonly message: string };

/** A schema made ready for use: tables in dependency order and per-change validation. */
export class CompiledSchema {
  readonly source: SyncSchema;
  readonly version: number;
  /** Every table, parents before the tables that reference them. */
  readonly tables: readonly SchemaTable[];
  readonly #byName: ReadonlyMap<string, SchemaTable>;

  constructor(schema: SyncSchema) {
    this.source = schema;
    this.version = schema.version;
    const tables = Object.entries(schema.tables).map(([name, spec]) => compileTable(name, spec));
    this.#byName = new Map(tables.map((table) => [table.name, table]));
    this.tables = dependencyOrder(tables);
  }

  table(name: string): SchemaTable | undefined {
    return this.#byName.get(name);
  }

  /**
   * Judges the values of an upsert against the table's columns. `exists` says whether the row is stored
   * already: a counter takes a plain starting value only when the row is created, and a delta otherwise.
   * Missing columns take their default, or null.
   */
  checkValues(table: SchemaTable, values: Record<string, unknown>, exists: boolean): ValuesCheck {
    for (const name of Object.keys(values)) {
      if (name !== 'id' && !table.columnsByName.has(name)) {
        return reject('UNKNOWN_COLUMN', `${table.name} has no column "${name}"`);
      }
    }
    const row: Record<string, string | number | null | { delta: number }> = {};
    for (const column of table.columns) {
      const where = `${table.name}.${column.name}`;
      const given = values[column.name];
      if (column.merge === 'counter') {
        if (isCounterDelta(given)) {
          row[column.name] = { delta: given.delta };
          continue;
        }
        if (given === undefined && exists) {
          row[column.name] = { delta: 0 };
          continue;
        }
        if (exists && given !== null) {
          return reject(
            'INVALID_VALUE',
            `${where} is a counter: send {"delta": n} for a row that exists, not a plain value`,
          );
        }
      }
      const value = given === undefined ? (column.default ?? null) : given;
      if (value === null) {
        if (column.required) return reject('INVALID_VALUE', `${where} is required`);
        row[column.name] = null;
        continue;
      }
      const problem = checkValue(column, value);
      if (problem) return reject('INVALID_VALUE', `${where}: ${JSON.stringify(value)} ${problem}`);
      row[column.name] = value as string | number;
    }
    return { ok: true, values: row };
  }
}

function reject(code: RejectionCode, message: string): ValuesCheck {
  return { ok: false, code, message };
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

/** Why a non-null value does not fit a column, or null when it does. */
export function checkValue(column: ColumnSpec, value: unknown): string | null {
  switch (column.type) {
    case 'text':
      if (typeof value !== 'string') return 'is not text';
      break;
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) return 'is not an integer';
      break;
    case 'real':
      if (typeof value !== 'number' || !Number.isFinite(value)) return 'is not a number';
      break;
  }
  if (column.allowed && !column.allowed.includes(value)) {
    return `is not one of ${column.allowed.map((allowed) => JSON.stringify(allowed)).join(', ')}`;
  }
  if (column.format === 'date') {
    const text = value as string;
    if (!DATE.test(text) || Number.isNaN(Date.parse(`${text}T00:00:00Z`)))
      return 'is not a date (YYYY-MM-DD)';
  }
  if (column.format === 'iso-time') {
    const text = value as string;
    if (!ISO_TIME.test(text) || Number.isNaN(Date.parse(text))) return 'is not an ISO-8601 time';
  }
  return null;
}

function compileTable(name: string, spec: TableSpec): SchemaTable {
  const columns = Object.entries(spec.columns).map(([columnName, column]) => ({
    ...column,
    name: columnName,
  }));
  return {
    name,
    columns,
    columnsByName: new Map(columns.map((column) => [column.name, column])),
    counterColumns: columns.filter((column) => column.merge === 'counter'),
    uniqueColumns: columns.filter((column) => column.unique === true),
    references: columns.filter((column) => column.references !== undefined),
    serverOnly: spec.serverOnly ?? false,
  };
}

/** Parents before children; a cycle or a self-reference keeps the declared order among its tables. */
function dependencyOrder(tables: readonly SchemaTable[]): SchemaTable[] {
  const byName = new Map(tables.map((table) => [table.name, table]));
  const ordered: SchemaTable[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (table: SchemaTable): void => {
    if (state.has(table.name)) return;
    state.set(table.name, 'visiting');
    for (const column of table.references) {
      const parent = byName.get(column.references ?? '');
      if (parent && parent !== table) visit(parent);
    }
    state.set(table.name, 'done');
    ordered.push(table);
  };
  tables.forEach(visit);
  return ordered;
}

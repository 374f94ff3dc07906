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

/**
 * Which devices receive a table's rows (PROTOCOL.md §7): `"tenant"` (the default), every device of the
 * tenant; `{"storeColumn": "store_id"}`, only the devices of the store that column names. A store column is
 * text, required, and references {@link STORES_TABLE}.
 */
export const TableScope = Type.Union([
  Type.Literal('tenant'),
  Type.Object({ storeColumn: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
]);
export type TableScope = Static<typeof TableScope>;

/**
 * A unique rule over several columns: no two live rows hold the same values in all of them (a row with a
 * null in one of them is not held to it, as in SQL). A rule over one column is written on the column
 * (`"unique": true`).
 */
export const UniqueRuleSpec = Type.Array(Type.String({ minLength: 1 }), { minItems: 2, maxItems: 8 });
export type UniqueRuleSpec = Static<typeof UniqueRuleSpec>;

export const TableSpec = Type.Object(
  {
    columns: Type.Record(Type.String(), ColumnSpec),
    /** Written on the server only (by sync jobs); devices receive it but may not push to it. */
    serverOnly: Type.Optional(Type.Boolean()),
    /** Which devices receive the table's rows. @defaultValue `"tenant"` */
    scope: Type.Optional(TableScope),
    /** Unique rules over several columns, each a list of column names. */
    unique: Type.Optional(Type.Array(UniqueRuleSpec, { minItems: 1 })),
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

/**
 * The table of the tenant's stores (PROTOCOL.md §7). The stores themselves are the server's accounts model
 * (created by the owner's `POST /api/stores`), so they exist in every tenant whatever its schema. A schema
 * with per-store tables must also declare `stores` as a synced table, tenant-scoped and `serverOnly`, with a
 * required text `name`: the server writes one row per store into it (the row's id is the store's id), so
 * every device holds the chain's stores, a store column's reference resolves on the device like any other,
 * and a till can show its store's name. Devices never write it.
 */
export const STORES_TABLE = 'stores';

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
    problems.push(...scopeProblems(input, tableName, table), ...uniqueRuleProblems(tableName, table));
  }
  if (problems.length > 0) throw new SchemaError(problems);
  return input;
}

/** What is wrong with a table's scope: a store column that is not a required reference to `stores`. */
function scopeProblems(schema: SyncSchema, tableName: string, table: TableSpec): string[] {
  const storeColumn = storeColumnOf(table);
  if (tableName === STORES_TABLE) {
    const problems: string[] = [];
    if (storeColumn !== null)
      problems.push(`${tableName}: the stores table is the tenant's ("scope": "tenant")`);
    if (table.serverOnly !== true)
      problems.push(`${tableName}: the server writes the stores table; declare it "serverOnly": true`);
    const name = table.columns['name'];
    if (name?.type !== 'text' || name.required !== true)
      problems.push(`${tableName}.name: the stores table needs a required text column "name"`);
    return problems;
  }
  if (storeColumn === null) return [];
  const where = `${tableName}.${storeColumn}`;
  const column = table.columns[storeColumn];
  if (column === undefined)
    return [`${tableName}: its scope names the store column "${storeColumn}", which it does not declare`];
  const problems: string[] = [];
  if (column.type !== 'text' || column.required !== true || column.references !== STORES_TABLE)
    problems.push(`${where}: a store column is text, required, and references "${STORES_TABLE}"`);
  if (!(STORES_TABLE in schema.tables))
    problems.push(`${tableName}: a per-store table needs the schema to declare the "${STORES_TABLE}" table`);
  return problems;
}

/**
 * What is wrong with a table's unique rules. In a per-store table every rule holds the store column: a rule
 * across stores would let one store's devices learn of another store's values by being refused.
 */
function uniqueRuleProblems(tableName: string, table: TableSpec): string[] {
  const problems: string[] = [];
  const storeColumn = storeColumnOf(table);
  for (const [columnName, column] of Object.entries(table.columns)) {
    if (column.unique === true && storeColumn !== null && columnName !== storeColumn)
      problems.push(
        `${tableName}.${columnName}: a unique rule of a per-store table must include its store column ` +
          `(write "unique": [["${storeColumn}", "${columnName}"]] on the table)`,
      );
  }
  for (const rule of table.unique ?? []) {
    const where = `${tableName}.unique ${JSON.stringify(rule)}`;
    if (new Set(rule).size !== rule.length) problems.push(`${where}: names a column twice`);
    for (const columnName of rule) {
      const column = table.columns[columnName];
      if (column === undefined) problems.push(`${where}: the table has no column "${columnName}"`);
      else if (column.merge === 'counter') problems.push(`${where}: a counter column cannot be unique`);
    }
    if (storeColumn !== null && !rule.includes(storeColumn))
      problems.push(
        `${where}: a unique rule of a per-store table must include its store column "${storeColumn}"`,
      );
  }
  return problems;
}

/** The column that names a row's store, or null for a table of the whole tenant. */
export function storeColumnOf(table: TableSpec): string | null {
  return table.scope === undefined || table.scope === 'tenant' ? null : table.scope.storeColumn;
}

/** A column of a {@link CompiledSchema}. */
export interface SchemaColumn extends ColumnSpec {
  readonly name: string;
}

/**
 * A unique rule of a {@link SchemaTable}: a column's `"unique": true` or one of the table's `unique` lists,
 * judged alike.
 */
export interface UniqueRule {
  /** The columns, in the order declared. */
  readonly columns: readonly string[];
  /** The columns joined by `+` (`store_id+day`): how the rule is named in messages and stored. */
  readonly name: string;
}

/** A table of a {@link CompiledSchema}, with the lookups push and pull need at hand. */
export interface SchemaTable {
  readonly name: string;
  readonly columns: readonly SchemaColumn[];
  readonly columnsByName: ReadonlyMap<string, SchemaColumn>;
  readonly counterColumns: readonly SchemaColumn[];
  /** Every unique rule: single columns first, in column order, then the table's lists. */
  readonly uniqueRules: readonly UniqueRule[];
  readonly references: readonly SchemaColumn[];
  readonly serverOnly: boolean;
  /** The column that names a row's store (PROTOCOL.md §7); null: every device of the tenant receives it. */
  readonly storeColumn: string | null;
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
  /** Whether some table is per store (a chain's schema). */
  readonly hasStoreScopes: boolean;

  constructor(schema: SyncSchema) {
    this.source = schema;
    this.version = schema.version;
    const tables = Object.entries(schema.tables).map(([name, spec]) => compileTable(name, spec));
    this.#byName = new Map(tables.map((table) => [table.name, table]));
    this.tables = dependencyOrder(tables);
    this.hasStoreScopes = tables.some((table) => table.storeColumn !== null);
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
    uniqueRules: [
      ...columns.filter((column) => column.unique === true).map((column) => [column.name]),
      ...(spec.unique ?? []),
    ].map((ruleColumns) => ({ columns: ruleColumns, name: ruleColumns.join('+') })),
    references: columns.filter((column) => column.references !== undefined),
    serverOnly: spec.serverOnly ?? false,
    storeColumn: storeColumnOf(spec),
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

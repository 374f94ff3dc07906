import {
  checkValue,
  storeColumnOf,
  type ColumnSpec,
  type SyncSchema,
  type TableSpec,
} from './schema-model.js';

/**
 * What changes between the schema a server last served and the one it is given (PROTOCOL.md §2 schema).
 * An additive change reaches a fleet while it works: devices on the older version go on pushing and pulling.
 * A breaking change would make a device's rows or writes mean something else, so `serve --schema` refuses it
 * unless told to accept it (every device then takes a fresh snapshot).
 */

/** One difference between two schemas, described for the person who runs the server. */
export interface SchemaChange {
  readonly kind: 'additive' | 'breaking';
  readonly table: string;
  /** Null when the change is to the table as a whole. */
  readonly column: string | null;
  /** Names the table and column: `products.barcode: a new optional column`. */
  readonly message: string;
}

/**
 * A rule the new schema adds that the stored rows must already meet for the change to be additive: a new
 * reference, a new unique rule, or narrower values (a new list of allowed values, a new format).
 */
export interface StoredRowRule {
  readonly table: string;
  /** The column; for a unique rule over several columns, the rule's name (`store_id+day`). */
  readonly column: string;
  readonly rule: 'references' | 'unique' | 'values';
  /** A unique rule over several columns (the table's `unique` lists): its columns, in the order declared. */
  readonly columns?: readonly string[];
}

/** What {@link compareSchemas} found. */
export interface SchemaComparison {
  /** Every difference, additive and breaking, in table and column order. */
  readonly changes: readonly SchemaChange[];
  readonly breaking: readonly SchemaChange[];
  /** The rules the stored rows must meet (checked by the server on its rows, not here). */
  readonly storedRowRules: readonly StoredRowRule[];
}

/** `serve --schema` cannot serve this schema on this database; `problems` name the table and column of each. */
export class SchemaChangeError extends Error {
  override readonly name = 'SchemaChangeError';
  readonly problems: readonly string[];

  /** `message` is the whole sentence, with the problems in it; `problems` are each on their own. */
  constructor(message: string, problems: readonly string[] = []) {
    super(message);
    this.problems = problems;
  }
}

/** Whether two schemas declare the same tables and columns (key order aside), whatever their versions. */
export function sameSchemaContent(a: SyncSchema, b: SyncSchema): boolean {
  return canonicalJson(a.tables) === canonicalJson(b.tables);
}

/**
 * Compares the schema served before with the one to serve now, table by table and column by column.
 *
 * @example
 * const { breaking } = compareSchemas(stored, next);
 * if (breaking.length > 0) console.log(breaking.map((change) => change.message).join('\n'));
 */
export function compareSchemas(previous: SyncSchema, next: SyncSchema): SchemaComparison {
  const changes: SchemaChange[] = [];
  const storedRowRules: StoredRowRule[] = [];
  for (const [tableName, before] of Object.entries(previous.tables)) {
    const after = next.tables[tableName];
    if (after === undefined) {
      changes.push(breaking(tableName, null, 'the table was removed (or renamed)'));
      continue;
    }
    compareTables(tableName, before, after, changes, storedRowRules);
  }
  for (const tableName of Object.keys(next.tables)) {
    if (!(tableName in previous.tables)) changes.push(additive(tableName, null, 'a new table'));
  }
  return { changes, breaking: changes.filter((change) => change.kind === 'breaking'), storedRowRules };
}

function compareTables(
  tableName: string,
  before: TableSpec,
  after: TableSpec,
  changes: SchemaChange[],
  rules: StoredRowRule[],
): void {
  if (before.serverOnly !== true && after.serverOnly === true)
    changes.push(breaking(tableName, null, 'devices may no longer write the table (it became serverOnly)'));
  if (before.serverOnly === true && after.serverOnly !== true)
    changes.push(additive(tableName, null, 'devices may now write the table'));
  const [wasScope, nowScope] = [scopeText(before), scopeText(after)];
  if (wasScope !== nowScope)
    changes.push(
      breaking(
        tableName,
        null,
        `its scope changed from ${wasScope} to ${nowScope} (devices hold rows they no longer receive, or lack rows they now receive)`,
      ),
    );
  compareTableUniqueRules(tableName, before, after, changes, rules);
  for (const [columnName, was] of Object.entries(before.columns)) {
    const now = after.columns[columnName];
    if (now === undefined)
      changes.push(breaking(tableName, columnName, 'the column was removed (or renamed)'));
    else compareColumns(tableName, columnName, was, now, changes, rules);
  }
  for (const [columnName, column] of Object.entries(after.columns)) {
    if (columnName in before.columns) continue;
    if (column.merge === 'counter') changes.push(additive(tableName, columnName, 'a new counter column'));
    else if (column.default !== undefined && column.default !== null)
      changes.push(additive(tableName, columnName, 'a new column with a default'));
    else if (column.required !== true) changes.push(additive(tableName, columnName, 'a new optional column'));
    else
      changes.push(
        breaking(
          tableName,
          columnName,
          'a new required column without a default (give it a default, or make it optional)',
        ),
      );
  }
}

/** A table's scope as a message names it. */
function scopeText(table: TableSpec): string {
  const storeColumn = storeColumnOf(table);
  return storeColumn === null ? 'the whole tenant' : `per store (by ${storeColumn})`;
}

/**
 * The table's unique rules over several columns, by their columns in order: a new one is additive if the
 * stored rows meet it (as a new single-column rule is), a dropped one is additive.
 */
function compareTableUniqueRules(
  table: string,
  before: TableSpec,
  after: TableSpec,
  changes: SchemaChange[],
  rules: StoredRowRule[],
): void {
  const was = new Set((before.unique ?? []).map((columns) => columns.join('+')));
  const now = new Set((after.unique ?? []).map((columns) => columns.join('+')));
  for (const columns of after.unique ?? []) {
    const name = columns.join('+');
    if (was.has(name)) continue;
    changes.push(additive(table, null, `a new unique rule over (${columns.join(', ')})`));
    rules.push({ table, column: name, rule: 'unique', columns });
  }
  for (const columns of before.unique ?? []) {
    if (!now.has(columns.join('+')))
      changes.push(additive(table, null, `its unique rule over (${columns.join(', ')}) was dropped`));
  }
}

function compareColumns(
  table: string,
  column: string,
  was: ColumnSpec,
  now: ColumnSpec,
  changes: SchemaChange[],
  rules: StoredRowRule[],
): void {
  if (was.type !== now.type) {
    changes.push(breaking(table, column, `its type changed from ${was.type} to ${now.type}`));
    return;
  }
  const wasMerge = was.merge ?? 'lww';
  const nowMerge = now.merge ?? 'lww';
  if (wasMerge !== nowMerge)
    changes.push(breaking(table, column, `its merge rule changed from ${wasMerge} to ${nowMerge}`));
  if (was.required === true && now.required !== true)
    changes.push(additive(table, column, 'a required column made optional'));
  if (was.required !== true && now.required === true)
    changes.push(breaking(table, column, 'an optional column made required'));
  if (JSON.stringify(was.default ?? null) !== JSON.stringify(now.default ?? null))
    changes.push(additive(table, column, 'its default changed (it applies to rows created from now on)'));
  if (now.references !== undefined && now.references !== was.references) {
    changes.push(additive(table, column, `a new reference to ${now.references}`));
    rules.push({ table, column, rule: 'references' });
  } else if (was.references !== undefined && now.references === undefined) {
    changes.push(additive(table, column, 'its reference was dropped'));
  }
  if (now.unique === true && was.unique !== true) {
    changes.push(additive(table, column, 'a new unique rule'));
    rules.push({ table, column, rule: 'unique' });
  } else if (was.unique === true && now.unique !== true) {
    changes.push(additive(table, column, 'its unique rule was dropped'));
  }
  if (narrowsValues(was, now)) {
    changes.push(additive(table, column, 'its values are narrowed (allowed values or format)'));
    rules.push({ table, column, rule: 'values' });
  } else if (JSON.stringify([was.allowed, was.format]) !== JSON.stringify([now.allowed, now.format])) {
    changes.push(additive(table, column, 'its values are widened (allowed values or format)'));
  }
}

/** Whether a value the old column took may be refused by the new one. */
function narrowsValues(was: ColumnSpec, now: ColumnSpec): boolean {
  if (now.format !== undefined && now.format !== was.format) return true;
  if (now.allowed === undefined) return false;
  return was.allowed === undefined || was.allowed.some((value) => !now.allowed?.includes(value));
}

/**
 * A stored value brought to a column whose type may have changed: the same value in the column's type
 * (text `"12"` for an integer column becomes 12, an integer becomes its text), or `fits: false` when it has
 * no such form or breaks the column's allowed values or format. Null fits every column here; whether the
 * column may be null is the caller's to judge. Used by the server on its stored rows and by a device on its
 * table when a breaking change is accepted, so both ends convert alike.
 */
export function fitValue(
  column: ColumnSpec,
  value: unknown,
): { readonly fits: true; readonly value: string | number | null } | { readonly fits: false } {
  if (value === null || value === undefined) return { fits: true, value: null };
  const converted = convert(column.type, value);
  if (converted === undefined || checkValue(column, converted) !== null) return { fits: false };
  return { fits: true, value: converted };
}

function convert(type: ColumnSpec['type'], value: unknown): string | number | undefined {
  if (type === 'text') {
    if (typeof value === 'string') return value;
    return typeof value === 'number' && Number.isFinite(value) ? String(value) : undefined;
  }
  const number =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && value.trim() !== ''
        ? Number(value)
        : Number.NaN;
  if (!Number.isFinite(number)) return undefined;
  if (type === 'integer') return Number.isSafeInteger(number) ? number : undefined;
  return number;
}

function additive(table: string, column: string | null, what: string): SchemaChange {
  return { kind: 'additive', table, column, message: `${where(table, column)}: ${what}` };
}

function breaking(table: string, column: string | null, what: string): SchemaChange {
  return { kind: 'breaking', table, column, message: `${where(table, column)}: ${what}` };
}

function where(table: string, column: string | null): string {
  return column === null ? table : `${table}.${column}`;
}

/** JSON with object keys sorted, so that two equal schemas written in another order compare equal. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

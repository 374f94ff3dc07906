import type { CompiledSchema, SchemaColumn, SchemaTable } from '@tillsync/protocol';
import { AdoptMapError, legacyColumnOf, type AdoptMap, type Conversion } from './adopt-map.js';
import type { LegacyDatabase } from './legacy-database.js';

/**
 * A map checked against the synced schema and the legacy database, resolved into what the bridge uses: per
 * synced table its legacy table, key and columns (as the database spells them), each with its conversion.
 */

/** A value of a synced column. */
export type SyncedValue = string | number | null;

/** A value table read both ways. */
export interface ValueTable {
  readonly toSynced: ReadonlyMap<string, string | number>;
  readonly toLegacy: ReadonlyMap<string | number, string>;
}

/** A synced column and the legacy column it stands for. */
export interface BoundColumn {
  readonly synced: SchemaColumn;
  readonly legacy: string;
  readonly convert: Conversion | null;
  readonly values: ValueTable | null;
  /** The synced table whose id the column holds: the legacy column holds that table's local key. */
  readonly references: string | null;
}

/**
 * How a bound table's rows are keyed, and how a row from another device gets its key: `database` (the
 * database assigns it), `max+1` (the bridge takes the highest key + 1 in its transaction), `composite` (the
 * key is the row's own bound columns; its `_sync_ids` key is a number of `_sync_keys`).
 */
export type KeyStrategy = 'database' | 'max+1' | 'composite';

/** A synced table and the legacy table it stands for. */
export interface BoundTable {
  readonly synced: SchemaTable;
  readonly legacy: string;
  /** The integer key; for a composite key, its first column. */
  readonly key: string;
  /** Every column of the key, in the key's order (one for an integer key). */
  readonly keyColumns: readonly string[];
  readonly newKeys: KeyStrategy;
  readonly columns: readonly BoundColumn[];
  /** Values of the synced columns the legacy table lacks, for the rows it creates. */
  readonly defaults: Readonly<Record<string, SyncedValue>>;
  /** Values of the unbound legacy columns, for the rows other devices create. */
  readonly legacyDefaults: Readonly<Record<string, SyncedValue>>;
}

/** A map that fits: the bound tables, parents before the tables that reference them. */
export interface AdoptPlan {
  readonly map: AdoptMap;
  readonly tables: readonly BoundTable[];
}

/**
 * Checks `map` against the synced schema and the legacy database, and resolves it; throws an
 * {@link AdoptMapError} naming every table and column that does not fit.
 */
export async function buildAdoptPlan(
  map: AdoptMap,
  schema: CompiledSchema,
  legacy: LegacyDatabase,
): Promise<AdoptPlan> {
  const problems: string[] = [];
  const bound = new Map<string, BoundTable>();
  const legacyTables = new Map<string, string>();
  for (const [syncedName, binding] of Object.entries(map.tables)) {
    const where = `tables.${syncedName}`;
    const synced = schema.table(syncedName);
    if (!synced) {
      problems.push(`${where}: the synced schema has no table "${syncedName}"`);
      continue;
    }
    if (synced.serverOnly) {
      problems.push(`${where}: ${syncedName} is written on the server only; it cannot be bound`);
      continue;
    }
    const info = await legacy.describeTable(binding.table);
    if (!info) {
      problems.push(`${where}.table: ${legacy.location} has no table "${binding.table}"`);
      continue;
    }
    const legacyTable = info.name;
    const other = legacyTables.get(legacyTable.toLowerCase());
    if (other !== undefined) problems.push(`${where}.table: ${legacyTable} is bound to ${other} already`);
    legacyTables.set(legacyTable.toLowerCase(), syncedName);
    if (info.problem !== null) problems.push(`${where}.table: ${info.problem}`);
    const column = (name: string): string | null =>
      info.columns.find((candidate) => candidate.name.toLowerCase() === name.toLowerCase())?.name ?? null;

    const keyNames = typeof binding.key === 'string' ? [binding.key] : binding.key;
    const keyColumns = keyNames.map((name) => {
      const found = column(name);
      if (found === null) problems.push(`${where}.key: ${legacyTable} has no column "${name}"`);
      return found;
    });
    const composite = info.primaryKey.length > 1;
    const shownKey = info.primaryKey.join(', ');
    let key: string | null = keyColumns.every((name) => name !== null) ? (keyColumns[0] ?? null) : null;
    let newKeys: KeyStrategy = 'database';
    if (key !== null && Array.isArray(binding.key)) {
      newKeys = 'composite';
      if (
        info.primaryKey.length === 0 ||
        keyColumns.length !== info.primaryKey.length ||
        !info.primaryKey.every((k) => keyColumns.includes(k))
      ) {
        problems.push(
          `${where}.key: ${keyColumns.join(', ')} is not the primary key of ${legacyTable}` +
            (info.primaryKey.length > 0 ? ` (${shownKey})` : ' (it has none)'),
        );
        key = null;
      } else if (binding.newKeys !== undefined) {
        problems.push(`${where}.newKeys: a composite key is the row's own columns; remove "newKeys"`);
      }
    } else if (key !== null) {
      if (composite && info.primaryKey.includes(key)) {
        problems.push(
          `${where}.key: ${legacyTable} has a composite key (${shownKey}): give all of it, ` +
            `"key": ${JSON.stringify(info.primaryKey)}, and bind each of its columns in "columns"`,
        );
        key = null;
      } else if (info.integerKey !== key) {
        problems.push(
          `${where}.key: ${legacyTable}.${key} is not an integer primary key` +
            (info.primaryKey.length === 0
              ? ` (${legacyTable} has none; the bridge needs one to find a row)`
              : info.primaryKey.length === 1 && info.primaryKey[0] === key
                ? `; to key rows by its value, write "key": ["${key}"] and bind it in "columns"`
                : ` (the primary key is ${shownKey})`),
        );
        key = null;
      } else if (binding.newKeys === 'max+1') newKeys = 'max+1';
      else if (info.assignedKey !== key) {
        problems.push(
          `${where}.key: ${legacyTable}.${key} is an integer key the database does not assign itself ` +
            `(${legacy.engine === 'sqlite' ? 'not INTEGER PRIMARY KEY' : 'no AUTO_INCREMENT'}): add "newKeys": "max+1", ` +
            `and rows from other devices get the highest key + 1, taken in the bridge's transaction`,
        );
        key = null;
      }
    }

    const columns: BoundColumn[] = [];
    const usedLegacy = new Set<string>();
    for (const [columnName, columnBinding] of Object.entries(binding.columns)) {
      const at = `${where}.columns.${columnName}`;
      const syncedColumn = synced.columnsByName.get(columnName);
      if (!syncedColumn) {
        problems.push(`${at}: the synced table ${syncedName} has no column "${columnName}"`);
        continue;
      }
      const legacyName = column(legacyColumnOf(columnBinding));
      if (legacyName === null) {
        problems.push(`${at}: ${legacyTable} has no column "${legacyColumnOf(columnBinding)}"`);
        continue;
      }
      if (legacyName === key && newKeys !== 'composite') {
        problems.push(`${at}: ${legacyTable}.${legacyName} is the key; it cannot be bound to a column`);
        continue;
      }
      if (usedLegacy.has(legacyName)) problems.push(`${at}: ${legacyTable}.${legacyName} is bound twice`);
      usedLegacy.add(legacyName);
      const convert = typeof columnBinding === 'string' ? null : (columnBinding.convert ?? null);
      const valueList = typeof columnBinding === 'string' ? undefined : columnBinding.values;
      const problem = conversionProblem(syncedColumn, convert, valueList, map);
      if (problem !== null) {
        problems.push(`${at}: ${problem}`);
        continue;
      }
      columns.push({
        synced: syncedColumn,
        legacy: legacyName,
        convert,
        values: valueList === undefined ? null : valueTable(valueList),
        references: syncedColumn.references ?? null,
      });
    }

    const defaults = binding.defaults ?? {};
    for (const name of Object.keys(defaults)) {
      if (!synced.columnsByName.has(name))
        problems.push(`${where}.defaults.${name}: the synced table ${syncedName} has no column "${name}"`);
      else if (name in binding.columns)
        problems.push(`${where}.defaults.${name}: ${name} is bound to a column; remove its default`);
    }
    for (const syncedColumn of synced.columns) {
      if (syncedColumn.name in binding.columns || syncedColumn.name in defaults) continue;
      if (syncedColumn.required && (syncedColumn.default ?? null) === null) {
        problems.push(
          `${where}.columns: ${syncedName}.${syncedColumn.name} is required: bind it to a column of ${legacyTable} ` +
            `or give its value in "defaults"`,
        );
      }
    }
    const legacyDefaults: Record<string, SyncedValue> = {};
    for (const [name, value] of Object.entries(binding.legacyDefaults ?? {})) {
      const legacyName = column(name);
      if (legacyName === null)
        problems.push(`${where}.legacyDefaults.${name}: ${legacyTable} has no column "${name}"`);
      else legacyDefaults[legacyName] = value;
    }
    if (newKeys === 'composite') {
      for (const part of keyColumns) {
        if (part !== null && !usedLegacy.has(part))
          problems.push(`${where}.columns: ${legacyTable}.${part} is part of the key: bind it to a column`);
      }
    }
    for (const legacyColumn of info.columns) {
      if (
        (legacyColumn.name === key && newKeys !== 'composite') ||
        usedLegacy.has(legacyColumn.name) ||
        legacyColumn.name in legacyDefaults
      )
        continue;
      if (legacyColumn.notNull && !legacyColumn.hasDefault) {
        problems.push(
          `${where}.legacyDefaults: ${legacyTable}.${legacyColumn.name} is NOT NULL without a default: bind it ` +
            `or give its value in "legacyDefaults"`,
        );
      }
    }
    if (key !== null) {
      bound.set(syncedName, {
        synced,
        legacy: legacyTable,
        key,
        keyColumns: keyColumns.filter((name): name is string => name !== null),
        newKeys,
        columns,
        defaults,
        legacyDefaults,
      });
    }
  }
  if (problems.length > 0) throw new AdoptMapError(problems);
  const tables = schema.tables.flatMap((table) => bound.get(table.name) ?? []);
  if (tables.length === 0) throw new AdoptMapError(['tables: bind at least one table']);
  const plan = { map, tables };
  await checkExistingValues(plan, legacy);
  return plan;
}

/** Why a binding cannot carry the column's values, or `null`. */
function conversionProblem(
  column: SchemaColumn,
  convert: Conversion | null,
  values: Readonly<Record<string, string | number>> | undefined,
  map: AdoptMap,
): string | null {
  if (column.references !== undefined) {
    if (!(column.references in map.tables)) {
      return `${column.name} holds ids of ${column.references}, which the map does not bind; bind ${column.references} too`;
    }
    if (convert !== null || values !== undefined) return 'a reference takes no conversion';
    return null;
  }
  if (convert !== null && values !== undefined) return 'give either "convert" or "values", not both';
  if (convert === 'decimal-to-cents' && column.type !== 'integer') {
    return `"decimal-to-cents" gives whole cents, but ${column.name} is of type ${column.type}`;
  }
  if (convert === 'datetime-to-iso' && column.type !== 'text') {
    return `"datetime-to-iso" gives text, but ${column.name} is of type ${column.type}`;
  }
  if (values !== undefined) {
    const seen = new Map<string | number, string>();
    for (const [legacyValue, syncedValue] of Object.entries(values)) {
      const fits =
        column.type === 'text'
          ? typeof syncedValue === 'string'
          : typeof syncedValue === 'number' && (column.type === 'real' || Number.isSafeInteger(syncedValue));
      if (!fits)
        return `the value table gives ${JSON.stringify(syncedValue)}, which is not of type ${column.type}`;
      if (column.allowed && !column.allowed.includes(syncedValue)) {
        return `the value table gives ${JSON.stringify(syncedValue)}, which ${column.name} does not allow`;
      }
      const twice = seen.get(syncedValue);
      if (twice !== undefined) {
        return `the value table gives ${JSON.stringify(syncedValue)} for both "${twice}" and "${legacyValue}"; it must read both ways`;
      }
      seen.set(syncedValue, legacyValue);
    }
    if (seen.size === 0) return 'the value table is empty';
  }
  return null;
}

function valueTable(values: Readonly<Record<string, string | number>>): ValueTable {
  const entries = Object.entries(values);
  return {
    toSynced: new Map(entries),
    toLegacy: new Map(entries.map(([legacyValue, syncedValue]) => [syncedValue, legacyValue])),
  };
}

/** A value-table column whose rows hold a value the table does not list cannot be brought in. */
async function checkExistingValues(plan: AdoptPlan, legacy: LegacyDatabase): Promise<void> {
  const problems: string[] = [];
  for (const table of plan.tables) {
    for (const column of table.columns) {
      if (!column.values) continue;
      const listed = [...column.values.toSynced.keys()];
      const rows = await legacy.select(
        `SELECT ${legacy.quote(table.key)} AS k, ${legacy.quote(column.legacy)} AS v FROM ${legacy.quote(table.legacy)}
         WHERE ${legacy.quote(column.legacy)} IS NOT NULL AND ${legacy.quote(column.legacy)} NOT IN (${listed.map(() => '?').join(', ')})
         LIMIT 1`,
        listed,
      );
      const row = rows[0];
      if (row) {
        problems.push(
          `tables.${table.synced.name}.columns.${column.synced.name}: ${table.legacy}.${column.legacy} holds ` +
            `${JSON.stringify(row['v'])} (${table.key} ${String(row['k'])}), which the value table does not list`,
        );
      }
    }
  }
  if (problems.length > 0) throw new AdoptMapError(problems);
}

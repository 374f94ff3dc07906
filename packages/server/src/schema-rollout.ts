import {
  SchemaChangeError,
  checkValue,
  compareSchemas,
  fitValue,
  parseSchema,
  sameSchemaContent,
  storeColumnOf,
  type CompiledSchema,
  type RowValues,
  type SchemaChange,
  type SchemaTable,
  type StoredRowRule,
  type SyncSchema,
  type TableSpec,
} from '@tillsync/protocol';
import { uniqueKeyOf } from './rows/unique-rules.js';
import type { SchemaRolloutTransaction, ServedSchemaStore } from './storage/served-schema-store.js';

/** What a start did with its schema, for its log line. */
export type SchemaRollout =
  | { readonly outcome: 'first' | 'same'; readonly version: number }
  | {
      readonly outcome: 'additive' | 'breaking';
      readonly version: number;
      readonly previousVersion: number;
      readonly changes: readonly SchemaChange[];
    };

/** What {@link serveSchema} needs besides the store and the schema. */
export interface SchemaRolloutOptions {
  /** Serve a schema with breaking changes: every device then takes a fresh snapshot. */
  readonly acceptBreaking: boolean;
  readonly now: () => number;
}

/**
 * Moves the database to the schema this start serves (PROTOCOL.md §2 schema), or refuses with a
 * {@link SchemaChangeError} that names the table and column, changing nothing:
 * - the schema served last, again: nothing to do; the same version with other tables: refused (raise it);
 * - a lower version than the one served last: refused;
 * - a higher version with additive changes only: served; a new reference, unique rule or narrower values
 *   must hold for the stored rows already (the message names one row that breaks it);
 * - breaking changes: refused, unless `acceptBreaking`: then the stored rows are brought to the new columns
 *   (a removed column dropped, a value converted to a changed type where it has such a form) and every
 *   tenant's purged point moves past every cursor, so each device takes a fresh snapshot, keeping its
 *   unsent changes; a table whose scope changed has its rows put in their new scopes (PROTOCOL.md §7), so
 *   that snapshot holds exactly the device's rows.
 * It all happens in one write transaction: a refusal, or a crash, leaves the database as it was; of several
 * processes starting at once, one moves the database and the others find the schema served already.
 *
 * @example
 * const rollout = await serveSchema(storage.servedSchema, config.schema, { acceptBreaking: false, now: Date.now });
 */
export async function serveSchema(
  store: ServedSchemaStore,
  schema: CompiledSchema,
  options: SchemaRolloutOptions,
): Promise<SchemaRollout> {
  const next = schema.source;
  const servedAt = new Date(options.now()).toISOString();
  return store.rollout(async (tx): Promise<SchemaRollout> => {
    const stored = await tx.readServed();
    if (stored === null) {
      await tx.save(next.version, JSON.stringify(next), servedAt);
      return { outcome: 'first', version: next.version };
    }
    const previous = parseSchema(JSON.parse(stored.schemaJson));
    if (next.version < previous.version) {
      throw new SchemaChangeError(
        `the schema's version ${next.version} is lower than version ${previous.version}, which this database served last (${stored.servedAt}): a version never goes back; serve version ${previous.version} again, or a higher one`,
      );
    }
    if (next.version === previous.version) {
      if (sameSchemaContent(previous, next)) return { outcome: 'same', version: next.version };
      throw new SchemaChangeError(
        `the schema's tables differ from those of version ${previous.version}, which this database served last: raise the version (to ${previous.version + 1}) for a changed schema, so devices know to take it`,
      );
    }
    const comparison = compareSchemas(previous, next);
    const breaking = comparison.breaking.length > 0;
    if (breaking && !options.acceptBreaking) {
      const problems = comparison.breaking.map((change) => change.message);
      throw new SchemaChangeError(
        `version ${next.version} is not additive to version ${previous.version}, which this database served last: ${problems.join('; ')}. Make the change additive, or start with --accept-breaking-schema: every device then takes a fresh snapshot, keeping its unsent changes where they still fit`,
        problems,
      );
    }
    if (breaking) await fitRowsToBreakingChanges(tx, previous, schema);
    if (breaking) await rescopeTables(tx, previous, schema);
    await fillNewDefaults(tx, previous, schema);
    await dropUniqueValues(tx, previous, next);
    for (const rule of comparison.storedRowRules) await checkStoredRows(tx, schema, rule);
    if (breaking) await tx.resyncEveryDevice();
    await tx.save(next.version, JSON.stringify(next), servedAt);
    return {
      outcome: breaking ? 'breaking' : 'additive',
      version: next.version,
      previousVersion: previous.version,
      changes: comparison.changes,
    };
  });
}

/**
 * A column added with a default holds it in the rows stored before, as it does in a device's table (which
 * adds the column with that default): a snapshot and an older device's copy then agree.
 */
function fillNewDefaults(
  tx: SchemaRolloutTransaction,
  previous: SyncSchema,
  schema: CompiledSchema,
): Promise<void> {
  return rewriteStoredRows(tx, previous, schema, (table, before) => {
    const added = table.columns.filter(
      (column) => !(column.name in before.columns) && column.default !== undefined && column.default !== null,
    );
    if (added.length === 0) return null;
    return (values) => {
      const missing = added.filter((column) => values[column.name] === undefined);
      if (missing.length === 0) return null;
      const filled: RowValues = { ...values };
      for (const column of missing) filled[column.name] = column.default ?? null;
      return filled;
    };
  });
}

/** Brings every stored row of a table a breaking change touched to the new columns. */
function fitRowsToBreakingChanges(
  tx: SchemaRolloutTransaction,
  previous: SyncSchema,
  schema: CompiledSchema,
): Promise<void> {
  return rewriteStoredRows(tx, previous, schema, (table, before) => {
    const changedType = table.columns.filter((column) => {
      const was = before.columns[column.name];
      return (
        was !== undefined && (was.type !== column.type || (was.merge ?? 'lww') !== (column.merge ?? 'lww'))
      );
    });
    const removed = Object.keys(before.columns).filter((name) => !table.columnsByName.has(name));
    if (changedType.length === 0 && removed.length === 0) return null;
    return (values) => {
      const fitted: RowValues = { ...values };
      for (const name of removed) delete fitted[name];
      for (const column of changedType) {
        const fit = fitValue(column, fitted[column.name]);
        fitted[column.name] = fit.fits ? fit.value : (column.default ?? null);
      }
      return fitted;
    };
  });
}

/**
 * Rewrites the stored rows of each table the previous schema had too: `rewriteOf` gives a table its rewrite
 * of one row's values (null: the row stays as it is), or null when the table's rows all stay.
 */
async function rewriteStoredRows(
  tx: SchemaRolloutTransaction,
  previous: SyncSchema,
  schema: CompiledSchema,
  rewriteOf: (table: SchemaTable, before: TableSpec) => ((values: RowValues) => RowValues | null) | null,
): Promise<void> {
  for (const table of schema.tables) {
    const before = previous.tables[table.name];
    const rewrite = before === undefined ? null : rewriteOf(table, before);
    if (rewrite === null) continue;
    const rewritten = (await tx.liveRows(table.name)).flatMap((row) => {
      const values = rewrite(row.values);
      return values === null ? [] : [{ ...row, values }];
    });
    await tx.rewriteRows(table.name, rewritten);
  }
}

/** The noted values of a unique rule that is no longer there (or of a table that is no longer there) go. */
async function dropUniqueValues(
  tx: SchemaRolloutTransaction,
  previous: SyncSchema,
  next: SyncSchema,
): Promise<void> {
  for (const [tableName, before] of Object.entries(previous.tables)) {
    const after = next.tables[tableName];
    const kept = new Set(after === undefined ? [] : uniqueRuleNames(after));
    for (const name of uniqueRuleNames(before))
      if (!kept.has(name)) await tx.replaceUniqueValues(tableName, name, []);
  }
}

/** The names a table's unique rules are noted under: a unique column's name, a list's columns joined by `+`. */
function uniqueRuleNames(table: TableSpec): string[] {
  return [
    ...Object.entries(table.columns)
      .filter(([, column]) => column.unique === true)
      .map(([name]) => name),
    ...(table.unique ?? []).map((columns) => columns.join('+')),
  ];
}

/**
 * Puts the rows of each table whose scope changed in their new scopes. A row of a table that becomes per
 * store must name its store: one that does not refuses the schema, naming it.
 */
async function rescopeTables(
  tx: SchemaRolloutTransaction,
  previous: SyncSchema,
  schema: CompiledSchema,
): Promise<void> {
  for (const table of schema.tables) {
    const before = previous.tables[table.name];
    if (before === undefined || storeColumnOf(before) === table.storeColumn) continue;
    const storeColumn = table.storeColumn;
    if (storeColumn !== null) {
      for (const row of await tx.liveRows(table.name)) {
        if (typeof row.values[storeColumn] === 'string') continue;
        const problem = `${table.name}.${storeColumn}: the table is now per store, but row ${row.id} (tenant ${row.tenantId}) names no store`;
        throw new SchemaChangeError(`${problem}; give it its store first, then serve the new scope`, [
          problem,
        ]);
      }
    }
    await tx.rescopeRows(table.name, storeColumn);
  }
}

/**
 * Checks a rule the new schema adds against every tenant's stored rows, and refuses the schema naming the
 * first row that breaks it. A new unique rule that holds has its values noted, so pushes judge it from now on.
 */
async function checkStoredRows(
  tx: SchemaRolloutTransaction,
  schema: CompiledSchema,
  rule: StoredRowRule,
): Promise<void> {
  if (rule.rule === 'unique')
    return checkUniqueRule(tx, rule.table, rule.column, rule.columns ?? [rule.column]);
  const column = schema.table(rule.table)?.columnsByName.get(rule.column);
  if (column === undefined) return;
  const where = `${rule.table}.${rule.column}`;
  const rows = await tx.liveRows(rule.table);
  const refuse = (what: string): never => {
    const problem = `${where}: ${what}`;
    throw new SchemaChangeError(`${problem}; change that row first, then serve the new rule`, [problem]);
  };
  if (rule.rule === 'references') {
    const parent = column.references ?? '';
    const parents = new Set((await tx.liveRows(parent)).map((row) => `${row.tenantId}|${row.id}`));
    for (const row of rows) {
      const value = row.values[rule.column];
      if (value !== null && value !== undefined && !parents.has(`${row.tenantId}|${String(value)}`)) {
        refuse(
          `the new reference to ${parent} does not hold for the stored rows: row ${row.id} (tenant ${row.tenantId}) points at ${parent} ${String(value)}, which does not exist`,
        );
      }
    }
    return;
  }
  if (rule.rule === 'values') {
    for (const row of rows) {
      const value = row.values[rule.column];
      const problem = value === null || value === undefined ? null : checkValue(column, value);
      if (problem !== null) {
        refuse(
          `the narrower values do not hold for the stored rows: row ${row.id} (tenant ${row.tenantId}) holds ${JSON.stringify(value)}, which ${problem}`,
        );
      }
    }
  }
}

/**
 * Checks a new unique rule (named `name`, over `columns`) against every tenant's stored rows, refusing the
 * schema naming two rows that break it, and notes the rows' keys so that pushes judge it from now on.
 */
async function checkUniqueRule(
  tx: SchemaRolloutTransaction,
  table: string,
  name: string,
  columns: readonly string[],
): Promise<void> {
  const rule = { name, columns };
  const where = columns.length === 1 ? `${table}.${name}` : `${table} (${columns.join(', ')})`;
  const holders = new Map<string, string>();
  const entries: Array<{ tenantId: string; rowId: string; value: string }> = [];
  for (const row of await tx.liveRows(table)) {
    const key = uniqueKeyOf(rule, row.values);
    if (key === null) continue;
    const holder = holders.get(`${row.tenantId}|${key}`);
    if (holder !== undefined) {
      const problem = `${where}: the new unique rule does not hold for the stored rows: rows ${holder} and ${row.id} (tenant ${row.tenantId}) both hold ${key}`;
      throw new SchemaChangeError(`${problem}; change that row first, then serve the new rule`, [problem]);
    }
    holders.set(`${row.tenantId}|${key}`, row.id);
    entries.push({ tenantId: row.tenantId, rowId: row.id, value: key });
  }
  await tx.replaceUniqueValues(table, name, entries);
}

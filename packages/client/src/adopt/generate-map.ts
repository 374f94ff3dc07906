import type { ColumnSpec, SyncSchema, TableSpec } from '@tillsync/protocol';
import type { AdoptMap, ColumnBinding, LegacyLocation, TableBinding } from './adopt-map.js';
import type { LegacyColumnInfo, LegacyDatabase, LegacyTableInfo } from './legacy-database.js';

/**
 * `tillsync adopt init`: a synced schema and a map read off a shop program's database, for a person to
 * review and edit (docs/adopt.md). Names become lower-case snake case (`InvoiceLine.UnitPrice` →
 * `invoice_line.unit_price_cents`), types their synced type, a foreign key a reference, the primary key the
 * map's key (with `newKeys: "max+1"` where the database does not assign it; a key of the row's own values
 * also a unique rule over its synced columns). What cannot be bound is left out and said in the map's
 * `notes`.
 */

/** What {@link generateAdoptFiles} made. */
export interface GeneratedAdoptFiles {
  /** The schema file for `tillsync serve --schema`. */
  readonly schema: SyncSchema;
  /** The map file for `tillsync attach --map`. */
  readonly map: AdoptMap;
  /** The legacy tables left out, and why. */
  readonly skipped: readonly { readonly table: string; readonly reason: string }[];
}

/** Reads every table of `legacy` and makes a schema and a map that bind all that can be bound. */
export async function generateAdoptFiles(
  legacy: LegacyDatabase,
  location: LegacyLocation,
): Promise<GeneratedAdoptFiles> {
  const infos: LegacyTableInfo[] = [];
  for (const name of await legacy.listTables()) {
    const info = await legacy.describeTable(name);
    if (info) infos.push(info);
  }
  const skipped: { table: string; reason: string }[] = [];
  const notes: string[] = [];
  const bindable = infos.filter((info) => {
    const reason = whyNotBindable(info);
    if (reason !== null) skipped.push({ table: info.name, reason });
    return reason === null;
  });
  const syncedNames = uniqueNames(bindable.map((info) => info.name));
  const syncedOf = new Map(bindable.map((info, index) => [info.name, syncedNames[index] ?? '']));

  const tables: Record<string, TableSpec> = {};
  const bindings: Record<string, TableBinding> = {};
  for (const info of bindable) {
    const syncedTable = syncedOf.get(info.name) ?? '';
    const integerKey = info.integerKey !== null && info.primaryKey.length === 1 ? info.integerKey : null;
    const columns: Record<string, ColumnSpec> = {};
    const bound: Record<string, ColumnBinding> = {};
    const legacyDefaults: Record<string, null> = {};
    const taken = new Set<string>();
    const syncedByLegacy = new Map<string, string>();
    for (const column of info.columns) {
      if (column.name === integerKey) continue;
      const reference = referenceOf(info, column, syncedOf, infos);
      const kind = reference === null ? kindOf(column) : null;
      if (reference === null && kind === null) {
        notes.push(
          `${info.name}.${column.name} (${column.type}) is left out: no synced type holds it` +
            (column.notNull && !column.hasDefault
              ? '; it is NOT NULL, so rows from other devices need a value'
              : ''),
        );
        if (column.notNull && !column.hasDefault) legacyDefaults[column.name] = null;
        continue;
      }
      let syncedColumn = snakeCase(column.name);
      if (kind?.convert === 'decimal-to-cents') syncedColumn = `${syncedColumn}_cents`;
      if (syncedColumn === 'id') syncedColumn = 'legacy_id';
      while (taken.has(syncedColumn)) syncedColumn = `${syncedColumn}_2`;
      taken.add(syncedColumn);
      const spec: { -readonly [K in keyof ColumnSpec]: ColumnSpec[K] } =
        reference === null ? { type: kind?.type ?? 'text' } : { type: 'text', references: reference };
      if (column.notNull) spec.required = true;
      if (kind?.format !== undefined) spec.format = kind.format;
      if (info.uniqueColumns.includes(column.name) && reference === null) spec.unique = true;
      columns[syncedColumn] = spec;
      syncedByLegacy.set(column.name, syncedColumn);
      bound[syncedColumn] =
        kind?.convert === undefined ? column.name : { column: column.name, convert: kind.convert };
    }
    tables[syncedTable] = { columns, ...keyRule(info, integerKey, syncedByLegacy, columns, notes) };
    bindings[syncedTable] = {
      table: info.name,
      key: integerKey ?? [...info.primaryKey],
      ...(integerKey !== null && info.assignedKey === null ? { newKeys: 'max+1' as const } : {}),
      columns: bound,
      ...(Object.keys(legacyDefaults).length > 0 ? { legacyDefaults } : {}),
    };
  }
  for (const { table, reason } of skipped) notes.push(`${table} is left out: ${reason}`);
  return {
    schema: { version: 1, tables },
    map: { legacy: location, tables: bindings, ...(notes.length > 0 ? { notes } : {}) },
    skipped,
  };
}

/**
 * The unique rule a key of the row's own values keeps on the synced table, so the server refuses a second
 * row with the same key from another device: a composite key (`PlaylistTrack (PlaylistId, TrackId)`) becomes
 * the table's rule over its synced columns, a one-column key (a text code) the column's `"unique": true`
 * (set on `columns` here). An integer key is the bridge's to translate, and needs none.
 */
function keyRule(
  info: LegacyTableInfo,
  integerKey: string | null,
  syncedByLegacy: ReadonlyMap<string, string>,
  columns: Record<string, ColumnSpec>,
  notes: string[],
): { unique?: string[][] } {
  if (integerKey !== null) return {};
  const parts = info.primaryKey.map((name) => syncedByLegacy.get(name));
  const bound = parts.filter((part): part is string => part !== undefined);
  if (bound.length !== parts.length) {
    notes.push(
      `${info.name}'s key (${info.primaryKey.join(', ')}) has a column no synced type holds, so the synced table has no unique rule over it`,
    );
    return {};
  }
  if (bound.length === 1) {
    const only = bound[0] as string;
    const spec = columns[only];
    if (spec) columns[only] = { ...spec, unique: true };
    return {};
  }
  // The schema's rules name 2 to 8 columns.
  if (bound.length > 8) {
    notes.push(
      `${info.name}'s key has ${bound.length} columns; a unique rule names 8 at most, so it has none`,
    );
    return {};
  }
  return { unique: [bound] };
}

/** Why a table cannot be bound, or `null`. */
function whyNotBindable(info: LegacyTableInfo): string | null {
  if (info.problem !== null) return info.problem;
  if (info.primaryKey.length === 0) {
    return 'it has no primary key, and the bridge needs one to find a row; give it one, then run adopt init again';
  }
  return null;
}

/** The synced table a column references: a one-column foreign key to a bound table's whole key. */
function referenceOf(
  info: LegacyTableInfo,
  column: LegacyColumnInfo,
  syncedOf: ReadonlyMap<string, string>,
  infos: readonly LegacyTableInfo[],
): string | null {
  const key = info.foreignKeys.find(
    (candidate) => candidate.columns.length === 1 && candidate.columns[0] === column.name,
  );
  if (!key) return null;
  const parent = infos.find((candidate) => candidate.name.toLowerCase() === key.table.toLowerCase());
  const synced = parent ? syncedOf.get(parent.name) : undefined;
  if (!parent || synced === undefined) return null;
  const whole =
    parent.primaryKey.length === 1 &&
    parent.primaryKey[0]?.toLowerCase() === key.referencedColumns[0]?.toLowerCase();
  return whole ? synced : null;
}

/** The synced type (and conversion) of a column's declared type, or `null` when none holds it. */
function kindOf(column: LegacyColumnInfo): {
  readonly type: 'text' | 'integer' | 'real';
  readonly convert?: 'decimal-to-cents' | 'datetime-to-iso';
  readonly format?: 'iso-time' | 'date';
} | null {
  const type = column.type.toLowerCase();
  if (/blob|binary|bytea|image/.test(type)) return null;
  if (/^(decimal|numeric)/.test(type) && column.scale !== null && column.scale <= 2 && column.scale > 0) {
    return { type: 'integer', convert: 'decimal-to-cents' };
  }
  if (/datetime|timestamp/.test(type))
    return { type: 'text', convert: 'datetime-to-iso', format: 'iso-time' };
  if (type === 'date') return { type: 'text', format: 'date' };
  if (/int|bool|bit/.test(type)) return { type: 'integer' };
  if (/char|clob|text|enum|set|time|json|uuid/.test(type) || type === '') return { type: 'text' };
  if (/real|floa|doub|dec|num/.test(type)) return { type: 'real' };
  return { type: 'text' };
}

/** `InvoiceLine` → `invoice_line`, `SupportRepId` → `support_rep_id`, as a synced name allows. */
export function snakeCase(name: string): string {
  const snake = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  const named = /^[a-z]/.test(snake) ? snake : `t_${snake}`;
  return named.slice(0, 63);
}

function uniqueNames(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((name) => {
    let synced = snakeCase(name);
    while (taken.has(synced)) synced = `${synced}_2`.slice(-63);
    taken.add(synced);
    return synced;
  });
}

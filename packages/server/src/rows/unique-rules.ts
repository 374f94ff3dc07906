import type { ErrorDetail, RowValues, SchemaTable, UniqueRule } from '@tillsync/protocol';

/**
 * A row's key under a unique rule, as stored in `sync_unique_values.value`: the JSON of the column's value
 * for a rule of one column (so 1 and "1" stay apart), the JSON array of the values for a rule of several.
 * Null when one of the values is null: such a row is not held to the rule, as in SQL.
 */
export function uniqueKeyOf(rule: UniqueRule, values: RowValues): string | null {
  const held: Array<string | number> = [];
  for (const column of rule.columns) {
    const value = values[column];
    if (value === null || value === undefined) return null;
    held.push(value);
  }
  return JSON.stringify(held.length === 1 ? held[0] : held);
}

/** Whether a write of these columns (absent: the whole row) may change the row's key under the rule. */
export function ruleTouched(rule: UniqueRule, columns: ReadonlySet<string> | undefined): boolean {
  return columns === undefined || rule.columns.some((column) => columns.has(column));
}

/** The rejection of a row whose key under `rule` another live row holds. */
export function uniqueProblem(
  table: SchemaTable,
  rule: UniqueRule,
  key: string,
  holderId: string,
): ErrorDetail {
  const where =
    rule.columns.length === 1 ? `${table.name}.${rule.name}` : `${table.name} (${rule.columns.join(', ')})`;
  const value =
    rule.columns.length === 1
      ? key
      : `(${(JSON.parse(key) as unknown[]).map((item) => JSON.stringify(item)).join(', ')})`;
  return {
    code: 'UNIQUE_VIOLATION',
    message: `${where} ${value} is already used by ${table.name} ${holderId}`,
  };
}

import type { BoundTable } from './adopt-plan.js';
import { keyText, type LegacyDatabase, type LegacyRow } from './legacy-database.js';

/** Where one legacy row is: a `WHERE` condition and its parameters. */
export interface RowLocation {
  readonly where: string;
  readonly params: readonly unknown[];
}

/**
 * How the bridge finds, reads and creates a bound table's rows by their local key, whatever the table's
 * key: an integer key the database assigns (`database`), one the bridge assigns (`max+1`, the highest + 1
 * in its own transaction, which holds the table's write lock: SQLite's `BEGIN IMMEDIATE`, MariaDB's
 * `FOR UPDATE`), or a composite key (`composite`), whose local key is the row's number in `_sync_keys`.
 */
export class LegacyKeys {
  readonly #legacy: LegacyDatabase;

  constructor(legacy: LegacyDatabase) {
    this.#legacy = legacy;
  }

  /** Notes every row of the table in the changelog as an insert; returns how many rows it holds. */
  async noteEveryRow(table: BoundTable): Promise<number> {
    const legacy = this.#legacy;
    const t = legacy.quote(table.legacy);
    if (table.newKeys !== 'composite') {
      const noted = await legacy.run(
        `INSERT INTO _sync_changelog (tbl, local_key, op) SELECT ?, ${legacy.quote(table.key)}, 'I' FROM ${t}`,
        [table.synced.name],
      );
      return noted.changes;
    }
    await legacy.run(
      `${legacy.insertIgnore} INTO _sync_keys (tbl, parts) SELECT ?, ${legacy.keyTextOf(t, table.keyColumns)} FROM ${t}`,
      [table.synced.name],
    );
    const noted = await legacy.run(
      `INSERT INTO _sync_changelog (tbl, local_key, op)
       SELECT k.tbl, k.local_key, 'I' FROM _sync_keys k JOIN ${t} ON k.parts = ${legacy.keyTextOf(t, table.keyColumns)}
       WHERE k.tbl = ?`,
      [table.synced.name],
    );
    return noted.changes;
  }

  /** The rows of these local keys that are there, by key, with the columns given. */
  async rows(
    table: BoundTable,
    keys: readonly number[],
    columns: readonly string[],
  ): Promise<Map<number, LegacyRow>> {
    const legacy = this.#legacy;
    const selected = [...new Set([...table.keyColumns, ...columns])].map((column) => legacy.quote(column));
    const rows = new Map<number, LegacyRow>();
    for (let start = 0; start < keys.length; start += 200) {
      const chunk = keys.slice(start, start + 200);
      if (table.newKeys !== 'composite') {
        const found = await legacy.select(
          `SELECT ${selected.join(', ')} FROM ${legacy.quote(table.legacy)} WHERE ${legacy.quote(table.key)} IN (${chunk.map(() => '?').join(', ')})`,
          chunk,
        );
        for (const row of found) rows.set(Number(row[table.key]), row);
        continue;
      }
      const parts = await this.#partsOf(chunk);
      if (parts.size === 0) continue;
      const keyOfParts = new Map([...parts].map(([key, text]) => [text, key]));
      const found = await legacy.select(
        `SELECT ${selected.join(', ')} FROM ${legacy.quote(table.legacy)} WHERE ${[...parts.values()]
          .map(() => `(${this.#partsCondition(table)})`)
          .join(' OR ')}`,
        [...parts.values()].flatMap((text) => text.split('\u001f')),
      );
      for (const row of found) {
        const key = keyOfParts.get(keyText(table.keyColumns.map((column) => row[column])));
        if (key !== undefined) rows.set(key, row);
      }
    }
    return rows;
  }

  /** Where the row of a local key is, or `null` when a composite key's number is unknown. */
  async locate(table: BoundTable, localKey: number): Promise<RowLocation | null> {
    if (table.newKeys !== 'composite') {
      return { where: `${this.#legacy.quote(table.key)} = ?`, params: [localKey] };
    }
    const text = (await this.#partsOf([localKey])).get(localKey);
    if (text === undefined) return null;
    return { where: this.#partsCondition(table), params: text.split('\u001f') };
  }

  /**
   * Inserts a row from another device (`columns` and `values` as the legacy table takes them) and returns
   * its local key: the one the database assigned, the highest + 1, or its composite key's number.
   */
  async insert(table: BoundTable, columns: readonly string[], values: readonly unknown[]): Promise<number> {
    const legacy = this.#legacy;
    const t = legacy.quote(table.legacy);
    const insert = (names: readonly string[], given: readonly unknown[]) =>
      legacy.run(
        names.length === 0
          ? `INSERT INTO ${t} DEFAULT VALUES`
          : `INSERT INTO ${t} (${names.map((name) => legacy.quote(name)).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
        given,
      );
    if (table.newKeys === 'database') return (await insert(columns, values)).insertId;
    if (table.newKeys === 'max+1') {
      const key = legacy.quote(table.key);
      const [top] = await legacy.select(
        `SELECT COALESCE(MAX(${key}), 0) + 1 AS next FROM ${t}${legacy.lockRows}`,
      );
      const next = Number(top?.['next'] ?? 1);
      await insert([table.key, ...columns], [next, ...values]);
      return next;
    }
    await insert(columns, values);
    return this.#numberOf(
      table,
      keyText(table.keyColumns.map((column) => values[columns.indexOf(column)] ?? null)),
    );
  }

  /** After an update of a composite key's columns: its number stands for the new key. */
  async moved(table: BoundTable, localKey: number, row: Readonly<Record<string, unknown>>): Promise<void> {
    if (table.newKeys !== 'composite') return;
    if (!table.keyColumns.some((column) => column in row)) return;
    const before = (await this.#partsOf([localKey])).get(localKey);
    if (before === undefined) return;
    const parts = before.split('\u001f');
    const after = keyText(
      table.keyColumns.map((column, index) => (column in row ? row[column] : parts[index])),
    );
    if (after === before) return;
    // A number left by a deleted row with the same key makes way.
    await this.#legacy.run('DELETE FROM _sync_keys WHERE tbl = ? AND parts = ? AND local_key <> ?', [
      table.synced.name,
      after,
      localKey,
    ]);
    await this.#legacy.run('UPDATE _sync_keys SET parts = ? WHERE local_key = ?', [after, localKey]);
  }

  /** A condition on `_sync_ids` (not aliased) that holds when its local key has no legacy row. */
  missing(table: BoundTable): string {
    const legacy = this.#legacy;
    const t = legacy.quote(table.legacy);
    if (table.newKeys !== 'composite') {
      return `NOT EXISTS (SELECT 1 FROM ${t} l WHERE l.${legacy.quote(table.key)} = _sync_ids.local_key)`;
    }
    return `NOT EXISTS (SELECT 1 FROM _sync_keys k JOIN ${t} l ON k.parts = ${legacy.keyTextOf('l', table.keyColumns)} WHERE k.local_key = _sync_ids.local_key)`;
  }

  /** Whether the row of a local key is there (a crash may have left a key whose row went meanwhile). */
  async exists(table: BoundTable, localKey: number): Promise<boolean> {
    const location = await this.locate(table, localKey);
    if (location === null) return false;
    const found = await this.#legacy.select(
      `SELECT 1 AS found FROM ${this.#legacy.quote(table.legacy)} WHERE ${location.where}`,
      location.params,
    );
    return found.length > 0;
  }

  #partsCondition(table: BoundTable): string {
    return table.keyColumns.map((column) => `${this.#legacy.quote(column)} = ?`).join(' AND ');
  }

  async #partsOf(keys: readonly number[]): Promise<Map<number, string>> {
    const found = (await this.#legacy.select(
      `SELECT local_key, parts FROM _sync_keys WHERE local_key IN (${keys.map(() => '?').join(', ')})`,
      keys,
    )) as { local_key: number | string; parts: string }[];
    return new Map(found.map((row) => [Number(row.local_key), row.parts]));
  }

  async #numberOf(table: BoundTable, parts: string): Promise<number> {
    await this.#legacy.run(`${this.#legacy.insertIgnore} INTO _sync_keys (tbl, parts) VALUES (?, ?)`, [
      table.synced.name,
      parts,
    ]);
    const [row] = await this.#legacy.select('SELECT local_key FROM _sync_keys WHERE tbl = ? AND parts = ?', [
      table.synced.name,
      parts,
    ]);
    return Number(row?.['local_key']);
  }
}

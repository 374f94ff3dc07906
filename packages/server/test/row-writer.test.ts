import { CompiledSchema, type RowValues } from '@tillsync/protocol';
import type { NewJobRecord, SettingsOverrides } from '@tillsync/jobs';
import { describe, expect, it } from 'vitest';
import { afterRowsWritten, checkOneRow, toRowWrite } from '../src/rows/row-writer.js';
import {
  rowKey,
  type DeletedRowState,
  type RowWrite,
  type RowWriteTransaction,
  type StoredRow,
} from '../src/storage/sync-store.js';

/** Categories that may sit under another category, and products with a unique sku. */
const schema = new CompiledSchema({
  version: 1,
  tables: {
    categories: {
      columns: {
        name: { type: 'text', required: true },
        parent_id: { type: 'text', references: 'categories' },
      },
    },
    products: {
      columns: {
        sku: { type: 'text', required: true, unique: true },
        category_id: { type: 'text', references: 'categories' },
      },
    },
  },
});

/** The port over rows held in memory: what the row writer reads, and what it asks to be kept. */
class MemoryRows implements RowWriteTransaction {
  readonly tenantId = 'tenant-1';
  readonly rows = new Map<string, StoredRow>();
  readonly kept: DeletedRowState[] = [];
  readonly jobs: NewJobRecord[] = [];

  add(table: string, id: string, values: RowValues | null): StoredRow {
    const row = {
      table,
      id,
      values,
      updatedAt: '2024-01-01T00:00:00.000Z-0000-a',
      seq: 1,
      deviceId: 'a',
      stamps: null,
      scope: '',
    };
    this.rows.set(rowKey(table, id), row);
    return row;
  }

  getRows(keys: ReadonlyArray<{ table: string; id: string }>): Promise<Map<string, StoredRow>> {
    const found = new Map<string, StoredRow>();
    for (const { table, id } of keys) {
      const row = this.rows.get(rowKey(table, id));
      if (row) found.set(rowKey(table, id), row);
    }
    return Promise.resolve(found);
  }

  findReferencingRows(
    table: string,
    column: string,
    targets: readonly string[],
  ): Promise<Array<{ id: string; target: string; scope: string }>> {
    const found: Array<{ id: string; target: string; scope: string }> = [];
    for (const row of this.rows.values()) {
      const target = row.values?.[column];
      if (row.table === table && typeof target === 'string' && targets.includes(target))
        found.push({ id: row.id, target, scope: row.scope });
    }
    return Promise.resolve(found);
  }

  findUniqueHolders(table: string, column: string, values: readonly string[]): Promise<Map<string, string>> {
    const holders = new Map<string, string>();
    for (const row of this.rows.values()) {
      const value = row.values?.[column];
      if (row.table === table && value !== undefined && values.includes(JSON.stringify(value)))
        holders.set(JSON.stringify(value), row.id);
    }
    return Promise.resolve(holders);
  }

  writeRows(): Promise<void> {
    return Promise.resolve();
  }

  keepDeletedRows(rows: readonly DeletedRowState[]): Promise<void> {
    this.kept.push(...rows);
    return Promise.resolve();
  }

  readJobTypeSettings(): Promise<Map<string, SettingsOverrides>> {
    return Promise.resolve(new Map<string, SettingsOverrides>());
  }

  insertJobs(jobs: readonly NewJobRecord[]): Promise<void> {
    this.jobs.push(...jobs);
    return Promise.resolve();
  }
}

const categories = schema.table('categories')!;
const products = schema.table('products')!;

describe('the row writer, on a write of one row (a sync job target)', () => {
  it('judges references as a push does: a row may point at itself, not at a row that is missing or deleted', async () => {
    const tx = new MemoryRows();
    tx.add('categories', 'gone', null);
    const own = { table: categories, id: 'c1', values: { name: 'Tea', parent_id: 'c1' } };
    expect(await checkOneRow(tx, schema, own, undefined)).toBeUndefined();
    expect(
      await checkOneRow(tx, schema, { ...own, values: { name: 'Tea', parent_id: 'gone' } }, undefined),
    ).toEqual({
      code: 'FK_VIOLATION',
      message: 'categories.parent_id points at categories gone which does not exist',
    });
  });

  it('refuses a unique value another row holds, and lets a row keep its own', async () => {
    const tx = new MemoryRows();
    const stored = tx.add('products', 'p1', { sku: 'A-1' });
    tx.add('products', 'p2', { sku: 'B-2' });
    expect(
      await checkOneRow(tx, schema, { table: products, id: 'p1', values: { sku: 'A-1' } }, stored),
    ).toBeUndefined();
    expect(
      await checkOneRow(tx, schema, { table: products, id: 'p1', values: { sku: 'B-2' } }, stored),
    ).toEqual({ code: 'UNIQUE_VIOLATION', message: 'products.sku "B-2" is already used by products p2' });
  });
});

describe('what follows a write', () => {
  it('keeps the last state of a deleted row through the port, and enqueues nothing without job types', async () => {
    const tx = new MemoryRows();
    const previous = tx.add('products', 'p1', { sku: 'A-1' });
    const deletion: RowWrite = toRowWrite(products, {
      table: 'products',
      id: 'p1',
      values: null,
      stamps: null,
      updatedAt: '2024-01-02T00:00:00.000Z-0000-a',
      deviceId: 'a',
      previous,
    });
    expect(deletion.uniqueValues).toEqual([]);
    expect(await afterRowsWritten(tx, { types: null, now: 42 }, [deletion])).toEqual([]);
    expect(tx.kept).toEqual([
      { table: 'products', id: 'p1', values: { sku: 'A-1' }, updatedAt: previous.updatedAt, deletedAt: 42 },
    ]);
    expect(tx.jobs).toEqual([]);
  });
});

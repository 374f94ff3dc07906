import type { CompiledSchema, ErrorDetail, SchemaColumn, SchemaTable } from '@tillsync/protocol';
import { rowKey, type RowWriteTransaction } from '../storage/sync-store.js';
import type { AppliedUpsert, OutcomeState } from './cross-row-checks.js';

/** A live row that points at a deleted one through an optional reference: the server clears it. */
export interface ReferenceToClear {
  readonly table: SchemaTable;
  readonly id: string;
  /** {@link rowKey} of the row. */
  readonly key: string;
  readonly column: string;
  /** The id of the deleted row it points at. */
  readonly target: string;
}

/** What the deletes of a write leave to the rows that reference them. */
export interface DeleteJudgement {
  /** Deletes of rows that live rows still reference through a required reference, by change index. */
  readonly problems: Map<number, ErrorDetail>;
  /** References to the deleted rows that the server clears. */
  readonly toClear: ReferenceToClear[];
}

/** A stored row that referenced a deleted row when the write began. */
interface Referrer {
  readonly table: SchemaTable;
  readonly column: SchemaColumn;
  readonly id: string;
  readonly scope: string;
}

/**
 * Deletes that respect references (PROTOCOL.md §2 push): a delete of a row that live rows still reference
 * through a required reference is rejected, naming one such row, unless the same write deletes those rows
 * too (or points them elsewhere); references through optional ones are cleared by the server. The stored
 * rows that reference a deleted row are read once and kept, so a write judged again reads nothing twice.
 * A device's write gives its store as `writerScope`: a referencing row of another store is not named, so the
 * device learns nothing of that store's rows (PROTOCOL.md §7).
 */
export class DeletedRowReferences {
  readonly #tx: Pick<RowWriteTransaction, 'findReferencingRows'>;
  /** Every table's columns that reference each table. */
  readonly #referencing: ReadonlyMap<string, ReadonlyArray<{ table: SchemaTable; column: SchemaColumn }>>;
  /** By the deleted row's key: the stored rows that referenced it. */
  readonly #read = new Map<string, Referrer[]>();
  readonly #writerScope: string | undefined;

  constructor(
    tx: Pick<RowWriteTransaction, 'findReferencingRows'>,
    schema: CompiledSchema,
    writerScope?: string,
  ) {
    this.#tx = tx;
    this.#writerScope = writerScope;
    const referencing = new Map<string, Array<{ table: SchemaTable; column: SchemaColumn }>>();
    for (const table of schema.tables)
      for (const column of table.references) {
        const parent = column.references ?? '';
        referencing.set(parent, [...(referencing.get(parent) ?? []), { table, column }]);
      }
    this.#referencing = referencing;
  }

  /**
   * Judges the deletes a write applied, on its outcome (`states`: every row the write changes). A row the
   * write itself points at a deleted row is judged by the foreign keys of its upsert, not here.
   */
  async judge(
    deletes: readonly AppliedUpsert[],
    states: ReadonlyMap<string, OutcomeState>,
  ): Promise<DeleteJudgement> {
    const problems = new Map<number, ErrorDetail>();
    const toClear: ReferenceToClear[] = [];
    if (deletes.length === 0) return { problems, toClear };
    await this.#readReferrers(deletes);
    for (const deleted of deletes) {
      for (const referrer of this.#read.get(deleted.key) ?? []) {
        const key = rowKey(referrer.table.name, referrer.id);
        const state = states.get(key);
        // The write deleted the referencing row too, or pointed it elsewhere.
        if (state && (state.values === null || state.values[referrer.column.name] !== deleted.id)) continue;
        if (referrer.column.required === true) {
          problems.set(deleted.index, {
            code: 'FK_VIOLATION',
            message: this.#seen(referrer)
              ? `${deleted.table.name} ${deleted.id} is still referenced: ${referrer.table.name} ${referrer.id} points at it through ${referrer.table.name}.${referrer.column.name}; delete that row first, or in the same push`
              : `${deleted.table.name} ${deleted.id} is still referenced by a row this device does not receive (another store's); it cannot be deleted while that row points at it`,
          });
          break;
        }
        toClear.push({
          table: referrer.table,
          id: referrer.id,
          key,
          column: referrer.column.name,
          target: deleted.id,
        });
      }
    }
    return { problems, toClear };
  }

  /** Whether the writer receives the referencing row: it is the tenant's, or of the writer's store. */
  #seen(referrer: Referrer): boolean {
    return this.#writerScope === undefined || referrer.scope === '' || referrer.scope === this.#writerScope;
  }

  async #readReferrers(deletes: readonly AppliedUpsert[]): Promise<void> {
    const unread = new Map<string, AppliedUpsert[]>();
    for (const deleted of deletes) {
      if (this.#read.has(deleted.key)) continue;
      this.#read.set(deleted.key, []);
      unread.set(deleted.table.name, [...(unread.get(deleted.table.name) ?? []), deleted]);
    }
    for (const [parent, rows] of unread) {
      const byId = new Map(rows.map((row) => [row.id, row.key]));
      for (const { table, column } of this.#referencing.get(parent) ?? []) {
        for (const found of await this.#tx.findReferencingRows(table.name, column.name, [...byId.keys()])) {
          const deletedKey = byId.get(found.target);
          if (deletedKey !== undefined)
            this.#read.get(deletedKey)?.push({ table, column, id: found.id, scope: found.scope });
        }
      }
    }
  }
}

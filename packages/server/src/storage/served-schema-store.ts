import type { RowValues } from '@tillsync/protocol';

/** The schema the server last served, as stored. */
export interface ServedSchemaRecord {
  readonly version: number;
  /** The schema as JSON, as it was served. */
  readonly schemaJson: string;
  readonly servedAt: string;
}

/** A live row of one table, any tenant's: what a new rule of the schema is checked against at start. */
export interface LiveRow {
  readonly tenantId: string;
  readonly id: string;
  readonly values: RowValues;
  /** The row's sequence number when it was read: a rewrite changes it only if it is still that. */
  readonly seq: number;
}

/** What a start with a new schema may do, in one write transaction over every tenant. */
export interface SchemaRolloutTransaction {
  /**
   * The schema served last, read under a lock: of several processes starting at once on one database, one
   * moves it to the new schema and the others find it moved.
   */
  readServed(): Promise<ServedSchemaRecord | null>;
  /** Every tenant's live rows of `table`. */
  liveRows(table: string): Promise<LiveRow[]>;
  /**
   * Replaces the stored values of these rows, leaving their stamps and sequence numbers as they are (a
   * default that now applies to them, or values brought to a breaking change); a row changed since it was
   * read is left alone.
   */
  rewriteRows(table: string, rows: readonly LiveRow[]): Promise<void>;
  /** Replaces the noted values of a unique column (as JSON) with these; none when the column is no longer unique. */
  replaceUniqueValues(
    table: string,
    column: string,
    entries: ReadonlyArray<{ readonly tenantId: string; readonly rowId: string; readonly value: string }>,
  ): Promise<void>;
  /**
   * Puts every row of `table`, in every tenant, in the scope its new rule gives it (PROTOCOL.md §7): the store
   * its `storeColumn` names, or '' (the whole tenant's) when `storeColumn` is null; a tombstone stays where
   * it is, or goes to '' for a table of the whole tenant. The table's checksums are counted again per scope.
   */
  rescopeRows(table: string, storeColumn: string | null): Promise<void>;
  /** Makes every cursor of every tenant older than its purged point: each device's next pull gets 410. */
  resyncEveryDevice(): Promise<void>;
  save(version: number, schemaJson: string, servedAt: string): Promise<void>;
}

/** The schema the server serves, remembered across starts (migration 0009). */
export interface ServedSchemaStore {
  /** Runs `work` in one write transaction: all of it is stored, or (when it throws) nothing. */
  rollout<T>(work: (tx: SchemaRolloutTransaction) => Promise<T>): Promise<T>;
}

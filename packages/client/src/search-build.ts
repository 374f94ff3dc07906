import type { CompiledSchema, SchemaTable } from '@tillsync/protocol';
import { quoteIdentifier } from './capture/triggers.js';
import { StateKey } from './device-state.js';
import { searchedColumns, searchIndexName, type IndexedStore } from './search-index.js';

/**
 * The search index of a table a fresh snapshot fills, built after its rows are in rather than slice by
 * slice. Indexing rows as they arrive costs a first sync about as much as writing them: FTS5 writes a
 * segment at every commit and merges the segments as they pile up. Built afterwards, in steps of a few
 * thousand rows in key order (rowid order), the same index costs a third of that, and each step is a short
 * write transaction of its own, so a till's write waits for one step at most.
 *
 * What is built is kept in `_sync_state` (`search_unbuilt`): per table, the rowid up to which every row is
 * in the index (its *frontier*). A row above it may be missing; every row at or below it is indexed, as the
 * index is kept for every row (`search-index.ts`): the sync indexes what it writes, the catch-up what others
 * write, whatever their rowid, so a row of the built part that changes is indexed again. A kill leaves the
 * frontier of the last step that committed; the next cycle goes on from it. A search meanwhile reads the
 * index for the built part and checks the rows above the frontier one by one ({@link unbuiltFrontier}), so
 * it finds what it would with the whole index.
 *
 * While a table is built, FTS5 merges no segments by itself (`automerge` 0, `crisismerge` at its most): its
 * merges come in bursts, a merge of dozens of segments taking a till's write tens of milliseconds. The build
 * merges instead, a few pages per step (`'merge'`), whenever a level holds {@link MERGE_SEGMENTS} segments.
 * Once built, the index merges by itself again, at the same measure: merged down to FTS5's default of 4 it
 * would cost half again as much as the build.
 */

/**
 * The segments of a level merged together (`usermerge`, and `automerge` once built): 8 costs less in all
 * than FTS5's default of 4, or 16, and keeps each merge step to a few milliseconds.
 */
const MERGE_SEGMENTS = 8;
/** FTS5's own default for `crisismerge`, restored once a table is built. */
const DEFAULT_CRISIS_MERGE = 16;
/** The most segments of one level FTS5 allows before it must merge them: never reached by the build. */
const NO_CRISIS_MERGE = 1999;
/**
 * The leaf pages one merge step writes: a merge of 8 segments writes one in about 0.2 ms, so a step takes
 * a few milliseconds.
 */
const MERGE_PAGES = 16;

/** What one step of the build did. */
export interface SearchBuildStep {
  /** The table it worked on. */
  readonly table: string;
  /** The rows it indexed (0 for a merge step). */
  readonly rows: number;
  /** Whether that table's index is now whole (its entry is gone from `search_unbuilt`). */
  readonly done: boolean;
}

/** The frontiers of the tables being built, from `_sync_state`. */
function readFrontiers(store: IndexedStore): Record<string, number> {
  const row = store.statement('SELECT value FROM _sync_state WHERE key = ?').get(StateKey.searchUnbuilt) as
    { value: string | null } | undefined;
  return row?.value ? (JSON.parse(row.value) as Record<string, number>) : {};
}

function writeFrontiers(store: IndexedStore, frontiers: Record<string, number>): void {
  const value = Object.keys(frontiers).length === 0 ? null : JSON.stringify(frontiers);
  store
    .statement(
      'INSERT INTO _sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    )
    .run(StateKey.searchUnbuilt, value);
}

/**
 * The rowid above which rows of `table` may be missing from its search index, or `null` when the index
 * holds every row. A search reads the index for the rows up to it and the rows above it by themselves.
 */
export function unbuiltFrontier(store: IndexedStore, table: string): number | null {
  return readFrontiers(store)[table] ?? null;
}

/** The tables whose search index a fresh snapshot left to build. */
export function unbuiltTables(store: IndexedStore): string[] {
  return Object.keys(readFrontiers(store));
}

/** Sets one of the index's settings (FTS5 keeps them in the index's own `_config` table). */
function configure(store: IndexedStore, table: string, setting: string, value: number): void {
  const index = quoteIdentifier(searchIndexName(table));
  // FTS5 takes only an integer, and a JavaScript number binds as a real.
  store.statement(`INSERT INTO ${index} (${index}, rank) VALUES (?, CAST(? AS INTEGER))`).run(setting, value);
}

/**
 * Builds the search indexes of the tables a fresh snapshot filled: {@link begin} in the snapshot's first
 * transaction, then {@link step} until it answers `null`.
 */
export class SearchBuild {
  readonly #store: IndexedStore;
  readonly #schema: CompiledSchema;
  /**
   * Whether the table being built may hold a level to merge: true after a step that indexed rows (and at
   * first, as a kill may have left one), false once a merge step found nothing to do.
   */
  #mergeDue = true;

  constructor(store: IndexedStore, schema: CompiledSchema) {
    this.#store = store;
    this.#schema = schema;
  }

  /**
   * Notes that the search indexes of `tables` are to be built from their first row, and stops FTS5's own
   * merges in them until they are. Call it inside a write transaction, while the tables hold no row.
   */
  begin(tables: readonly SchemaTable[]): void {
    const frontiers = readFrontiers(this.#store);
    let any = false;
    for (const table of tables) {
      if (searchedColumns(table).length === 0) continue;
      frontiers[table.name] = 0;
      configure(this.#store, table.name, 'automerge', 0);
      configure(this.#store, table.name, 'crisismerge', NO_CRISIS_MERGE);
      configure(this.#store, table.name, 'usermerge', MERGE_SEGMENTS);
      any = true;
    }
    if (any) writeFrontiers(this.#store, frontiers);
  }

  /** Whether any table's index is being built. */
  pending(): boolean {
    return unbuiltTables(this.#store).length > 0;
  }

  /**
   * The rowid above which rows of `table` may be missing from its index, or `null` when it holds every row.
   */
  frontier(table: string): number | null {
    return unbuiltFrontier(this.#store, table);
  }

  /**
   * One step of the build, in a write transaction of its own: a merge of a few pages when one is due, else
   * the next `rows` rows of the first table being built indexed, else that table's merges by FTS5 itself
   * back. Returns `null` when no table is being built.
   */
  step(rows: number): SearchBuildStep | null {
    return this.#store.write(() => {
      const frontiers = readFrontiers(this.#store);
      const name = Object.keys(frontiers)[0];
      if (name === undefined) return null;
      const table = this.#schema.table(name);
      const frontier = frontiers[name] ?? 0;
      // A table gone from the schema, or left with nothing to search, has no index to build.
      if (!table || searchedColumns(table).length === 0) return this.#finish(name, frontiers);
      if (this.#mergeDue) {
        if (this.#merge(name)) return { table: name, rows: 0, done: false };
        this.#mergeDue = false;
      }
      const t = quoteIdentifier(name);
      const last = this.#store
        .statement(`SELECT rowid FROM ${t} WHERE rowid > ? ORDER BY rowid LIMIT 1 OFFSET ?`)
        .pluck()
        .get(frontier, Math.max(1, rows) - 1) as number | undefined;
      const top =
        last ?? (this.#store.statement(`SELECT max(rowid) FROM ${t}`).pluck().get() as number | null);
      if (top !== null && top > frontier) {
        const list = searchedColumns(table)
          .map((column) => quoteIdentifier(column.name))
          .join(', ');
        // OR REPLACE: a row above the frontier the sync or the catch-up indexed already has its entry.
        const indexed = this.#store
          .statement(
            `INSERT OR REPLACE INTO ${quoteIdentifier(searchIndexName(name))} (rowid, ${list})
             SELECT rowid, ${list} FROM ${t} WHERE rowid > ? AND rowid <= ?`,
          )
          .run(frontier, top).changes;
        frontiers[name] = top;
        writeFrontiers(this.#store, frontiers);
        this.#mergeDue = true;
        return { table: name, rows: indexed, done: false };
      }
      // Every row is in, and merged as far as it is due.
      return this.#finish(name, frontiers);
    });
  }

  /** Merges a few pages of the table's index; whether there was anything to merge. */
  #merge(table: string): boolean {
    const changes = this.#store.statement('SELECT total_changes()').pluck();
    const before = changes.get() as number;
    configure(this.#store, table, 'merge', MERGE_PAGES);
    // The command itself counts one change; a merge that wrote anything counts more (FTS5's own measure).
    return (changes.get() as number) - before >= 2;
  }

  #finish(name: string, frontiers: Record<string, number>): SearchBuildStep {
    const table = this.#schema.table(name);
    if (table && searchedColumns(table).length > 0) {
      configure(this.#store, name, 'automerge', MERGE_SEGMENTS);
      configure(this.#store, name, 'crisismerge', DEFAULT_CRISIS_MERGE);
    }
    const rest = { ...frontiers };
    delete rest[name];
    writeFrontiers(this.#store, rest);
    this.#mergeDue = true;
    return { table: name, rows: 0, done: true };
  }
}

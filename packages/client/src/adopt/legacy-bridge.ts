// Over 500 lines on purpose: the bring-in and the bring-out are one bridge (drawn below); they share the key
// map, the conversions and the order of tables, and each engine's adapter is in its own file.
import type { RowValues } from '@tillsync/protocol';
import { v5 as uuidv5, v7 as uuidv7 } from 'uuid';
import { StateKey } from '../device-state.js';
import type { LocalStore } from '../local-store.js';
import { silentLogger, type DeviceLogger } from '../logger.js';
import type { SyncedTables } from '../synced-tables.js';
import type { AdoptPlan, BoundColumn, BoundTable, SyncedValue } from './adopt-plan.js';
import { ConversionError, shownValue, toLegacyValue, toSyncedValue } from './conversions.js';
import { describeRefusal, noteRefusals, type LegacyRefusal } from './device-bookkeeping.js';
import type { LegacyDatabase, LegacyRow } from './legacy-database.js';
import { LegacyKeys } from './legacy-keys.js';

/**
 * Keeps a shop program's own database and the device file in step (docs/adopt.md):
 *
 *   legacy tables ──triggers──▶ _sync_changelog ──bringIn──▶ synced tables ──capture──▶ push
 *   legacy tables ◀──bringOut── _sync_adopt_inbox ◀──triggers── synced tables ◀── pull
 *
 * Each side's change is told from `_sync_ids.shadow`, the row's values as both sides last agreed: a bring-in
 * writes the columns the program changed since (a counter by its difference), a bring-out the columns the
 * server changed, except those the program changed meanwhile, which go out with the next bring-in.
 *
 * What must stay true across a crash at any point:
 * - a changelog entry is deleted only after its row is in the device file, synced to disk (a power cut
 *   must not take from the device file what the program's database no longer notes), and its `_sync_ids`
 *   entry is written: the device file's write carries a journal of those entries, finished first by the
 *   next run;
 * - a bring-out writes the legacy row, its `_sync_ids` entry and shadow in one legacy transaction, and the
 *   inbox entry is deleted after it, so doing it again writes nothing new;
 * - the bridge's legacy writes are not captured again (the triggers skip them), nor the bring-in's device
 *   writes noted in the inbox (only the sync's own writes are).
 */

/** Options for {@link LegacyBridge}. */
export interface LegacyBridgeOptions {
  /** The device file, on a connection of the bridge's own. */
  readonly store: LocalStore;
  readonly tables: SyncedTables;
  readonly legacy: LegacyDatabase;
  readonly plan: AdoptPlan;
  /** @defaultValue a logger that drops everything */
  readonly logger?: DeviceLogger;
  /**
   * The most changelog or inbox entries handled in one transaction.
   * @defaultValue 500
   */
  readonly batchSize?: number;
}

/** The namespace of the UUIDv5 ids of composite-key rows (a fixed value: every till makes the same id). */
const COMPOSITE_KEY_NAMESPACE = '8f6d1c7e-2b4a-4f0e-9a53-0c7d2e1b6a94';

/** A row that waits: the row it references is not there yet. */
class WaitForParent extends Error {
  override readonly name = 'WaitForParent';
}

interface MappingRow {
  readonly globalId: string;
  readonly localKey: number | null;
  readonly shadow: Record<string, SyncedValue> | null;
}

interface JournalEntry {
  readonly action: 'new' | 'shadow' | 'forget';
  readonly tbl: string;
  readonly globalId: string;
  readonly localKey: number | null;
  readonly shadow: string | null;
}

/** local key → global id, or global id → local key, per synced table. */
type KeyLookup = Map<string, Map<string | number, string | number>>;

/** The bridge between one legacy database and the device file. Not safe for two runs at once: hold the lease. */
export class LegacyBridge {
  readonly #store: LocalStore;
  readonly #tables: SyncedTables;
  readonly #legacy: LegacyDatabase;
  readonly #plan: AdoptPlan;
  readonly #logger: DeviceLogger;
  readonly #batchSize: number;
  readonly #keys: LegacyKeys;

  constructor(options: LegacyBridgeOptions) {
    this.#store = options.store;
    this.#tables = options.tables;
    this.#legacy = options.legacy;
    this.#plan = options.plan;
    this.#logger = options.logger ?? silentLogger;
    this.#batchSize = Math.max(1, options.batchSize ?? 500);
    this.#keys = new LegacyKeys(options.legacy);
  }

  /** The program's changes (the changelog) into the synced tables; returns how many rows changed. */
  async bringIn(): Promise<number> {
    await this.#finishJournal([]);
    await this.#forgetCascadedRows();
    let changed = 0;
    // A row that waits for a parent brought in later in the same run (a self-reference, a batch boundary)
    // goes in with one more pass.
    for (let pass = 0; pass < 3; pass += 1) {
      const before = changed;
      const run = await this.#bringInPass();
      changed += run.changed;
      if (run.waiting === 0 || changed === before) break;
    }
    return changed;
  }

  async #bringInPass(): Promise<{ changed: number; waiting: number }> {
    const legacy = this.#legacy;
    let after = 0;
    let changed = 0;
    let waiting = 0;
    for (;;) {
      const entries = (await legacy.select(
        'SELECT seq, tbl, local_key FROM _sync_changelog WHERE seq > ? ORDER BY seq LIMIT ?',
        [after, this.#batchSize],
      )) as { seq: number | string; tbl: string; local_key: number | string }[];
      const orphans = (await legacy.select(
        'SELECT tbl, global_id FROM _sync_ids WHERE local_key IS NULL',
      )) as { tbl: string; global_id: string }[];
      if (entries.length === 0 && orphans.length === 0) break;
      const seqsByRow = new Map<string, number[]>();
      const keysByTable = new Map<string, Set<number>>();
      const done: number[] = [];
      for (const entry of entries) {
        const seq = Number(entry.seq);
        after = Math.max(after, seq);
        const key = Number(entry.local_key);
        if (!this.#plan.tables.some((table) => table.synced.name === entry.tbl)) {
          done.push(seq);
          continue;
        }
        let keys = keysByTable.get(entry.tbl);
        if (!keys) keysByTable.set(entry.tbl, (keys = new Set()));
        keys.add(key);
        const rowKey = `${entry.tbl}\u0000${key}`;
        seqsByRow.set(rowKey, [...(seqsByRow.get(rowKey) ?? []), seq]);
      }

      // Everything the device transaction needs from the legacy database, read first.
      const rowsByTable = new Map<string, Map<number, LegacyRow>>();
      const mappingsByTable = new Map<string, Map<number, MappingRow>>();
      const idsOfKeys: KeyLookup = new Map();
      const parentsToCome = new Map<string, Set<number>>();
      for (const table of this.#plan.tables) {
        const keys = [...(keysByTable.get(table.synced.name) ?? [])];
        if (keys.length === 0) continue;
        const rows = await this.#keys.rows(
          table,
          keys,
          table.columns.map((column) => column.legacy),
        );
        rowsByTable.set(table.synced.name, rows);
        mappingsByTable.set(table.synced.name, await this.#mappingsByKey(table.synced.name, keys));
        for (const column of table.columns) {
          if (column.references === null) continue;
          const referenced = [...rows.values()]
            .map((row) => row[column.legacy])
            .filter((value) => value !== null && value !== undefined)
            .map(Number);
          const found = await this.#mappingsByKey(column.references, referenced);
          let lookup = idsOfKeys.get(column.references);
          if (!lookup)
            idsOfKeys.set(column.references, (lookup = new Map<string | number, string | number>()));
          for (const [key, mapping] of found) lookup.set(key, mapping.globalId);
          // A parent row that is there but has no id yet: the child waits for it (a dangling key does not).
          const parent = this.#plan.tables.find((candidate) => candidate.synced.name === column.references);
          const unknown = referenced.filter((key) => !found.has(key));
          if (parent && unknown.length > 0) {
            let pending = parentsToCome.get(column.references);
            if (!pending) parentsToCome.set(column.references, (pending = new Set()));
            for (const key of (await this.#keys.rows(parent, unknown, [])).keys()) pending.add(key);
          }
        }
      }

      const journal: JournalEntry[] = [];
      const created = new Set<string>();
      // Synced to disk before the changelog entries go: the program's database keeps their deletion through
      // a power cut, so the device file must keep these rows too (a device file at NORMAL may lose its last
      // commits).
      this.#store.durableWrite(() => {
        for (const table of this.#plan.tables) {
          const name = table.synced.name;
          const rows = rowsByTable.get(name) ?? new Map<number, LegacyRow>();
          const mappings = mappingsByTable.get(name) ?? new Map<number, MappingRow>();
          for (const key of keysByTable.get(name) ?? []) {
            const seqs = seqsByRow.get(`${name}\u0000${key}`) ?? [];
            const row = rows.get(key);
            // Gone since: its `_sync_ids` entry lost its key, and the delete goes with the orphans below.
            if (!row) {
              done.push(...seqs);
              continue;
            }
            let values: Record<string, SyncedValue>;
            try {
              values = this.#syncedValues(table, row, idsOfKeys, parentsToCome);
            } catch (error) {
              if (error instanceof WaitForParent) {
                this.#logger.info(
                  { component: 'legacy-bridge', table: table.legacy, key },
                  `${table.legacy} ${key} waits: ${error.message}`,
                );
                waiting += 1;
                continue;
              }
              if (!(error instanceof ConversionError)) throw error;
              this.#logger.warn(
                { component: 'legacy-bridge', table: table.legacy, key },
                `${table.legacy} ${key} is not synced: ${error.message}`,
              );
              done.push(...seqs);
              continue;
            }
            const mapping = mappings.get(key);
            if (!mapping) {
              const globalId = this.#newGlobalId(table, values);
              created.add(`${name}\u0000${globalId}`);
              this.#tables.upsert(table.synced, globalId, { ...table.defaults, ...values });
              let lookup = idsOfKeys.get(name);
              if (!lookup) idsOfKeys.set(name, (lookup = new Map<string | number, string | number>()));
              lookup.set(key, globalId);
              journal.push({
                action: 'new',
                tbl: name,
                globalId,
                localKey: key,
                shadow: JSON.stringify(values),
              });
              changed += 1;
            } else {
              if (this.#writeChanges(table, mapping, values)) changed += 1;
              // Nothing new since both sides last agreed (an attach run again): no write to the legacy database.
              if (!sameValues(values, mapping.shadow))
                journal.push({
                  action: 'shadow',
                  tbl: name,
                  globalId: mapping.globalId,
                  localKey: key,
                  shadow: JSON.stringify(values),
                });
            }
            done.push(...seqs);
          }
        }
        for (const orphan of orphans) {
          // A composite key deleted and added again: the same id, which the new entry takes over.
          if (created.has(`${orphan.tbl}\u0000${orphan.global_id}`)) continue;
          const table = this.#plan.tables.find((candidate) => candidate.synced.name === orphan.tbl);
          if (table && this.#tables.read(table.synced, orphan.global_id)) {
            this.#tables.remove(table.synced, orphan.global_id);
            changed += 1;
          }
          journal.push({
            action: 'forget',
            tbl: orphan.tbl,
            globalId: orphan.global_id,
            localKey: null,
            shadow: null,
          });
        }
        const note = this.#store.statement(
          'INSERT INTO _sync_adopt_journal (action, tbl, global_id, local_key, shadow) VALUES (?, ?, ?, ?, ?)',
        );
        for (const entry of journal)
          note.run(entry.action, entry.tbl, entry.globalId, entry.localKey, entry.shadow);
        // Captured, so the catch-up would find them too; indexed here, with the rows in hand.
        this.#tables.indexWritten();
      });
      await this.#finishJournal(done);
      if (entries.length < this.#batchSize) break;
    }
    return { changed, waiting };
  }

  /**
   * A new row's global id: a fresh UUIDv7, or for a composite key one made from the key's synced values
   * (UUIDv5), so the same pair added on two tills (a track put in a playlist) is one row, not two.
   */
  #newGlobalId(table: BoundTable, values: Readonly<Record<string, SyncedValue>>): string {
    if (table.newKeys !== 'composite') return uuidv7();
    const parts = table.keyColumns.map((legacyName) => {
      const column = table.columns.find((candidate) => candidate.legacy === legacyName);
      return column ? (values[column.synced.name] ?? null) : null;
    });
    return uuidv5(JSON.stringify([table.synced.name, ...parts]), COMPOSITE_KEY_NAMESPACE);
  }

  /**
   * Rows a cascade deleted without firing the triggers (MariaDB runs no trigger for a foreign key's
   * `ON DELETE CASCADE`): when a parent's delete waits to be brought in, its child tables' keys without a
   * row are let go of, so those rows are deleted with it.
   */
  async #forgetCascadedRows(): Promise<void> {
    const parents = (await this.#legacy.select(
      'SELECT DISTINCT tbl FROM _sync_ids WHERE local_key IS NULL',
    )) as { tbl: string }[];
    if (parents.length === 0) return;
    const deleted = new Set(parents.map((row) => row.tbl));
    const children = this.#plan.tables.filter((table) =>
      table.columns.some((column) => column.references !== null && deleted.has(column.references)),
    );
    if (children.length === 0) return;
    await this.#legacy.transaction(async () => {
      for (const child of children) {
        await this.#legacy.run(
          `UPDATE _sync_ids SET local_key = NULL WHERE tbl = ? AND local_key IS NOT NULL AND ${this.#keys.missing(child)}`,
          [child.synced.name],
        );
      }
    });
  }

  /**
   * The sync's writes (the inbox) into the legacy tables; returns how many legacy rows changed. Within a
   * batch, inserts and updates go parents first and deletes children first, so the program's own foreign
   * keys accept them. A row the legacy database refuses stays in the inbox with its reason
   * (`_sync_adopt_refused`) and is tried again: once more in this run when other rows went in meanwhile (a
   * self-reference, a batch boundary), and at every cycle after.
   */
  async bringOut(): Promise<number> {
    await this.#finishJournal([]);
    this.#syncInboxToDisk();
    let changed = 0;
    for (let pass = 0; pass < 3; pass += 1) {
      const before = changed;
      let refused = 0;
      let after = 0;
      for (;;) {
        const entries = this.#store
          .statement('SELECT seq, tbl, id FROM _sync_adopt_inbox WHERE seq > ? ORDER BY seq LIMIT ?')
          .all(after, this.#batchSize) as { seq: number; tbl: string; id: string }[];
        if (entries.length === 0) break;
        after = entries.at(-1)?.seq ?? after;
        const batch = await this.#bringOutBatch(entries);
        changed += batch.changed;
        refused += batch.refused;
        if (entries.length < this.#batchSize) break;
      }
      if (refused === 0 || changed === before) break;
    }
    return changed;
  }

  /**
   * Syncs the device file to disk before a bring-out writes into the legacy database, whose commits a power
   * cut keeps: the pull that filled the inbox committed at NORMAL, and a cut that took it back would leave
   * the program's database with rows the device file never had (a sale the fleet deleted meanwhile stays in
   * the program's tables for good, as the pull brought again gives no delete of a row the device lacks).
   * One synced commit (the inbox's newest entry, noted) puts every earlier commit of the log on disk too.
   */
  #syncInboxToDisk(): void {
    const newest = this.#store.statement('SELECT MAX(seq) AS seq FROM _sync_adopt_inbox').get() as {
      seq: number | null;
    };
    if (newest.seq === null) return;
    const seq = String(newest.seq);
    this.#store.durableWrite(() => this.#store.setState(StateKey.adoptBringOut, seq));
  }

  async #bringOutBatch(
    entries: readonly { seq: number; tbl: string; id: string }[],
  ): Promise<{ changed: number; refused: number }> {
    const seqsByRow = new Map<string, number[]>();
    const idsByTable = new Map<string, Set<string>>();
    const done: number[] = [];
    for (const entry of entries) {
      if (!this.#plan.tables.some((table) => table.synced.name === entry.tbl)) {
        done.push(entry.seq);
        continue;
      }
      let ids = idsByTable.get(entry.tbl);
      if (!ids) idsByTable.set(entry.tbl, (ids = new Set()));
      ids.add(entry.id);
      const rowKey = `${entry.tbl}\u0000${entry.id}`;
      seqsByRow.set(rowKey, [...(seqsByRow.get(rowKey) ?? []), entry.seq]);
    }

    let changed = 0;
    const refusals: Omit<LegacyRefusal, 'attempts' | 'firstAt' | 'lastAt'>[] = [];
    const accepted: { table: string; id: string }[] = [];
    // The echo of what both sides agree on already (the device's own push, pulled back; an attach run
    // again) is told by reads alone, and a batch of nothing else opens no transaction in the legacy database.
    for (const table of this.#plan.tables) {
      const name = table.synced.name;
      const ids = idsByTable.get(name);
      if (!ids) continue;
      const mappings = await this.#mappingsById(name, [...ids]);
      for (const id of ids) {
        const device = this.#tables.read(table.synced, id);
        const shadow = mappings.get(id)?.shadow;
        if (!device || !shadow || !sameValues(this.#shadowOf(table, device), shadow)) continue;
        ids.delete(id);
        done.push(...(seqsByRow.get(`${name}\u0000${id}`) ?? []));
        accepted.push({ table: name, id });
      }
      if (ids.size === 0) idsByTable.delete(name);
    }
    const keysOfIds: KeyLookup = new Map();
    const rowsOf = new Map<string, Map<string, RowValues | null>>();
    const mappingsOf = new Map<string, Map<string, MappingRow>>();
    if (idsByTable.size > 0)
      await this.#legacy.transaction(
        async () => {
          for (const table of this.#plan.tables) {
            const name = table.synced.name;
            const ids = [...(idsByTable.get(name) ?? [])];
            if (ids.length === 0) continue;
            const deviceRows = new Map(ids.map((id) => [id, this.#tables.read(table.synced, id)]));
            rowsOf.set(name, deviceRows);
            mappingsOf.set(name, await this.#mappingsById(name, ids));
            for (const column of table.columns) {
              if (column.references === null) continue;
              const referenced = [...deviceRows.values()]
                .map((row) => row?.[column.synced.name])
                .filter((value): value is string => typeof value === 'string');
              const found = await this.#mappingsById(column.references, referenced);
              let lookup = keysOfIds.get(column.references);
              if (!lookup)
                keysOfIds.set(column.references, (lookup = new Map<string | number, string | number>()));
              for (const [id, mapping] of found)
                if (mapping.localKey !== null) lookup.set(id, mapping.localKey);
            }
          }
          // Inserts and updates parents first, then deletes children first.
          const steps = [
            ...this.#plan.tables.map((table) => ({ table, deletes: false })),
            ...[...this.#plan.tables].reverse().map((table) => ({ table, deletes: true })),
          ];
          for (const { table, deletes } of steps) {
            const name = table.synced.name;
            const deviceRows = rowsOf.get(name);
            const mappings = mappingsOf.get(name);
            if (!deviceRows || !mappings) continue;
            const ids = [...deviceRows.keys()].filter((id) => (deviceRows.get(id) === null) === deletes);
            // Within a table that references itself, a child's delete before its parent's.
            if (deletes) ids.reverse();
            for (const id of ids) {
              const seqs = seqsByRow.get(`${name}\u0000${id}`) ?? [];
              const device = deviceRows.get(id) ?? null;
              const mapping = mappings.get(id) ?? null;
              try {
                const wrote = await this.#legacy.savepoint(() =>
                  this.#writeLegacyRow(table, id, device, mapping, keysOfIds),
                );
                if (wrote) changed += 1;
                done.push(...seqs);
                accepted.push({ table: name, id });
              } catch (error) {
                if (error instanceof WaitForParent) {
                  this.#logger.warn(
                    { component: 'legacy-bridge', table: name, rowId: id },
                    `${name} ${id} waits: ${error.message}`,
                  );
                  continue;
                }
                // The program's own rules refused the row (a constraint): it stays in the inbox, to be tried again.
                const refusal = {
                  table: name,
                  id,
                  legacyTable: table.legacy,
                  localKey: mapping?.localKey === null || !mapping ? null : String(mapping.localKey),
                  op: device ? ('write' as const) : ('delete' as const),
                  message: error instanceof Error ? error.message : String(error),
                };
                refusals.push(refusal);
                this.#logger.warn(
                  { component: 'legacy-bridge', table: name, rowId: id },
                  describeRefusal({ ...refusal, attempts: 1, firstAt: '', lastAt: '' }),
                );
              }
            }
          }
        },
        { applying: true },
      );
    noteRefusals(this.#store, refusals, accepted, new Date().toISOString());
    this.#store.write(() => {
      const remove = this.#store.statement('DELETE FROM _sync_adopt_inbox WHERE seq = ?');
      for (const seq of done) remove.run(seq);
    });
    return { changed, refused: refusals.length };
  }

  /** The bound columns of a device row, as the shadow holds them. */
  #shadowOf(table: BoundTable, device: RowValues): Record<string, SyncedValue> {
    const shadow: Record<string, SyncedValue> = {};
    for (const column of table.columns) shadow[column.synced.name] = device[column.synced.name] ?? null;
    return shadow;
  }

  /** Writes one synced row to its legacy table; returns whether the legacy table changed. */
  async #writeLegacyRow(
    table: BoundTable,
    id: string,
    device: RowValues | null,
    mapping: MappingRow | null,
    keysOfIds: KeyLookup,
  ): Promise<boolean> {
    const legacy = this.#legacy;
    const name = table.synced.name;
    const t = legacy.quote(table.legacy);
    if (!device) {
      if (!mapping) return false;
      let deleted = 0;
      const location = mapping.localKey === null ? null : await this.#keys.locate(table, mapping.localKey);
      if (location !== null) {
        deleted = (await legacy.run(`DELETE FROM ${t} WHERE ${location.where}`, location.params)).changes;
      }
      await legacy.run('DELETE FROM _sync_ids WHERE tbl = ? AND global_id = ?', [name, id]);
      return deleted > 0;
    }
    // Deleted by the program and not yet brought in: that delete is the later write; it goes out next.
    if (mapping && mapping.localKey === null) return false;
    const shadow = this.#shadowOf(table, device);
    const legacyValue = (column: BoundColumn, value: SyncedValue): string | number | null => {
      if (column.references === null) return toLegacyValue(column, value);
      if (value === null) return null;
      const localKey = keysOfIds.get(column.references)?.get(value);
      if (localKey === undefined)
        throw new WaitForParent(`${column.references} ${value} is not in ${table.legacy}'s database yet`);
      return localKey;
    };

    if (!mapping) {
      const columns = table.columns.map((column) => column.legacy);
      const values: unknown[] = table.columns.map((column) =>
        legacyValue(column, shadow[column.synced.name] ?? null),
      );
      for (const [column, value] of Object.entries(table.legacyDefaults)) {
        columns.push(column);
        values.push(value);
      }
      const localKey = await this.#keys.insert(table, columns, values);
      await legacy.run('INSERT INTO _sync_ids (tbl, global_id, local_key, shadow) VALUES (?, ?, ?, ?)', [
        name,
        id,
        localKey,
        JSON.stringify(shadow),
      ]);
      let lookup = keysOfIds.get(name);
      if (!lookup) keysOfIds.set(name, (lookup = new Map<string | number, string | number>()));
      lookup.set(id, localKey);
      return true;
    }

    const location = mapping.localKey === null ? null : await this.#keys.locate(table, mapping.localKey);
    if (location === null || mapping.localKey === null) return false;
    const rows = await legacy.select(
      `SELECT ${table.columns.map((column) => legacy.quote(column.legacy)).join(', ') || legacy.quote(table.key)} FROM ${t} WHERE ${location.where}${legacy.lockRows}`,
      location.params,
    );
    const current = rows[0];
    if (!current) return false;
    const set: [string, string | number | null][] = [];
    for (const column of table.columns) {
      const wanted = shadow[column.synced.name] ?? null;
      const agreed = mapping.shadow?.[column.synced.name];
      let now: SyncedValue | undefined;
      try {
        now = await this.#currentSyncedValue(column, current[column.legacy]);
      } catch (error) {
        if (!(error instanceof ConversionError)) throw error;
        now = undefined;
      }
      if (
        column.synced.merge === 'counter' &&
        typeof agreed === 'number' &&
        typeof now === 'number' &&
        typeof wanted === 'number'
      ) {
        // The program's own sales since the last exchange stay on top of the server's count.
        const merged = wanted + (now - agreed);
        if (merged !== now) set.push([column.legacy, legacyValue(column, merged)]);
      } else if (mapping.shadow === null || now === undefined || now === agreed) {
        if (now !== wanted) set.push([column.legacy, legacyValue(column, wanted)]);
      }
      // Otherwise the program changed the column since: its value stays and goes out with the next bring-in.
    }
    if (set.length > 0) {
      await legacy.run(
        `UPDATE ${t} SET ${set.map(([column]) => `${legacy.quote(column)} = ?`).join(', ')} WHERE ${location.where}`,
        [...set.map(([, value]) => value), ...location.params],
      );
      await this.#keys.moved(table, mapping.localKey, Object.fromEntries(set));
    }
    // The echo of a row the device pushed itself changes nothing: no write at all then.
    if (set.length > 0 || !sameValues(shadow, mapping.shadow)) {
      await legacy.run('UPDATE _sync_ids SET shadow = ? WHERE tbl = ? AND global_id = ?', [
        JSON.stringify(shadow),
        name,
        id,
      ]);
    }
    return set.length > 0;
  }

  /** A legacy column's value as a synced value; a reference becomes the global id of its row. */
  async #currentSyncedValue(column: BoundColumn, raw: unknown): Promise<SyncedValue> {
    if (column.references === null) return toSyncedValue(column, raw);
    if (raw === null || raw === undefined) return null;
    const rows = await this.#legacy.select(
      'SELECT global_id FROM _sync_ids WHERE tbl = ? AND local_key = ?',
      [column.references, Number(raw)],
    );
    const found = rows[0]?.['global_id'];
    if (typeof found !== 'string')
      throw new ConversionError(`no id for ${column.references} ${shownValue(raw)}`);
    return found;
  }

  /** A legacy row's bound columns as synced values; references through `idsOfKeys`. */
  #syncedValues(
    table: BoundTable,
    row: LegacyRow,
    idsOfKeys: KeyLookup,
    parentsToCome: ReadonlyMap<string, ReadonlySet<number>>,
  ): Record<string, SyncedValue> {
    const values: Record<string, SyncedValue> = {};
    for (const column of table.columns) {
      const raw = row[column.legacy];
      if (column.references === null) {
        try {
          values[column.synced.name] = toSyncedValue(column, raw);
        } catch (error) {
          if (error instanceof ConversionError) {
            throw new ConversionError(`${table.legacy}.${column.legacy}: ${error.message}`);
          }
          throw error;
        }
        continue;
      }
      if (raw === null || raw === undefined) {
        values[column.synced.name] = null;
        continue;
      }
      const globalId = idsOfKeys.get(column.references)?.get(Number(raw));
      if (typeof globalId === 'string') values[column.synced.name] = globalId;
      else if (column.synced.required || parentsToCome.get(column.references)?.has(Number(raw))) {
        throw new WaitForParent(
          `${table.legacy}.${column.legacy} ${shownValue(raw)} is not a known ${column.references} row`,
        );
      } else values[column.synced.name] = null;
    }
    return values;
  }

  /**
   * Writes the columns the program changed since the shadow to the device row (a counter by its difference,
   * so the device's own count stays); recreates the row if the device lost it. Returns whether it wrote.
   */
  #writeChanges(table: BoundTable, mapping: MappingRow, values: Record<string, SyncedValue>): boolean {
    const device = this.#tables.read(table.synced, mapping.globalId);
    if (!device) {
      this.#tables.upsert(table.synced, mapping.globalId, { ...table.defaults, ...values });
      return true;
    }
    const changes: Record<string, string | number | null> = {};
    for (const column of table.columns) {
      const name = column.synced.name;
      const value = values[name] ?? null;
      const agreed = mapping.shadow?.[name];
      if (mapping.shadow !== null && value === agreed) continue;
      const deviceValue = device[name] ?? null;
      if (column.synced.merge === 'counter' && typeof agreed === 'number' && typeof value === 'number') {
        const next = Number(deviceValue ?? 0) + (value - agreed);
        if (next !== deviceValue) changes[name] = next;
      } else if (value !== deviceValue) changes[name] = value;
    }
    if (Object.keys(changes).length === 0) return false;
    this.#tables.update(table.synced, mapping.globalId, changes);
    return true;
  }

  /** Notes the journal's entries in `_sync_ids` and deletes the changelog entries `done`, then the journal. */
  async #finishJournal(done: readonly number[]): Promise<void> {
    const journal = this.#store
      .statement(
        'SELECT seq, action, tbl, global_id, local_key, shadow FROM _sync_adopt_journal ORDER BY seq',
      )
      .all() as {
      seq: number;
      action: string;
      tbl: string;
      global_id: string;
      local_key: number | null;
      shadow: string | null;
    }[];
    if (journal.length === 0 && done.length === 0) return;
    const legacy = this.#legacy;
    await legacy.transaction(async () => {
      for (const entry of journal) {
        const table = this.#plan.tables.find((candidate) => candidate.synced.name === entry.tbl);
        if (entry.action === 'new' && table) {
          // The key only if the row is still there: a row deleted meanwhile leaves an orphan, deleted next.
          if (table.newKeys === 'composite') {
            // Its id may be that of a row with the same key deleted before (see #newGlobalId).
            await legacy.run('DELETE FROM _sync_ids WHERE tbl = ? AND global_id = ? AND local_key IS NULL', [
              entry.tbl,
              entry.global_id,
            ]);
            const there = entry.local_key !== null && (await this.#keys.exists(table, entry.local_key));
            await legacy.run(
              `${legacy.insertIgnore} INTO _sync_ids (tbl, global_id, local_key, shadow) VALUES (?, ?, ?, ?)`,
              [entry.tbl, entry.global_id, there ? entry.local_key : null, entry.shadow],
            );
            continue;
          }
          await legacy.run(
            `${legacy.insertIgnore} INTO _sync_ids (tbl, global_id, local_key, shadow) VALUES (?, ?, (SELECT ${legacy.quote(table.key)} FROM ${legacy.quote(table.legacy)} WHERE ${legacy.quote(table.key)} = ?), ?)`,
            [entry.tbl, entry.global_id, entry.local_key, entry.shadow],
          );
        } else if (entry.action === 'shadow') {
          await legacy.run('UPDATE _sync_ids SET shadow = ? WHERE tbl = ? AND global_id = ?', [
            entry.shadow,
            entry.tbl,
            entry.global_id,
          ]);
        } else if (entry.action === 'forget') {
          await legacy.run('DELETE FROM _sync_ids WHERE tbl = ? AND global_id = ? AND local_key IS NULL', [
            entry.tbl,
            entry.global_id,
          ]);
        }
      }
      for (let start = 0; start < done.length; start += 500) {
        const seqs = done.slice(start, start + 500);
        await legacy.run(
          `DELETE FROM _sync_changelog WHERE seq IN (${seqs.map(() => '?').join(', ')})`,
          seqs,
        );
      }
    });
    const last = journal.at(-1)?.seq;
    // Synced too: a journal a power cut brought back would be noted again over later shadows, and a counter
    // would then be counted twice.
    if (last !== undefined)
      this.#store.durableWrite(() =>
        this.#store.statement('DELETE FROM _sync_adopt_journal WHERE seq <= ?').run(last),
      );
  }

  async #mappingsByKey(tbl: string, keys: readonly number[]): Promise<Map<number, MappingRow>> {
    const found = await this.#mappings(tbl, 'local_key', keys);
    return new Map(found.map((mapping) => [Number(mapping.localKey), mapping]));
  }

  async #mappingsById(tbl: string, ids: readonly string[]): Promise<Map<string, MappingRow>> {
    const found = await this.#mappings(tbl, 'global_id', ids);
    return new Map(found.map((mapping) => [mapping.globalId, mapping]));
  }

  async #mappings(
    tbl: string,
    by: 'local_key' | 'global_id',
    values: readonly (string | number)[],
  ): Promise<MappingRow[]> {
    const unique = [...new Set(values)];
    const mappings: MappingRow[] = [];
    for (let start = 0; start < unique.length; start += 500) {
      const chunk = unique.slice(start, start + 500);
      const rows = (await this.#legacy.select(
        `SELECT global_id, local_key, shadow FROM _sync_ids WHERE tbl = ? AND ${by} IN (${chunk.map(() => '?').join(', ')})`,
        [tbl, ...chunk],
      )) as { global_id: string; local_key: number | string | null; shadow: string | null }[];
      for (const row of rows) {
        mappings.push({
          globalId: row.global_id,
          localKey: row.local_key === null ? null : Number(row.local_key),
          shadow: row.shadow === null ? null : (JSON.parse(row.shadow) as Record<string, SyncedValue>),
        });
      }
    }
    return mappings;
  }
}

function sameValues(
  values: Readonly<Record<string, SyncedValue>>,
  agreed: Readonly<Record<string, SyncedValue>> | null,
): boolean {
  if (agreed === null) return false;
  const names = Object.keys(values);
  return names.length === Object.keys(agreed).length && names.every((name) => values[name] === agreed[name]);
}

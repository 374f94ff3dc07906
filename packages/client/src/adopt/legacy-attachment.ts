import fs from 'node:fs';
import path from 'node:path';
import type { CompiledSchema } from '@tillsync/protocol';
import { CycleLease } from '../cycle-lease.js';
import { NotPairedError } from '../errors.js';
import { readLocalSchema } from '../local-schema.js';
import { LocalStore, StateKey } from '../local-store.js';
import { SyncLog, type SyncLogEntry } from '../sync-log.js';
import { silentLogger, type DeviceLogger } from '../logger.js';
import { readCredentials } from '../device-state.js';
import { SyncedTables } from '../synced-tables.js';
import { AdoptMapError, parseAdoptMap, type AdoptMap, type LegacyLocation } from './adopt-map.js';
import { buildAdoptPlan, type AdoptPlan, type BoundTable, type KeyStrategy } from './adopt-plan.js';
import {
  describeRefusal,
  dropSavedIdMappings,
  legacyRefusals,
  legacyRefusedCount,
  installDeviceBookkeeping,
  readBinding,
  removeDeviceBookkeeping,
  saveIdMappings,
  savedIdMappings,
  type IdMapping,
  type LegacyRefusal,
} from './device-bookkeeping.js';
import { generateAdoptFiles, type GeneratedAdoptFiles } from './generate-map.js';
import { LegacyBridge } from './legacy-bridge.js';
import type { LegacyDatabase } from './legacy-database.js';
import { LegacyKeys } from './legacy-keys.js';
import { MysqlLegacyDatabase } from './mysql-legacy-database.js';
import { SqliteLegacyDatabase } from './sqlite-legacy-database.js';

/**
 * Attaching a shop program's own database to a paired device file, detaching it, and the bridge run the
 * device agent does around every sync cycle (docs/adopt.md).
 */

/** Options for {@link attachLegacyDatabase}. */
export interface AttachOptions {
  /** The device's Tillsync file, paired with a server. */
  readonly dbPath: string;
  /** The parsed map file (checked here). */
  readonly map: unknown;
  /** Where a relative `legacy.sqlite` path starts. @defaultValue the working folder */
  readonly mapFolder?: string;
  /** @defaultValue a logger that drops everything */
  readonly logger?: DeviceLogger;
}

/** A bound table as an attach reports it. */
export interface AttachedTable {
  readonly table: string;
  readonly legacyTable: string;
  /** How many rows it holds. */
  readonly rows: number;
  /**
   * Its key, and how a row from another device gets one: `database` (the database assigns it), `max+1`
   * (the highest + 1, in the bridge's transaction), `composite` (the row's own key columns).
   */
  readonly keys: KeyStrategy;
  /** What the person attaching should know of it: a composite key the synced schema holds no rule over. */
  readonly note?: string;
}

function attachedTable(table: BoundTable, rows: number): AttachedTable {
  const note = missingKeyRule(table);
  return {
    table: table.synced.name,
    legacyTable: table.legacy,
    rows,
    keys: table.newKeys,
    ...(note === null ? {} : { note }),
  };
}

/**
 * A composite key whose synced columns no unique rule of the synced table covers: another device may add
 * the same pair under an id of its own, which the server takes and the program's table then refuses for
 * good (its primary key). `adopt init` writes the rule; a schema written by hand may lack it.
 */
function missingKeyRule(table: BoundTable): string | null {
  if (table.newKeys !== 'composite') return null;
  const synced: string[] = [];
  for (const legacy of table.keyColumns) {
    const column = table.columns.find((candidate) => candidate.legacy === legacy);
    if (!column) return null;
    synced.push(column.synced.name);
  }
  // A rule over some of the key's columns holds the key too (it is stricter).
  if (table.synced.uniqueRules.some((rule) => rule.columns.every((name) => synced.includes(name))))
    return null;
  return (
    `the synced schema has no unique rule over ${table.synced.name} (${synced.join(', ')}), the key of ` +
    `${table.legacy}: another device may add the same ${synced.join(' and ')} under an id of its own, which ` +
    `${table.legacy} then refuses; add "unique": [${JSON.stringify(synced)}] to ${table.synced.name} in the schema`
  );
}

/** What an attach did. */
export interface AttachResult {
  /** The legacy database. */
  readonly legacy: string;
  /** Per bound table: its legacy table, how many rows it holds and how its keys are made. */
  readonly tables: readonly AttachedTable[];
  /** Synced rows created or changed from the legacy rows, now waiting to be pushed. */
  readonly broughtIn: number;
  /** Legacy rows written from what the device file already held. */
  readonly broughtOut: number;
}

/** What a detach did. */
export interface DetachResult {
  /** Whether a database was attached. */
  readonly detached: boolean;
  readonly legacy: string | null;
}

/**
 * Binds an existing database's tables to the synced tables: installs the capture triggers and bookkeeping
 * in it (its own tables stay as they are) and brings its rows into the device file, to go out with the next
 * push. Attaching again (the same or a changed map) replaces the triggers and duplicates nothing; after a
 * detach, the rows get back the ids they had. Throws an {@link AdoptMapError} when the map does not fit.
 *
 * @example
 * await attachLegacyDatabase({ dbPath: 'till.db', map: JSON.parse(fs.readFileSync('map.json', 'utf8')) });
 */
export async function attachLegacyDatabase(options: AttachOptions): Promise<AttachResult> {
  const map = parseAdoptMap(options.map);
  const resolved = resolveMap(map, options.mapFolder ?? process.cwd());
  return withDevice(options.dbPath, async (store, schema) => {
    const legacy = await openLegacyDatabase(resolved.legacy);
    try {
      const plan = await buildAdoptPlan(resolved, schema, legacy);
      return await withLease(store, async () => {
        const synced = plan.tables.map((table) => table.synced.name);
        const keys = new LegacyKeys(legacy);
        // Attached already with this very map: the triggers and ids are in place, and nothing is rewritten.
        const again = JSON.stringify(readBinding(store)?.map ?? null) === JSON.stringify(resolved);
        const counts: AttachedTable[] = [];
        if (again) {
          for (const table of plan.tables) {
            const [row] = await legacy.select(`SELECT count(*) AS n FROM ${legacy.quote(table.legacy)}`);
            counts.push(attachedTable(table, Number(row?.['n'] ?? 0)));
          }
        } else {
          await legacy.install(
            plan.tables.map((table) => ({
              syncedTable: table.synced.name,
              legacyTable: table.legacy,
              key: table.key,
              compositeKey: table.newKeys === 'composite' ? table.keyColumns : null,
              watchedColumns: table.columns.map((column) => column.legacy),
            })),
          );
          await restoreIdMappings(legacy, plan, savedIdMappings(store, synced));
          dropSavedIdMappings(store, synced);
          // Every row once: new ones get an id, the others are told against their shadow (changed while detached?).
          for (const table of plan.tables) counts.push(attachedTable(table, await keys.noteEveryRow(table)));
          installDeviceBookkeeping(
            store,
            resolved,
            plan.tables.map((table) => ({
              name: table.synced.name,
              columns: table.columns.map((column) => column.synced.name),
            })),
            new Date().toISOString(),
          );
        }
        const bridge = bridgeFor(store, schema, legacy, plan, options.logger ?? silentLogger);
        const broughtOut = await bridge.bringOut();
        const broughtIn = await bridge.bringIn();
        return { legacy: legacy.location, tables: counts, broughtIn, broughtOut };
      });
    } finally {
      await legacy.close();
    }
  });
}

/** Options for {@link generateAdoptMap}. */
export interface GenerateMapOptions {
  /** The program's database: a SQLite file, or a `mysql://user:password@host:port/database` URL. */
  readonly legacy: string;
  /** The folder the map file goes to: a SQLite path in it is written from there. @defaultValue the working folder */
  readonly mapFolder?: string;
}

/**
 * Reads a shop program's database and makes a synced schema and a map that bind every table it can
 * (`tillsync adopt init`); what it cannot bind is in the map's `notes`. Throws an {@link AdoptMapError}
 * when the database cannot be opened.
 *
 * @example
 * const { schema, map } = await generateAdoptMap({ legacy: 'shop.db' });
 */
export async function generateAdoptMap(options: GenerateMapOptions): Promise<GeneratedAdoptFiles> {
  const mapFolder = path.resolve(options.mapFolder ?? process.cwd());
  const mysql = /^(mysql|mariadb):\/\//i.test(options.legacy);
  const opened: LegacyLocation = mysql ? { mysql: options.legacy } : { sqlite: path.resolve(options.legacy) };
  const written: LegacyLocation =
    'sqlite' in opened ? { sqlite: path.relative(mapFolder, opened.sqlite) || '.' } : opened;
  const legacy = await openLegacyDatabase(opened);
  try {
    return await generateAdoptFiles(legacy, written);
  } finally {
    await legacy.close();
  }
}

/** Options for {@link detachLegacyDatabase}. */
export interface DetachOptions {
  readonly dbPath: string;
  /** @defaultValue a logger that drops everything */
  readonly logger?: DeviceLogger;
}

/**
 * Removes the triggers and bookkeeping from the attached database, after bringing its last changes into the
 * device file; the program's tables and rows stay as they are. The id map is kept in the device file for a
 * later attach. Detaching a file with nothing attached does nothing.
 */
export async function detachLegacyDatabase(options: DetachOptions): Promise<DetachResult> {
  return withDevice(options.dbPath, async (store, schema) => {
    const binding = readBinding(store);
    if (!binding) return { detached: false, legacy: null };
    const legacy = await openLegacyDatabase(binding.map.legacy);
    try {
      const plan = await buildAdoptPlan(binding.map, schema, legacy);
      return await withLease(store, async () => {
        // No capture from here on; what was captured is brought in before the bookkeeping goes.
        await legacy.dropTriggers();
        const bridge = bridgeFor(store, schema, legacy, plan, options.logger ?? silentLogger);
        await bridge.bringOut();
        await bridge.bringIn();
        const rows = (await legacy.select('SELECT tbl, global_id, local_key, shadow FROM _sync_ids')) as {
          tbl: string;
          global_id: string;
          local_key: number | string | null;
          shadow: string | null;
        }[];
        saveIdMappings(
          store,
          rows.map((row) => ({
            tbl: row.tbl,
            globalId: row.global_id,
            localKey: row.local_key === null ? null : Number(row.local_key),
            shadow: row.shadow,
          })),
        );
        await legacy.dropBookkeeping();
        removeDeviceBookkeeping(store);
        return { detached: true, legacy: legacy.location };
      });
    } finally {
      await legacy.close();
    }
  });
}

/** How an attached database stands, as `tillsync status` shows it. */
export interface LegacyStatus {
  /** The attached database (a file, or `mysql://host:port/db`). */
  readonly legacy: string;
  /** Rows the program's database refuses now; they are tried again every cycle. */
  readonly refused: number;
  /** The newest of them, or `null`. */
  readonly lastRefusal: (LegacyRefusal & { readonly text: string }) | null;
}

/** The attached database's standing, or `null` when the device file has none attached. */
export function readLegacyStatus(dbPath: string): LegacyStatus | null {
  if (!fs.existsSync(dbPath)) return null;
  const store = LocalStore.open({ dbPath });
  try {
    const binding = readBinding(store);
    if (!binding) return null;
    const last = legacyRefusals(store, 1)[0];
    const legacy = binding.map.legacy;
    return {
      legacy: 'sqlite' in legacy ? legacy.sqlite : withoutPassword(legacy.mysql),
      refused: legacyRefusedCount(store),
      lastRefusal: last ? { ...last, text: describeRefusal(last) } : null,
    };
  } finally {
    store.close();
  }
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return url;
  }
}

/** Options for {@link LegacyBridgeRunner}. */
export interface LegacyBridgeRunnerOptions {
  /** The device file whose attached database to keep in step. */
  readonly dbPath: string;
  /** @defaultValue a logger that drops everything */
  readonly logger?: DeviceLogger;
}

/**
 * The bridge as the device agent runs it around each sync cycle: before it, the program's changes into the
 * synced tables (to be pushed); after it, what the pull changed into the program's tables. It reads the
 * binding each time (an attach or detach by another process takes effect at the next cycle), keeps its
 * connections while the binding stays, and never throws: a failure is logged and the cycle runs anyway.
 * {@link finishCycle} adds what it did to the cycle's log entry: its time, and the rows the program's
 * database refuses (the cycle is then an error: the two sides differ until they go in).
 */
export class LegacyBridgeRunner {
  readonly #dbPath: string;
  readonly #logger: DeviceLogger;
  #open: { key: string; store: LocalStore; legacy: LegacyDatabase; bridge: LegacyBridge } | null = null;
  #store: LocalStore | null = null;
  #busyMs = 0;
  /** The last failure, or `null` after a run that went through. */
  lastError: string | null = null;

  constructor(options: LegacyBridgeRunnerOptions) {
    this.#dbPath = options.dbPath;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Before a cycle: the inbox left by an interrupted run, then the program's changes. */
  beforeCycle(): Promise<void> {
    this.#busyMs = 0;
    return this.#run(async (bridge) => {
      await bridge.bringOut();
      await bridge.bringIn();
    });
  }

  /** After a cycle: what the pull changed, into the program's tables. */
  afterCycle(): Promise<void> {
    return this.#run(async (bridge) => {
      await bridge.bringOut();
    });
  }

  /**
   * The cycle's entry with the bridge's part in it (call after {@link afterCycle}): `durationMs` includes
   * the bridge's time; each row the program's database refuses is a rejected row (code `LEGACY_REFUSED`,
   * naming its table, key and the database's message) and makes the cycle an error, as does a bridge that
   * could not run (`LEGACY_BRIDGE`). The device file's sync log and status are amended the same way.
   */
  finishCycle(entry: SyncLogEntry): SyncLogEntry {
    const store = this.#store;
    if (!store || (this.#open === null && this.lastError === null)) return entry;
    const refusals = legacyRefusals(store);
    let amended: SyncLogEntry = { ...entry, durationMs: entry.durationMs + Math.round(this.#busyMs) };
    let error: { code: string; message: string } | null = null;
    if (this.lastError !== null) {
      error = {
        code: 'LEGACY_BRIDGE',
        message: `the shop program's database was not brought in step: ${this.lastError}`,
      };
    } else if (refusals[0]) {
      const count = legacyRefusedCount(store);
      error = {
        code: 'LEGACY_REFUSED',
        message: `${count} ${count === 1 ? 'row does' : 'rows do'} not go into the shop program's database; newest: ${describeRefusal(refusals[0])}`,
      };
    }
    if (error !== null) {
      amended = {
        ...amended,
        rejected: [
          ...entry.rejected,
          ...refusals.map((refusal) => ({
            table: refusal.table,
            id: refusal.id,
            code: 'LEGACY_REFUSED',
            message: describeRefusal(refusal),
          })),
        ],
        ...(entry.ok
          ? { ok: false, outcome: 'error' as const, error: error.message, errorCode: error.code }
          : {}),
      };
    }
    store.write(() => {
      if (!new SyncLog(store).amendNewest(amended) || !entry.ok || error === null) return;
      store.setState(StateKey.lastOutcome, 'error');
      store.setState(StateKey.lastError, error.message);
    });
    return amended;
  }

  async close(): Promise<void> {
    await this.#closeBridge();
    this.#store?.close();
    this.#store = null;
  }

  async #run(step: (bridge: LegacyBridge) => Promise<void>): Promise<void> {
    const started = performance.now();
    try {
      const open = await this.#bridge();
      if (!open) return;
      await withLease(open.store, () => step(open.bridge));
      this.lastError = null;
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      this.#logger.warn(
        { component: 'legacy-bridge' },
        `the attached database was not brought in step: ${this.lastError}`,
      );
      // A lost connection is opened again next time.
      await this.#closeBridge();
    } finally {
      this.#busyMs += performance.now() - started;
    }
  }

  async #bridge(): Promise<{ store: LocalStore; bridge: LegacyBridge } | null> {
    this.#store ??= LocalStore.open({ dbPath: this.#dbPath });
    const store = this.#store;
    const binding = readBinding(store);
    const schema = readLocalSchema(store);
    if (!binding || !schema) {
      await this.#closeBridge();
      return null;
    }
    const key = `${binding.attachedAt}\u0000${store.getState(StateKey.schema) ?? ''}`;
    if (this.#open?.key !== key) {
      await this.#closeBridge();
      const legacy = await openLegacyDatabase(binding.map.legacy);
      try {
        const plan = await buildAdoptPlan(binding.map, schema, legacy);
        this.#open = { key, store, legacy, bridge: bridgeFor(store, schema, legacy, plan, this.#logger) };
      } catch (error) {
        await legacy.close();
        throw error;
      }
    }
    return this.#open;
  }

  async #closeBridge(): Promise<void> {
    const open = this.#open;
    this.#open = null;
    await open?.legacy.close();
  }
}

function bridgeFor(
  store: LocalStore,
  schema: CompiledSchema,
  legacy: LegacyDatabase,
  plan: AdoptPlan,
  logger: DeviceLogger,
): LegacyBridge {
  return new LegacyBridge({ store, tables: new SyncedTables(store, schema), legacy, plan, logger });
}

/** Opens the device file, checks it is paired, runs `fn` and closes it. */
async function withDevice<T>(
  dbPath: string,
  fn: (store: LocalStore, schema: CompiledSchema) => Promise<T>,
): Promise<T> {
  if (!fs.existsSync(dbPath)) throw new NotPairedError(dbPath);
  const store = LocalStore.open({ dbPath });
  try {
    const schema = readLocalSchema(store);
    if (!readCredentials(store) || !schema) throw new NotPairedError(dbPath);
    return await fn(store, schema);
  } finally {
    store.close();
  }
}

/** One bridge run at a time per device file, across processes (an agent and an attach). */
async function withLease<T>(store: LocalStore, fn: () => Promise<T>): Promise<T> {
  const lease = new CycleLease(store, Date.now, StateKey.adoptLease);
  await lease.acquire(30_000);
  try {
    return await fn();
  } finally {
    lease.release();
  }
}

/** The map with its SQLite path made absolute, as the device file keeps it. */
function resolveMap(map: AdoptMap, mapFolder: string): AdoptMap {
  if (!('sqlite' in map.legacy)) return map;
  return { ...map, legacy: { sqlite: path.resolve(mapFolder, map.legacy.sqlite) } };
}

async function openLegacyDatabase(location: LegacyLocation): Promise<LegacyDatabase> {
  if ('sqlite' in location) {
    if (!fs.existsSync(location.sqlite))
      throw new AdoptMapError([`legacy.sqlite: there is no file ${location.sqlite}`]);
    try {
      return new SqliteLegacyDatabase(location.sqlite);
    } catch (error) {
      throw new AdoptMapError([
        `legacy.sqlite: ${location.sqlite} is not a SQLite database that can be opened (${error instanceof Error ? error.message : String(error)})`,
      ]);
    }
  }
  let url: URL;
  try {
    url = new URL(location.mysql);
  } catch {
    throw new AdoptMapError([
      `legacy.mysql: "${location.mysql}" is not a URL (mysql://user:password@host:3306/database)`,
    ]);
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') {
    throw new AdoptMapError([`legacy.mysql: "${location.mysql}" is not a mysql:// URL`]);
  }
  if (url.pathname.replace(/^\//, '') === '') {
    throw new AdoptMapError([`legacy.mysql: the URL names no database (mysql://user@host:3306/DATABASE)`]);
  }
  try {
    return await MysqlLegacyDatabase.connect(location.mysql);
  } catch (error) {
    throw new AdoptMapError([`legacy.mysql: ${connectProblem(url, error)}`]);
  }
}

/** Why the map's MariaDB database cannot be reached, and which part of the URL to look at. */
function connectProblem(url: URL, error: unknown): string {
  const where = `mysql://${url.host}${url.pathname}`;
  const message = error instanceof Error ? error.message : String(error);
  const hint: Record<string, string> = {
    ER_BAD_DB_ERROR: `check the database name after the last "/" of the URL`,
    ER_ACCESS_DENIED_ERROR: 'check the user and password in the URL',
    ER_DBACCESS_DENIED_ERROR: 'the user may not use this database; check the user in the URL',
    ECONNREFUSED: 'nothing answers there; check the host and port in the URL, and that MariaDB runs',
    ENOTFOUND: 'there is no such host; check the host in the URL',
    ETIMEDOUT: 'the host does not answer; check the host and port in the URL',
  };
  const code = (error as { code?: unknown } | null)?.code;
  const advice = typeof code === 'string' ? hint[code] : undefined;
  return `${where}: ${message}${advice === undefined ? '' : ` (${advice})`}`;
}

/** Puts a detached database's id map back, and lets go of the keys of rows deleted meanwhile. */
async function restoreIdMappings(
  legacy: LegacyDatabase,
  plan: AdoptPlan,
  saved: readonly IdMapping[],
): Promise<void> {
  await legacy.transaction(async () => {
    for (const mapping of saved) {
      await legacy.run(
        `${legacy.insertIgnore} INTO _sync_ids (tbl, global_id, local_key, shadow) VALUES (?, ?, ?, ?)`,
        [mapping.tbl, mapping.globalId, mapping.localKey, mapping.shadow],
      );
    }
    const keys = new LegacyKeys(legacy);
    for (const table of plan.tables) {
      await legacy.run(
        `UPDATE _sync_ids SET local_key = NULL WHERE tbl = ? AND local_key IS NOT NULL AND ${keys.missing(table)}`,
        [table.synced.name],
      );
    }
  });
}

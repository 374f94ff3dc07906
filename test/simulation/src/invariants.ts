import {
  formatChecksum,
  storeColumnOf,
  type PushRequest,
  type PushResponse,
  type RowValues,
  type SyncSchema,
  type TableChecksum,
} from '@tillsync/protocol';
import { rowKey } from '@tillsync/server';
import type { StockLedger } from './workload.js';
import type { World } from './world.js';

/**
 * The invariants of DESIGN.md, checked after a seed has quiesced. Each returns the violations it found, as
 * sentences; none means the invariant held.
 */

const COUNTER_COLUMNS = new Set(['stock', 'quantity']);
const EMPTY_CHECKSUM: TableChecksum = { count: 0, sum: formatChecksum(0n) };

/** A row as the server holds it, tombstones included. */
export interface ServerRow {
  readonly values: RowValues | null;
  readonly updatedAt: string;
}

export async function serverRows(world: World): Promise<Map<string, Map<string, ServerRow>>> {
  const store = world.server.storage.sync.forTenant(world.tenantId);
  const rows = new Map<string, Map<string, ServerRow>>(
    Object.keys(world.schema.tables).map((table) => [table, new Map()]),
  );
  let since = 0;
  for (;;) {
    const page = await store.pull(since, 10_000);
    if (page.resyncRequired) throw new Error('the server asks its own reader to resync');
    for (const row of page.rows) {
      rows.get(row.table)?.set(row.id, {
        values: row.valuesJson === null ? null : (JSON.parse(row.valuesJson) as RowValues),
        updatedAt: row.updatedAt,
      });
    }
    if (!page.hasMore) return rows;
    since = page.cursorSeq;
  }
}

/** A row's values in the schema's column order, as comparable text. */
function rowText(schema: SyncSchema, table: string, values: Readonly<Record<string, unknown>>): string {
  const columns = Object.keys(schema.tables[table]?.columns ?? {});
  return JSON.stringify(columns.map((column) => values[column] ?? null));
}

/**
 * 1: every device holds the server's rows of its scope, and the same checksums; nothing is left to send. In a
 * chain (PROTOCOL.md §7) a device's scope is the tenant's tables whole and the per-store tables' rows of its
 * store only: it holds no other store's row, and its checksums are the server's over exactly its scope.
 */
async function sameEverywhere(world: World, server: Map<string, Map<string, ServerRow>>): Promise<string[]> {
  const problems: string[] = [];
  const store = world.server.storage.sync.forTenant(world.tenantId);
  for (const device of world.devices) {
    const db = device.client.database;
    const checksums = await (world.kind === 'chain' ? store.checksums(device.storeId) : store.checksums());
    if (world.kind === 'chain' && device.client.identity?.storeId !== device.storeId)
      problems.push(
        `device ${device.index} believes it is in store ${device.client.identity?.storeId ?? '-'}, the owner put it in ${device.storeId ?? '-'}`,
      );
    const pending = (
      db.prepare('SELECT tbl, id, error_code FROM _sync_pending').all() as {
        tbl: string;
        id: string;
        error_code: string | null;
      }[]
    ).map((row) => `${row.tbl} ${row.id}${row.error_code ? ` (${row.error_code})` : ''}`);
    if (pending.length > 0)
      problems.push(
        `device ${device.index} still has ${pending.length} pending: ${pending.slice(0, 3).join(', ')}`,
      );
    const unfolded = (db.prepare('SELECT count(*) AS n FROM _sync_captured').get() as { n: number }).n;
    if (unfolded > 0)
      problems.push(`device ${device.index} still has ${unfolded} captured writes not folded`);
    const inFlight = (db.prepare('SELECT count(*) AS n FROM _sync_push').get() as { n: number }).n;
    if (inFlight > 0) problems.push(`device ${device.index} still has ${inFlight} push(es) in flight`);
    for (const [table, spec] of Object.entries(world.schema.tables)) {
      const storeColumn = storeColumnOf(spec);
      const serverTable = server.get(table) ?? new Map<string, ServerRow>();
      const local = new Map(
        (db.prepare(`SELECT * FROM "${table}"`).all() as { id: string }[]).map((row) => [
          row.id,
          rowText(world.schema, table, row),
        ]),
      );
      for (const [id, row] of serverTable) {
        if (row.values === null) {
          if (local.has(id))
            problems.push(`device ${device.index} has ${table} ${id}, deleted on the server`);
          continue;
        }
        const text = local.get(id);
        if (storeColumn !== null && row.values[storeColumn] !== device.storeId) {
          if (text !== undefined)
            problems.push(
              `device ${device.index} of store ${device.storeId ?? '-'} holds ${table} ${id} of store ${String(row.values[storeColumn])}`,
            );
          continue;
        }
        if (text === undefined) problems.push(`device ${device.index} lacks ${table} ${id}`);
        else if (text !== rowText(world.schema, table, row.values))
          problems.push(
            `device ${device.index} has ${table} ${id} as ${text}, the server as ${rowText(world.schema, table, row.values)}`,
          );
      }
      for (const id of local.keys()) {
        if (serverTable.get(id)?.values == null)
          problems.push(`device ${device.index} has ${table} ${id}, which the server has not`);
      }
      const mine = db.prepare('SELECT count, sum FROM _sync_checksums WHERE tbl = ?').get(table) as
        TableChecksum | undefined;
      const theirs = checksums[table] ?? EMPTY_CHECKSUM;
      const ours = mine ?? EMPTY_CHECKSUM;
      if (ours.count !== theirs.count || ours.sum !== theirs.sum)
        problems.push(
          `device ${device.index}'s ${table} checksum ${JSON.stringify(ours)} differs from the server's ${JSON.stringify(theirs)}`,
        );
    }
  }
  return problems;
}

/** A change the server acknowledged to a device (an answer the device heard, `applied` or `stale`). */
interface AcknowledgedWrite {
  readonly deviceIndex: number;
  readonly updatedAt: string;
  readonly op: string;
  readonly values: Readonly<Record<string, unknown>>;
  /** The base the device sent: its own account of what it had received of the row. */
  readonly base: string | undefined;
  /**
   * What the device had in fact received of the row when it wrote it, as the world saw it (knowledge.ts):
   * the largest stamp of the row handed to it before that write; undefined when none was.
   */
  readonly known: string | undefined;
}

/**
 * 2: no acknowledged column write vanishes unexplained (PROTOCOL.md §5, column by column). For every column an
 * acknowledged upsert set (counters aside, invariant 3 counts them), the server's column holds that write's
 * value, or a write with a larger stamp replaced it that was either the same device's own later write, a
 * write made after its device had received it (the world's record of what that device received before it
 * wrote, not the `base` it sent, which is the product's own claim and may be wrong), the server's own write
 * (a cleared reference), or is recorded as a conflict whose loser is this write or later. A column never
 * holds a write older than one acknowledged for it. A deleted row is explained the same way, as a whole.
 */
async function noAcknowledgedWriteLost(world: World): Promise<string[]> {
  const problems: string[] = [];
  const store = world.server.storage.sync.forTenant(world.tenantId);
  const acknowledged = new Map<string, { table: string; id: string; writes: AcknowledgedWrite[] }>();
  for (const push of world.heardPushes) {
    const request = JSON.parse(push.requestBody) as PushRequest;
    const answer = JSON.parse(push.answerBody) as PushResponse;
    answer.results.forEach((result, index) => {
      const change = request.changes[index];
      if (!change || result.status === 'rejected') return;
      const key = rowKey(change.table, change.id);
      const row = acknowledged.get(key) ?? { table: change.table, id: change.id, writes: [] };
      row.writes.push({
        deviceIndex: push.deviceIndex,
        updatedAt: change.updatedAt,
        op: change.op,
        values: change.values ?? {},
        base: change.base,
        known: world.knowledge.knownWhenWritten(push.deviceIndex, key, change.updatedAt, push.sentAt),
      });
      acknowledged.set(key, row);
    });
  }
  const stored = await store.readRows([...acknowledged.values()]);
  for (const [key, { table, id, writes }] of acknowledged) {
    const final = stored.get(key);
    let conflicts: Awaited<ReturnType<typeof store.conflicts>> | null = null;
    const recorded = async (column: string | null, stamp: string): Promise<boolean> => {
      conflicts ??= await store.conflicts(table, id);
      return conflicts.some(
        (conflict) =>
          // A delete records each overridden column, or the row as a whole: either explains the row.
          (column === null || conflict.column === column || conflict.column === null) &&
          conflict.loser.updatedAt >= stamp,
      );
    };
    /** Whether overriding `write`'s `column` (null: the row) by the write stamped `by` is explained. */
    const explained = async (
      write: AcknowledgedWrite,
      column: string | null,
      by: string,
    ): Promise<boolean> => {
      const winner = writes.find((other) => other.updatedAt === by);
      if (
        writes.some((other) => other.deviceIndex === write.deviceIndex && other.updatedAt > write.updatedAt)
      )
        return true;
      if (winner?.known !== undefined && winner.known >= write.updatedAt) return true;
      return recorded(column, write.updatedAt);
    };
    /** Why a winner that did not know the write passed for one that did, when its base claimed it. */
    const claimed = (by: string, write: AcknowledgedWrite): string => {
      const winner = writes.find((other) => other.updatedAt === by);
      return winner?.base !== undefined && winner.base >= write.updatedAt
        ? ` (the winner's base ${winner.base} claims it, but device ${winner.deviceIndex} had received the row only at ${winner.known ?? 'none'} when it wrote)`
        : '';
    };
    for (const write of writes) {
      const what = `device ${write.deviceIndex}'s acknowledged ${write.op} of ${table} ${id} at ${write.updatedAt}`;
      if (!final) {
        problems.push(`${what} is not on the server at all`);
        continue;
      }
      if (final.values === null) {
        if (write.op === 'delete' || final.updatedAt === write.updatedAt) continue;
        if (!(await explained(write, null, final.updatedAt)))
          problems.push(
            `${what} was deleted (at ${final.updatedAt}) with no conflict recorded${claimed(final.updatedAt, write)}`,
          );
        continue;
      }
      if (write.op === 'delete') {
        // A delete that later writes undid: they set every required column after it, or it is recorded.
        if (final.updatedAt < write.updatedAt) problems.push(`${what} is undone by an older state`);
        else if (!(await explained(write, null, final.updatedAt)))
          problems.push(
            `${what} was undone (now ${final.updatedAt}) with no conflict recorded${claimed(final.updatedAt, write)}`,
          );
        continue;
      }
      for (const [column, value] of Object.entries(write.values)) {
        if (COUNTER_COLUMNS.has(column)) continue;
        const stamp = final.stamps?.[column]?.[0] ?? final.updatedAt;
        const now = final.values[column] ?? null;
        if (stamp < write.updatedAt) {
          problems.push(`${what}: ${column} holds an older write (${stamp})`);
        } else if (stamp === write.updatedAt) {
          if (now !== (value ?? null))
            problems.push(
              `${what}: ${column} is stored as ${JSON.stringify(now)}, not ${JSON.stringify(value)}`,
            );
        } else if (now !== (value ?? null)) {
          // The column's own writer (null: the server, clearing a reference); the row's where it has no stamps.
          const columnStamp = final.stamps?.[column];
          const serverWrote = (columnStamp ? columnStamp[1] : final.deviceId) === null;
          if (!serverWrote && !(await explained(write, column, stamp)))
            problems.push(
              `${what}: ${column} was overridden (at ${stamp}) with no conflict recorded${claimed(stamp, write)}`,
            );
        }
      }
    }
  }
  return problems;
}

/**
 * 3: every counter is its start plus every delta, each counted once: a product's stock, or in a chain a
 * store's stock level of a product (made at 0 by the server, then only changed by deltas). A product a device
 * deleted has no stock left to count when the delete stood (or it never reached the server); one a till
 * brought back over a delete that stood (a sale of it made meanwhile needed it) starts again from that
 * till's count, as the server keeps no counters in a deleted row.
 */
function countersAdd(
  world: World,
  server: Map<string, Map<string, ServerRow>>,
  stock: StockLedger,
): string[] {
  const problems: string[] = [];
  const broughtBack = productsBroughtBack(world);
  const [table, column] = world.kind === 'chain' ? ['stock_levels', 'quantity'] : ['products', 'stock'];
  for (const [id, expected] of stock.expected) {
    const row = server.get(table)?.get(id);
    if (stock.deleted.has(id) && !row?.values) continue;
    const actual = row?.values?.[column];
    if (actual === expected || (table === 'products' && broughtBack.has(id))) continue;
    problems.push(`${table} ${id} has ${column} ${String(actual)}, expected ${expected}`);
  }
  return problems;
}

/**
 * The products some device wrote whole a second time, its stock a starting value again, and the server
 * took it: brought back over a delete that stood (`PullApplier.merge` on the device, a write that carries
 * every column and is later than the delete on the server).
 */
function productsBroughtBack(world: World): Set<string> {
  const starts = new Map<string, Set<string>>();
  for (const push of world.heardPushes) {
    const request = JSON.parse(push.requestBody) as PushRequest;
    const answer = JSON.parse(push.answerBody) as PushResponse;
    answer.results.forEach((result, index) => {
      const change = request.changes[index];
      if (result.status !== 'applied' || change?.table !== 'products' || change.op !== 'upsert') return;
      if (typeof change.values?.stock !== 'number') return;
      const stamps = starts.get(change.id) ?? new Set<string>();
      stamps.add(change.updatedAt);
      starts.set(change.id, stamps);
    });
  }
  return new Set([...starts].filter(([, stamps]) => stamps.size > 1).map(([id]) => id));
}

/**
 * 7: deletes respected references (PROTOCOL.md §2 push): no live row on the server points at a row that is
 * not there, through a required reference (the delete was refused) or an optional one (the server cleared
 * it when the parent went).
 */
function referencesHold(world: World, server: Map<string, Map<string, ServerRow>>): string[] {
  const problems: string[] = [];
  for (const [table, rows] of server) {
    const columns = Object.entries(world.schema.tables[table]?.columns ?? {}).filter(
      ([, column]) => column.references !== undefined,
    );
    for (const [id, row] of rows) {
      if (row.values === null) continue;
      for (const [name, column] of columns) {
        const target = row.values[name];
        if (target === null || target === undefined) continue;
        const parent = server.get(column.references ?? '')?.get(String(target));
        if (parent?.values == null)
          problems.push(
            `${table} ${id} points at ${column.references} ${String(target)} through its ${column.required === true ? 'required' : 'optional'} ${name}, and the server has no such row`,
          );
      }
    }
  }
  return problems;
}

/** Checks invariants 1–4, 6 and 7 on a quiesced world. */
export async function checkInvariants(
  world: World,
  stock: StockLedger,
  checksumRepairs: readonly string[],
): Promise<string[]> {
  const server = await serverRows(world);
  return [
    ...world.serverErrors.map((error) => `5xx: ${error}`),
    ...world.scopeLeaks.map((leak) => `another store's row reached a device: ${leak}`),
    // 4: a pull that skipped a change leaves a checksum that differs; the cycle repairs it, and says so.
    ...checksumRepairs.map((repair) => `a pull skipped a change: ${repair}`),
    ...(await sameEverywhere(world, server)),
    ...(await noAcknowledgedWriteLost(world)),
    ...countersAdd(world, server, stock),
    ...referencesHold(world, server),
    ...(await searchIndexesWhole(world)),
  ];
}

/**
 * 6: once built, each device's search index of a table holds an entry for every row of it, whatever the
 * first sync left to build, the catch-ups and the crashes did meanwhile. (Entries of rows deleted by a till's
 * own SQL may stay behind: a search checks each candidate against its row, so they find nothing.)
 */
async function searchIndexesWhole(world: World): Promise<string[]> {
  const problems: string[] = [];
  for (const device of world.devices) {
    await device.client.buildSearchIndexes();
    const db = device.client.database;
    for (const table of Object.keys(world.schema.tables)) {
      const index = `_sync_search_${table}`;
      const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(index);
      if (exists === undefined) continue;
      const missing = db
        .prepare(
          `SELECT count(*) AS n FROM "${table}" WHERE rowid NOT IN (SELECT id FROM "${index}_docsize")`,
        )
        .get() as { n: number };
      if (missing.n > 0)
        problems.push(`device ${device.index}'s search index of ${table} misses ${missing.n} of its rows`);
    }
  }
  return problems;
}

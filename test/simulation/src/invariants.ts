import {
  SHOP_SCHEMA,
  formatChecksum,
  type PushRequest,
  type PushResponse,
  type RowValues,
  type TableChecksum,
} from '@tillsync/protocol';
import type { StockLedger } from './workload.js';
import type { World } from './world.js';

/**
 * The invariants of DESIGN.md, checked after a seed has quiesced. Each returns the violations it found, as
 * sentences; none means the invariant held.
 */

const TABLES = Object.keys(SHOP_SCHEMA.tables);
const COUNTER_COLUMNS = new Set(['stock']);
const EMPTY_CHECKSUM: TableChecksum = { count: 0, sum: formatChecksum(0n) };

/** A row as the server holds it, tombstones included. */
interface ServerRow {
  readonly values: RowValues | null;
  readonly updatedAt: string;
}

async function serverRows(world: World): Promise<Map<string, Map<string, ServerRow>>> {
  const store = world.server.storage.sync.forTenant(world.tenantId);
  const rows = new Map<string, Map<string, ServerRow>>(TABLES.map((table) => [table, new Map()]));
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
function rowText(table: string, values: Readonly<Record<string, unknown>>): string {
  const columns = Object.keys(SHOP_SCHEMA.tables[table]?.columns ?? {});
  return JSON.stringify(columns.map((column) => values[column] ?? null));
}

/** 1: every device holds the server's rows, and the same checksums; nothing is left to send. */
async function sameEverywhere(world: World, server: Map<string, Map<string, ServerRow>>): Promise<string[]> {
  const problems: string[] = [];
  const checksums = await world.server.storage.sync.forTenant(world.tenantId).checksums();
  for (const device of world.devices) {
    const db = device.client.database;
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
    const inFlight = (db.prepare('SELECT count(*) AS n FROM _sync_push').get() as { n: number }).n;
    if (inFlight > 0) problems.push(`device ${device.index} still has ${inFlight} push(es) in flight`);
    for (const table of TABLES) {
      const serverTable = server.get(table) ?? new Map<string, ServerRow>();
      const local = new Map(
        (db.prepare(`SELECT * FROM "${table}"`).all() as { id: string }[]).map((row) => [
          row.id,
          rowText(table, row),
        ]),
      );
      for (const [id, row] of serverTable) {
        if (row.values === null) {
          if (local.has(id))
            problems.push(`device ${device.index} has ${table} ${id}, deleted on the server`);
          continue;
        }
        const text = local.get(id);
        if (text === undefined) problems.push(`device ${device.index} lacks ${table} ${id}`);
        else if (text !== rowText(table, row.values))
          problems.push(
            `device ${device.index} has ${table} ${id} as ${text}, the server as ${rowText(table, row.values)}`,
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

/**
 * 2: every write the server acknowledged to a device (an answer the device heard, `applied` or `stale`) is
 * the row's final state, or was overridden by a later write that is either the same device's own later
 * write or recorded as a conflict whose loser is this write or later.
 */
async function noAcknowledgedWriteLost(
  world: World,
  server: Map<string, Map<string, ServerRow>>,
): Promise<string[]> {
  const problems: string[] = [];
  const store = world.server.storage.sync.forTenant(world.tenantId);
  /** Per row: the acknowledged stamps of each device. */
  const acknowledged = new Map<
    string,
    { deviceIndex: number; updatedAt: string; op: string; values: RowValues | undefined }[]
  >();
  for (const push of world.heardPushes) {
    const request = JSON.parse(push.requestBody) as PushRequest;
    const answer = JSON.parse(push.answerBody) as PushResponse;
    answer.results.forEach((result, index) => {
      const change = request.changes[index];
      if (!change || result.status === 'rejected') return;
      const key = `${change.table} ${change.id}`;
      const list = acknowledged.get(key) ?? [];
      list.push({
        deviceIndex: push.deviceIndex,
        updatedAt: change.updatedAt,
        op: change.op,
        values: change.values as RowValues | undefined,
      });
      acknowledged.set(key, list);
    });
  }
  for (const [key, writes] of acknowledged) {
    const [table = '', id = ''] = key.split(' ');
    const final = server.get(table)?.get(id);
    let conflicts: Awaited<ReturnType<typeof store.conflicts>> | null = null;
    for (const write of writes) {
      const what = `device ${write.deviceIndex}'s acknowledged ${write.op} of ${key} at ${write.updatedAt}`;
      if (!final) {
        problems.push(`${what} is not on the server at all`);
        continue;
      }
      if (final.updatedAt < write.updatedAt) {
        problems.push(`${what} was replaced by an older state (${final.updatedAt})`);
        continue;
      }
      if (final.updatedAt === write.updatedAt) {
        const same =
          write.op === 'delete'
            ? final.values === null
            : final.values !== null && sameExceptCounters(table, write.values ?? {}, final.values);
        if (!same) problems.push(`${what} is stored with other values: ${JSON.stringify(final.values)}`);
        continue;
      }
      // A delete that a later delete replaced still holds: the row is gone.
      if (write.op === 'delete' && final.values === null) continue;
      const ownLater = writes.some(
        (other) => other.deviceIndex === write.deviceIndex && other.updatedAt > write.updatedAt,
      );
      if (ownLater) continue;
      conflicts ??= await store.conflicts(table, id);
      if (conflicts.some((conflict) => conflict.loser.updatedAt >= write.updatedAt)) continue;
      problems.push(`${what} was overridden (now ${final.updatedAt}) with no conflict recorded`);
    }
  }
  return problems;
}

function sameExceptCounters(table: string, sent: RowValues, stored: RowValues): boolean {
  const columns = Object.keys(SHOP_SCHEMA.tables[table]?.columns ?? {});
  return columns.every(
    (column) => COUNTER_COLUMNS.has(column) || (sent[column] ?? null) === (stored[column] ?? null),
  );
}

/** 3: every counter is its start plus every delta, each counted once. */
function countersAdd(server: Map<string, Map<string, ServerRow>>, stock: StockLedger): string[] {
  const problems: string[] = [];
  for (const [id, expected] of stock.expected) {
    const row = server.get('products')?.get(id);
    const actual = row?.values?.stock;
    if (actual !== expected)
      problems.push(`products ${id} has stock ${String(actual)}, expected ${expected}`);
  }
  return problems;
}

/** Checks invariants 1–4 and 6 on a quiesced world. */
export async function checkInvariants(
  world: World,
  stock: StockLedger,
  checksumRepairs: readonly string[],
): Promise<string[]> {
  const server = await serverRows(world);
  return [
    ...world.serverErrors.map((error) => `5xx: ${error}`),
    // 4: a pull that skipped a change leaves a checksum that differs; the cycle repairs it, and says so.
    ...checksumRepairs.map((repair) => `a pull skipped a change: ${repair}`),
    ...(await sameEverywhere(world, server)),
    ...(await noAcknowledgedWriteLost(world, server)),
    ...countersAdd(server, stock),
  ];
}

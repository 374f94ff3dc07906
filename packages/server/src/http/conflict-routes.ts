import type { FastifyInstance } from 'fastify';
import {
  ConflictListQuery,
  type ColumnDisplay,
  type CompiledSchema,
  type ConflictInfo,
  type ConflictList,
  type RowValues,
  type SchemaColumn,
  type StoredChange,
} from '@tillsync/protocol';
import { rowKey, type StoredConflict, type StoredRow } from '../storage/sync-store.js';
import type { AppContext } from './app-context.js';

/** The most conflicts one call answers, and how many when the caller does not say. */
const MAX_CONFLICTS = 500;
const DEFAULT_CONFLICTS = 100;

/**
 * `GET /api/conflicts?table=&id=&limit=` (owner): the values last-write-wins overrode without the winner
 * having known them, newest first, one per column (or per row, where a delete met writes), each with both
 * versions and the devices that wrote them, so "where did my edit go?" has an answer. Each comes with what
 * the owner needs to read it as the shop does: the row's name, how each column reads (money, a flag, a
 * reference) and the names of the rows its references point at. Scoped to the owner's tenant by the store.
 */
export function registerConflictRoutes(app: FastifyInstance, context: AppContext): void {
  const { accounts, storage, config } = context;

  app.get(
    '/api/conflicts',
    { schema: { querystring: ConflictListQuery } },
    async (request): Promise<ConflictList> => {
      const owner = await accounts.authenticateOwner(request.headers.authorization);
      const query = request.query as ConflictListQuery;
      const limit = Math.min(MAX_CONFLICTS, Math.max(1, Number(query.limit ?? DEFAULT_CONFLICTS)));
      const store = storage.sync.forTenant(owner.tenantId);
      const conflicts = await store.listConflicts({
        ...(query.table !== undefined ? { table: query.table } : {}),
        ...(query.id !== undefined ? { id: query.id } : {}),
        limit,
      });
      const named = await store.readRows(namedRows(conflicts, config.schema));
      return conflicts.map((conflict) => toConflictInfo(conflict, config.schema, named));
    },
  );
}

/** The rows whose names the conflicts show: each conflict's own row and the rows its references point at. */
function namedRows(
  conflicts: readonly StoredConflict[],
  schema: CompiledSchema,
): Array<{ table: string; id: string }> {
  const keys: Array<{ table: string; id: string }> = [];
  for (const conflict of conflicts) {
    keys.push({ table: conflict.table, id: conflict.id });
    for (const [column, value] of columnValues(conflict)) {
      const parent = columnOf(schema, conflict.table, column)?.references;
      if (parent !== undefined && typeof value === 'string') keys.push({ table: parent, id: value });
    }
  }
  return keys;
}

function toConflictInfo(
  conflict: StoredConflict,
  schema: CompiledSchema,
  named: ReadonlyMap<string, StoredRow>,
): ConflictInfo {
  const display: Record<string, ColumnDisplay> = {};
  const names: Record<string, string> = {};
  for (const [column, value] of columnValues(conflict)) {
    const spec = columnOf(schema, conflict.table, column);
    const kind = spec ? displayOf(spec) : 'plain';
    if (kind !== 'plain') display[column] = kind;
    if (spec?.references !== undefined && typeof value === 'string') {
      const name = nameOf(named.get(rowKey(spec.references, value))?.values ?? null);
      if (name !== null) names[value] = name;
    }
  }
  return {
    table: conflict.table,
    id: conflict.id,
    column: conflict.column,
    at: conflict.at,
    winner: toVersion(conflict.winner, conflict.winnerDeviceId),
    loser: toVersion(conflict.loser, conflict.loserDeviceId),
    // The row as stored now; a deleted row is named by what the conflict kept of it.
    rowName:
      nameOf(named.get(rowKey(conflict.table, conflict.id))?.values ?? null) ??
      nameOf(conflict.loser.values ?? null) ??
      nameOf(conflict.winner.values ?? null),
    display,
    names,
  };
}

function* columnValues(conflict: StoredConflict): Generator<[string, string | number | null]> {
  for (const version of [conflict.winner, conflict.loser])
    for (const [column, value] of Object.entries(version.values ?? {})) yield [column, value];
}

function columnOf(schema: CompiledSchema, table: string, column: string): SchemaColumn | undefined {
  return schema.table(table)?.columnsByName.get(column);
}

/** How the shop reads a column: integer cents as money, 0/1 as yes/no, an id as the row it names. */
function displayOf(column: SchemaColumn): ColumnDisplay {
  if (column.references !== undefined) return 'reference';
  if (column.type === 'integer' && column.name.endsWith('_cents')) return 'money';
  const allowed = column.allowed;
  if (allowed?.length === 2 && allowed.includes(0) && allowed.includes(1)) return 'flag';
  return 'plain';
}

/** A row's name as people call it: its `name`, else its `sku`. */
function nameOf(values: RowValues | null): string | null {
  const name = values?.name ?? values?.sku;
  return typeof name === 'string' && name !== '' ? name : null;
}

function toVersion(change: StoredChange, deviceId: string | null): ConflictInfo['winner'] {
  return {
    op: change.op,
    updatedAt: change.updatedAt,
    ...(change.values !== undefined ? { values: change.values } : {}),
    deviceId,
  };
}

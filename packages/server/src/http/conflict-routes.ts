import type { FastifyInstance } from 'fastify';
import {
  ConflictListQuery,
  type ConflictInfo,
  type ConflictList,
  type StoredChange,
} from '@tillsync/protocol';
import type { StoredConflict } from '../storage/sync-store.js';
import type { AppContext } from './app-context.js';

/** The most conflicts one call answers, and how many when the caller does not say. */
const MAX_CONFLICTS = 500;
const DEFAULT_CONFLICTS = 100;

/**
 * `GET /api/conflicts?table=&id=&limit=` (owner): the writes that last-write-wins overrode, newest first,
 * each with both versions and the devices that wrote them, so "where did my edit go?" has an answer.
 * Scoped to the owner's tenant by the store.
 */
export function registerConflictRoutes(app: FastifyInstance, context: AppContext): void {
  const { accounts, storage } = context;

  app.get(
    '/api/conflicts',
    { schema: { querystring: ConflictListQuery } },
    async (request): Promise<ConflictList> => {
      const owner = await accounts.authenticateOwner(request.headers.authorization);
      const query = request.query as ConflictListQuery;
      const limit = Math.min(MAX_CONFLICTS, Math.max(1, Number(query.limit ?? DEFAULT_CONFLICTS)));
      const conflicts = await storage.sync.forTenant(owner.tenantId).listConflicts({
        ...(query.table !== undefined ? { table: query.table } : {}),
        ...(query.id !== undefined ? { id: query.id } : {}),
        limit,
      });
      return conflicts.map(toConflictInfo);
    },
  );
}

function toConflictInfo(conflict: StoredConflict): ConflictInfo {
  return {
    table: conflict.table,
    id: conflict.id,
    at: conflict.at,
    winner: toVersion(conflict.winner, conflict.winnerDeviceId),
    loser: toVersion(conflict.loser, conflict.loserDeviceId),
  };
}

function toVersion(change: StoredChange, deviceId: string | null): ConflictInfo['winner'] {
  return {
    op: change.op,
    updatedAt: change.updatedAt,
    ...(change.values !== undefined ? { values: change.values } : {}),
    deviceId,
  };
}

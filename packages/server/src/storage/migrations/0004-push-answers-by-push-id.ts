import type { Kysely, Migration } from 'kysely';

/**
 * Push answers found by `pushId` alone: a device paired again (a new device id) resends its unanswered push
 * with the same `pushId`, and must get the first answer rather than have the push applied twice.
 */
export const migration0004: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createIndex('push_answers_by_push_id').on('push_answers').column('push_id').execute();
  },
};

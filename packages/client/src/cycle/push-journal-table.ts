import type { LocalStore } from '../local-store.js';
import type { PushCover } from '../outbox.js';
import type { StoredPush } from './stored-push.js';

/**
 * The SQL of the push journal, `_sync_push`: a push is written before it is sent and deleted in the
 * transaction that applies its answer, so a crash in between leaves it to be resent with the same bytes.
 */

/** Stores a push; call it in the write transaction that marks its rows as on the wire. */
export function insertStoredPush(store: LocalStore, push: StoredPush, createdAt: string): void {
  store
    .statement('INSERT INTO _sync_push (push_id, body, covers, created_at) VALUES (?, ?, ?, ?)')
    .run(push.pushId, push.body, JSON.stringify(push.covers), createdAt);
}

/** Deletes a stored push; call it in the transaction that applies its answer or gives it up. */
export function deleteStoredPush(store: LocalStore, pushId: string): void {
  store.statement('DELETE FROM _sync_push WHERE push_id = ?').run(pushId);
}

/** The stored pushes, oldest first. */
export function readStoredPushes(store: LocalStore): StoredPush[] {
  const records = store
    .statement('SELECT push_id, body, covers FROM _sync_push ORDER BY created_at, push_id')
    .all() as { push_id: string; body: string; covers: string }[];
  return records.map((record) => ({
    pushId: record.push_id,
    body: record.body,
    covers: JSON.parse(record.covers) as PushCover[],
  }));
}

/** Whether a stored push waits for its answer. */
export function anyStoredPush(store: LocalStore): boolean {
  return store.statement('SELECT 1 FROM _sync_push LIMIT 1').get() !== undefined;
}

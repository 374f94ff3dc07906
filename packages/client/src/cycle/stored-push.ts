import type { PushCover } from '../outbox.js';

/** A push kept in the journal (`_sync_push`): what is sent, and what its answer is applied to. */
export interface StoredPush {
  readonly pushId: string;
  /** The exact request body, so a resend after a crash sends the same bytes. */
  readonly body: string;
  readonly covers: readonly PushCover[];
}

import { DEFAULT_LOCK_RETRY_MS, jitteredRetryAt, type ClaimRequest } from '@tillsync/jobs';

/**
 * When a job that could not be claimed (its lock busy, claimed twice at once) is tried again: the one
 * jittered retry rule of the jobs (`jitteredRetryAt`), after the claimer's `lockRetryMs`.
 */
export function lockRetryAt(request: Pick<ClaimRequest, 'now' | 'lockRetryMs'>): number {
  return jitteredRetryAt(request.now, request.lockRetryMs ?? DEFAULT_LOCK_RETRY_MS);
}

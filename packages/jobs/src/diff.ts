import type { RowValues } from '@tillsync/protocol';
import type { DiffSummary } from './job.js';

/**
 * Per field, the old and the new value where they differ. `before` null is an insert (every field set is
 * new), `after` null a delete (every field goes). The row's `id` is never a field of the diff.
 */
export function diffValues(before: RowValues | null, after: RowValues | null): DiffSummary {
  const diff: Record<string, { old: unknown; new: unknown }> = {};
  const fields = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  fields.delete('id');
  for (const field of fields) {
    const old = before?.[field] ?? null;
    const next = after?.[field] ?? null;
    if (!sameValue(old, next)) diff[field] = { old, new: next };
  }
  return diff;
}

/** Whether a diff has no field. */
export function isEmptyDiff(diff: DiffSummary): boolean {
  return Object.keys(diff).length === 0;
}

/** Values are JSON scalars, but a controller may put anything in a draft: compare as JSON. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

import type { SyncJobRef, SyncJobStatus } from '@tillsync/protocol';
import type { ReactNode } from 'react';
import { readableText, rowText } from '../shared/shop-words.js';

const STATUS_TONES: Readonly<Record<SyncJobStatus, string>> = {
  Pending: 'grey',
  Queued: 'blue',
  Started: 'yellow',
  Finished: 'green',
  Failed: 'red',
  Skipped: 'grey',
  Relayed: 'blue',
  'No Target': 'grey',
  Canceled: 'grey',
};

/** A job's status as a coloured badge with its exact name. */
export function JobStatusBadge(props: { readonly status: SyncJobStatus }): ReactNode {
  return <span className={`badge badge-${STATUS_TONES[props.status]}`}>{props.status}</span>;
}

/** A row reference as people read it: "sale 0193a4b2". */
export function refText(ref: SyncJobRef | null): string {
  return ref ? rowText(ref) : '—';
}

/** A job's name in the shop's words: its title ("sale 0193a4b2 → daily sales of 6 Dec 2026"), else its source. */
export function jobName(job: { readonly title: string; readonly source: SyncJobRef | null }): string {
  return job.title ? readableText(job.title) : refText(job.source);
}

/** A field's value in a diff or snapshot: text as it is, nothing as "(empty)", anything else as JSON. */
export function valueText(value: unknown): string {
  if (value === null || value === undefined) return '(empty)';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

import type { ReactNode } from 'react';
import { useNow } from '../shared/use-now.js';
import { pillText, pulledText } from '@tillsync/protocol/pill-text';
import { needsPairing, pillTone } from './pill-text.js';
import type { DeviceStatus } from './types.js';

/** The sync status pill: a coloured dot and the state in words. Clicking it opens the sync log. */
export function StatusPill(props: { readonly status: DeviceStatus; readonly onOpen: () => void }): ReactNode {
  const now = useNow();
  const tone = pillTone(props.status);
  const words = pillWords(props.status, now);
  const short = shortPillWords(props.status);
  return (
    <button
      type="button"
      className={`pill pill-${tone}${short ? ' pill-has-short' : ''}`}
      onClick={props.onOpen}
      aria-haspopup="dialog"
      aria-label={words}
      title="Open the sync log"
      data-state={props.status.state}
    >
      <span className="pill-dot" aria-hidden="true" />
      <span className="pill-words">{words}</span>
      {short && (
        <span className="pill-short" aria-hidden="true">
          {short}
        </span>
      )}
    </button>
  );
}

/**
 * The pill's words where the header is narrow (a tablet), while a cycle receives rows: "Syncing · 41%" (or
 * "Syncing · 12,000 rows" when the total is not known), so the number is not cut off; null otherwise.
 */
export function shortPillWords(status: DeviceStatus): string | null {
  if (needsPairing(status)) return null;
  const progress = status.state === 'syncing' ? status.progress : null;
  if (!progress || progress.pulled <= 0) return null;
  const expected = progress.expected ?? null;
  if (expected === null || expected <= 0)
    return `Syncing · ${new Intl.NumberFormat().format(progress.pulled)} rows`;
  return `Syncing · ${Math.min(99, Math.floor((progress.pulled * 100) / expected))}%`;
}

/**
 * The pill's words: the agent's (`pillText`), except while a cycle receives rows ("Syncing · 12,000 rows
 * received") and when the device must be paired again, which the page's banner says in full once: the pill
 * only says "Not syncing".
 */
export function pillWords(status: DeviceStatus, now: number): string {
  if (needsPairing(status)) return 'Not syncing';
  const progress = status.state === 'syncing' ? status.progress : null;
  if (progress && progress.pulled > 0) return `Syncing · ${pulledText(progress)} received`;
  return pillText(status, now);
}

import type { ReactNode } from 'react';
import { useNow } from '../shared/use-now.js';
import { pillText } from '@tillsync/protocol/pill-text';
import { pillTone } from './pill-text.js';
import type { DeviceStatus } from './types.js';

/** The sync status pill: a coloured dot and the state in words. Clicking it opens the sync log. */
export function StatusPill(props: { readonly status: DeviceStatus; readonly onOpen: () => void }): ReactNode {
  const now = useNow();
  const tone = pillTone(props.status);
  return (
    <button
      type="button"
      className={`pill pill-${tone}`}
      onClick={props.onOpen}
      aria-haspopup="dialog"
      title="Open the sync log"
      data-state={props.status.state}
    >
      <span className="pill-dot" aria-hidden="true" />
      <span>{pillText(props.status, now)}</span>
    </button>
  );
}

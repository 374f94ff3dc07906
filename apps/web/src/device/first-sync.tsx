import type { ReactNode } from 'react';
import { Notice } from '../shared/notice.js';
import { pulledText } from '@tillsync/protocol/pill-text';
import { useDevice } from './device-context.js';

/**
 * Above a list until the device's first sync has brought the shop's rows: what the screen waits for and how
 * far it got ("Receiving the shop's products from the cloud… 12,000 rows so far"), or why it waits. `null`
 * once the device has synced (an empty list then says it is empty).
 */
export function useFirstSyncNotice(noun: string): ReactNode {
  const { status } = useDevice();
  const props = { noun };
  if (!status || status.lastSyncedAt !== null) return null;
  if (status.state === 'syncing') {
    const progress = status.progress;
    return (
      <p className="first-sync" role="status">
        Receiving the shop&apos;s {props.noun} from the cloud…{' '}
        {progress && progress.pulled > 0 ? `${pulledText(progress)} so far.` : 'starting.'} The list fills in
        when it is done.
      </p>
    );
  }
  if (status.state === 'offline') {
    return (
      <Notice kind="info">
        Waiting for the cloud to receive the shop&apos;s {props.noun}: it does not answer yet, and this device
        tries again by itself.
      </Notice>
    );
  }
  if (status.state === 'stopped') {
    return (
      <Notice kind="info">
        This device has not synced yet: start the sync task in Settings to receive the shop&apos;s{' '}
        {props.noun}.
      </Notice>
    );
  }
  return null;
}

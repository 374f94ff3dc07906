import type { ReactNode } from 'react';
import { CloudSyncPanel } from './cloud-sync-panel.js';
import type { DeviceStatus } from './types.js';

/** Settings → System, whose one panel for now is Cloud Sync. */
export function SettingsScreen(props: {
  readonly status: DeviceStatus;
  readonly onOpenLog: () => void;
}): ReactNode {
  return (
    <section aria-labelledby="settings-title" className="screen">
      <h1 id="settings-title">Settings</h1>
      <section aria-labelledby="system-title">
        <h2 id="system-title">System</h2>
        <CloudSyncPanel status={props.status} onOpenLog={props.onOpenLog} />
      </section>
    </section>
  );
}

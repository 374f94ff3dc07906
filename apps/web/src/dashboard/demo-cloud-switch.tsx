import type { ReactNode } from 'react';
import { Notice } from '../shared/notice.js';
import { useAction, useLoad, useOwner } from './owner-session.js';

/**
 * The demo's switch (`tillsync demo` only; nothing on a real server): takes the cloud offline for the
 * demo's devices and back, so the owner can watch their pills go red, sales pile up on the tills, and
 * everything catch up.
 */
export function DemoCloudSwitch(): ReactNode {
  const { api } = useOwner();
  const cloud = useLoad((owner) => owner.demoCloud(), 'demo-cloud', 5000);
  const action = useAction();
  if (!cloud.data?.switchable) return null;
  const online = cloud.data.online;
  const flip = (): Promise<void> =>
    action.run(async () => {
      await api.setDemoCloud(!online);
      cloud.reload();
    });
  return (
    <section className="demo-cloud" aria-label="Demo: the cloud">
      <p role="status">
        {online
          ? 'Demo: the cloud is online. Take it offline to watch the devices keep selling and catch up later.'
          : 'Demo: the cloud is offline. The devices keep working and hold their sales until it is back.'}
      </p>
      <button type="button" disabled={action.busy} onClick={() => void flip()}>
        {online ? 'Take the cloud offline' : 'Bring the cloud back'}
      </button>
      {action.error && <Notice kind="error">{action.error}</Notice>}
    </section>
  );
}

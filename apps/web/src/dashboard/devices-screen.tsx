import type { DeviceInfo, PairingCodeResponse } from '@tillsync/protocol';
import { useState, type ReactNode } from 'react';
import { Dialog } from '../shared/dialog.js';
import { Notice } from '../shared/notice.js';
import { clockTime, dateTime, longAge, timeLeft } from '../shared/time.js';
import { useNow } from '../shared/use-now.js';
import { useAction, useLoad, useOwner } from './owner-session.js';
import { TableHead } from '../shared/table.js';
import { DemoCloudSwitch } from './demo-cloud-switch.js';

/**
 * The devices panel: every paired device, when it last synced, what it still has to send, and the schema
 * version its tables are at (marked when it is behind the server's).
 */
export function DevicesScreen(): ReactNode {
  const devices = useLoad((api) => api.devices(), 'devices', 5000);
  const schema = useLoad((api) => api.schema(), 'schema', 30_000);
  const serverVersion = schema.data?.version ?? null;
  const now = useNow(5000);
  const [adding, setAdding] = useState(false);
  const [revoking, setRevoking] = useState<DeviceInfo | null>(null);
  const sorted = [...(devices.data ?? [])].sort(
    (a, b) => Number(a.revokedAt !== null) - Number(b.revokedAt !== null) || a.name.localeCompare(b.name),
  );
  return (
    <section aria-labelledby="devices-title" className="screen">
      <div className="screen-title">
        <h1 id="devices-title">Devices</h1>
        <button type="button" className="primary" onClick={() => setAdding(true)}>
          Add a device
        </button>
      </div>
      <DemoCloudSwitch />
      {devices.error && <Notice kind="error">{devices.error}</Notice>}
      <div className="table-scroll">
        <table className="table" aria-label="Devices">
          <TableHead
            columns={[
              'Name',
              'Platform',
              'App version',
              'Schema',
              'Last seen',
              { label: 'Pending changes', numeric: true },
              { label: 'Actions', hidden: true },
            ]}
          />
          <tbody>
            {sorted.map((device) => (
              <tr key={device.id} className={device.revokedAt ? 'row-muted' : undefined}>
                <td>
                  <span className="cell-main">{device.name}</span>
                  {device.revokedAt && <span className="badge badge-red">Revoked</span>}
                </td>
                <td>{device.platform}</td>
                <td>{device.appVersion ?? '—'}</td>
                <td>
                  <SchemaVersion device={device} serverVersion={serverVersion} />
                </td>
                <td title={device.lastSeenAt ? dateTime(device.lastSeenAt) : undefined}>
                  {device.lastSeenAt ? longAge(now - Date.parse(device.lastSeenAt)) : 'Never'}
                </td>
                <td className="numeric">{device.pendingChanges ?? '—'}</td>
                <td className="actions">
                  {device.revokedAt ? (
                    <span className="muted">Revoked {clockTime(device.revokedAt)}</span>
                  ) : (
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Revoke ${device.name}`}
                      onClick={() => setRevoking(device)}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {devices.data?.length === 0 && (
        <p>No device is paired yet. Choose &quot;Add a device&quot; to pair one.</p>
      )}
      {adding && <AddDeviceDialog onClose={() => setAdding(false)} />}
      {revoking && (
        <RevokeDialog
          device={revoking}
          onClose={() => setRevoking(null)}
          onRevoked={() => {
            setRevoking(null);
            devices.reload();
          }}
        />
      )}
    </section>
  );
}

/**
 * A device's schema version: as it said on its last call, with a mark when it is behind the server's (it
 * takes the new tables and columns at its next sync). Unknown for a device whose app does not say it.
 */
function SchemaVersion(props: {
  readonly device: DeviceInfo;
  readonly serverVersion: number | null;
}): ReactNode {
  const { schemaVersion } = props.device;
  if (schemaVersion === null)
    return (
      <span className="muted" title="This device's app does not report its schema version">
        Unknown
      </span>
    );
  const behind = props.serverVersion !== null && schemaVersion < props.serverVersion;
  return (
    <>
      <span className="cell-main">v{schemaVersion}</span>
      {behind && (
        <span
          className="badge badge-yellow"
          title={`The server serves version ${props.serverVersion}: this device takes it at its next sync`}
        >
          Behind v{props.serverVersion}
        </span>
      )}
    </>
  );
}

/** "Add a device": a one-time pairing code, its expiry, and where to type it. */
function AddDeviceDialog(props: { readonly onClose: () => void }): ReactNode {
  const now = useNow();
  const { api } = useOwner();
  const [code, setCode] = useState<PairingCodeResponse | null>(null);
  const action = useAction();
  const create = (): Promise<void> => action.run(async () => setCode(await api.createPairingCode()));
  return (
    <Dialog title="Add a device" onClose={props.onClose}>
      {!code ? (
        <>
          <p>A pairing code lets one device join your shop. It works once and expires after 15 minutes.</p>
          <button type="button" className="primary" disabled={action.busy} onClick={() => void create()}>
            Create a pairing code
          </button>
        </>
      ) : (
        <>
          <p>
            On the till, start the device agent with this code; it pairs the till, starts syncing at once and
            prints the address of the till&apos;s page:
          </p>
          <pre className="command" aria-label="Command to run on the till">
            {`npx tillsync device --server ${window.location.origin} --db till.db --pair ${code.code} --name "Till 3"`}
          </pre>
          <p className="muted">
            Give the till its own name after <code>--name</code>. An agent that already runs shows a pairing
            form on its page (http://127.0.0.1:8788 on the till): type the code there.
          </p>
          <dl className="facts">
            <dt>Server URL</dt>
            <dd>
              <code aria-label="Server URL">{window.location.origin}</code>
            </dd>
            <dt>Pairing code</dt>
            <dd>
              <output className="pairing-code" aria-label="Pairing code">
                {code.code}
              </output>
            </dd>
            <dt>Expires</dt>
            <dd>
              {clockTime(code.expiresAt)} ({timeLeft(Date.parse(code.expiresAt) - now)})
            </dd>
          </dl>
        </>
      )}
      {action.error && <Notice kind="error">{action.error}</Notice>}
    </Dialog>
  );
}

function RevokeDialog(props: {
  readonly device: DeviceInfo;
  readonly onClose: () => void;
  readonly onRevoked: () => void;
}): ReactNode {
  const { api } = useOwner();
  const action = useAction();
  const { device } = props;
  return (
    <Dialog title={`Revoke ${device.name}?`} onClose={props.onClose}>
      <p>
        {device.name} will stop syncing at its next call and must be paired again with a new code.
        {device.pendingChanges
          ? ` It still has ${device.pendingChanges} changes the server has not received; they stay on the device.`
          : ''}
      </p>
      <div className="dialog-actions">
        <button type="button" onClick={props.onClose}>
          Keep it
        </button>
        <button
          type="button"
          className="danger"
          disabled={action.busy}
          onClick={() =>
            void action.run(async () => {
              await api.revokeDevice(device.id);
              props.onRevoked();
            })
          }
        >
          Revoke device
        </button>
      </div>
      {action.error && <Notice kind="error">{action.error}</Notice>}
    </Dialog>
  );
}

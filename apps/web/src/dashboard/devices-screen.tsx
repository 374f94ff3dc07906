import type { DeviceInfo, StoreInfo } from '@tillsync/protocol';
import { useState, type FormEvent, type ReactNode } from 'react';
import { Dialog } from '../shared/dialog.js';
import { Notice } from '../shared/notice.js';
import { TableHead } from '../shared/table.js';
import { DemoCloudSwitch } from './demo-cloud-switch.js';
import { clockTime, dateTime, longAge } from '../shared/time.js';
import { useNow } from '../shared/use-now.js';
import { AddDeviceDialog, type StoreChoice } from './add-device-dialog.js';
import { useAction, useLoad, useOwner } from './owner-session.js';

/**
 * The devices panel: every paired device, when it last synced, what it still has to send, and the schema
 * version its tables are at (marked when it is behind the server's). A chain's devices are grouped by store,
 * each group with its own "Add a device to this store", and a device can be moved to another store; a
 * tenant with one store sees one list, as before it had stores.
 */
export function DevicesScreen(): ReactNode {
  const devices = useLoad((api) => api.devices(), 'devices', 5000);
  const stores = useLoad((api) => api.stores(), 'stores', 10_000);
  const schema = useLoad((api) => api.schema(), 'schema', 30_000);
  const serverVersion = schema.data?.version ?? null;
  const [adding, setAdding] = useState<StoreChoice | 'any' | null>(null);
  const [revoking, setRevoking] = useState<DeviceInfo | null>(null);
  const [moving, setMoving] = useState<DeviceInfo | null>(null);
  const storeList = [...(stores.data ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  const chain = storeList.length > 1;
  const groups = chain ? groupByStore(devices.data ?? [], storeList) : [];
  const rows = { serverVersion, onRevoke: setRevoking, onMove: chain ? setMoving : null };
  return (
    <section aria-labelledby="devices-title" className="screen">
      <div className="screen-title">
        <h1 id="devices-title">Devices</h1>
        {!chain && (
          <button type="button" className="primary" onClick={() => setAdding('any')}>
            Add a device
          </button>
        )}
      </div>
      <DemoCloudSwitch />
      {devices.error && <Notice kind="error">{devices.error}</Notice>}
      {chain ? (
        groups.map((group) => (
          <section key={group.store.id} className="store-group" aria-label={group.store.name}>
            <div className="screen-title">
              <h2>{group.store.name}</h2>
              <span className="muted">{devicesText(group.devices.length)}</span>
              {group.store.id !== '' && (
                <button
                  type="button"
                  aria-label={`Add a device to ${group.store.name}`}
                  onClick={() => setAdding(group.store)}
                >
                  Add a device to this store
                </button>
              )}
            </div>
            {group.devices.length > 0 ? (
              <DeviceTable label={`Devices of ${group.store.name}`} devices={group.devices} {...rows} />
            ) : (
              <p className="muted">No device in {group.store.name} yet.</p>
            )}
          </section>
        ))
      ) : (
        <DeviceTable label="Devices" devices={devices.data ?? []} {...rows} />
      )}
      {devices.data?.length === 0 && !chain && (
        <p>No device is paired yet. Choose &quot;Add a device&quot; to pair one.</p>
      )}
      {adding && (
        <AddDeviceDialog
          {...(adding === 'any' ? {} : { store: adding })}
          onClose={() => {
            setAdding(null);
            devices.reload();
          }}
        />
      )}
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
      {moving && (
        <MoveDialog
          device={moving}
          stores={storeList}
          onClose={() => setMoving(null)}
          onMoved={() => {
            setMoving(null);
            devices.reload();
            stores.reload();
          }}
        />
      )}
    </section>
  );
}

/** One store's devices, stores by name; a device of a store the list does not have yet goes under "Other". */
function groupByStore(
  devices: readonly DeviceInfo[],
  stores: readonly StoreInfo[],
): { store: StoreChoice; devices: DeviceInfo[] }[] {
  const groups = stores.map((store) => ({
    store: { id: store.id, name: store.name },
    devices: devices.filter((device) => device.storeId === store.id),
  }));
  const known = new Set(stores.map((store) => store.id));
  const others = devices.filter((device) => !known.has(device.storeId));
  if (others.length > 0) groups.push({ store: { id: '', name: 'Other' }, devices: others });
  return groups;
}

function devicesText(count: number): string {
  return count === 1 ? '1 device' : `${count} devices`;
}

/** A table of devices: revoked ones last, then by name. */
function DeviceTable(props: {
  readonly label: string;
  readonly devices: readonly DeviceInfo[];
  readonly serverVersion: number | null;
  readonly onRevoke: (device: DeviceInfo) => void;
  /** Moves a device to another store; null for a tenant with one store. */
  readonly onMove: ((device: DeviceInfo) => void) | null;
}): ReactNode {
  const now = useNow(5000);
  const { onMove } = props;
  const sorted = [...props.devices].sort(
    (a, b) => Number(a.revokedAt !== null) - Number(b.revokedAt !== null) || a.name.localeCompare(b.name),
  );
  return (
    <div className="table-scroll">
      <table className="table" aria-label={props.label}>
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
                <SchemaVersion device={device} serverVersion={props.serverVersion} />
              </td>
              <td title={device.lastSeenAt ? dateTime(device.lastSeenAt) : undefined}>
                {device.lastSeenAt ? longAge(now - Date.parse(device.lastSeenAt)) : 'Never'}
              </td>
              <td className="numeric">{device.pendingChanges ?? '—'}</td>
              <td className="actions">
                {device.revokedAt ? (
                  <span className="muted">Revoked {clockTime(device.revokedAt)}</span>
                ) : (
                  <>
                    {onMove && (
                      <button
                        type="button"
                        aria-label={`Move ${device.name} to another store`}
                        onClick={() => onMove(device)}
                      >
                        Move
                      </button>
                    )}
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Revoke ${device.name}`}
                      onClick={() => props.onRevoke(device)}
                    >
                      Revoke
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
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

/**
 * Moves a device to another store. It learns of it at its next sync: it drops the old store's sales and
 * stock, takes the new store's, and keeps what it has not sent yet.
 */
function MoveDialog(props: {
  readonly device: DeviceInfo;
  readonly stores: readonly StoreInfo[];
  readonly onClose: () => void;
  readonly onMoved: () => void;
}): ReactNode {
  const { api } = useOwner();
  const action = useAction();
  const { device } = props;
  const others = props.stores.filter((store) => store.id !== device.storeId);
  const current = props.stores.find((store) => store.id === device.storeId);
  const [storeId, setStoreId] = useState(others[0]?.id ?? '');
  const target = others.find((store) => store.id === storeId);
  const submit = (event: FormEvent): void => {
    event.preventDefault();
    void action.run(async () => {
      await api.moveDevice(device.id, storeId);
      props.onMoved();
    });
  };
  return (
    <Dialog title={`Move ${device.name} to another store`} onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        <p>
          {device.name} is in {current?.name ?? 'no known store'}. At its next sync it drops that store&apos;s
          sales and stock and takes the new store&apos;s; the shared products and customers stay, and so does
          anything it has not sent yet.
        </p>
        <label>
          <span>Move to</span>
          <select value={storeId} onChange={(event) => setStoreId(event.target.value)}>
            {others.map((store) => (
              <option key={store.id} value={store.id}>
                {store.name}
              </option>
            ))}
          </select>
        </label>
        <div className="dialog-actions">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={action.busy || !target}>
            {target ? `Move to ${target.name}` : 'Move'}
          </button>
        </div>
      </form>
      {action.error && <Notice kind="error">{action.error}</Notice>}
    </Dialog>
  );
}

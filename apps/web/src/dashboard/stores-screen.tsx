import type { StoreInfo } from '@tillsync/protocol';
import { useState, type FormEvent, type ReactNode } from 'react';
import { Dialog } from '../shared/dialog.js';
import { Notice } from '../shared/notice.js';
import { TableHead } from '../shared/table.js';
import { AddDeviceDialog } from './add-device-dialog.js';
import { useAction, useLoad, useOwner } from './owner-session.js';

/**
 * The stores of the owner's chain (PROTOCOL.md §7): each with how many devices it has, "Add store", and per
 * store "Add a device to this store". The catalogue and the customers are shared by every store; sales and
 * stock belong to one.
 */
export function StoresScreen(): ReactNode {
  const stores = useLoad((api) => api.stores(), 'stores', 10_000);
  const [adding, setAdding] = useState(false);
  const [pairingFor, setPairingFor] = useState<StoreInfo | null>(null);
  const sorted = [...(stores.data ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <section aria-labelledby="stores-title" className="screen">
      <div className="screen-title">
        <h1 id="stores-title">Stores</h1>
        <button type="button" className="primary" onClick={() => setAdding(true)}>
          Add store
        </button>
      </div>
      <p className="muted">
        Every store&apos;s devices share the products, the categories and the customers. Each store&apos;s
        sales and stock stay on its own devices.
      </p>
      {stores.error && <Notice kind="error">{stores.error}</Notice>}
      <div className="table-scroll">
        <table className="table" aria-label="Stores">
          <TableHead
            columns={['Store', { label: 'Devices', numeric: true }, { label: 'Actions', hidden: true }]}
          />
          <tbody>
            {sorted.map((store) => (
              <tr key={store.id}>
                <td>
                  <span className="cell-main">{store.name}</span>
                </td>
                <td className="numeric" aria-label={`Devices in ${store.name}`}>
                  {store.devices}
                </td>
                <td className="actions">
                  <button
                    type="button"
                    aria-label={`Add a device to ${store.name}`}
                    onClick={() => setPairingFor(store)}
                  >
                    Add a device to this store
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {adding && (
        <AddStoreDialog
          onClose={() => setAdding(false)}
          onAdded={() => {
            setAdding(false);
            stores.reload();
          }}
        />
      )}
      {pairingFor && (
        <AddDeviceDialog
          store={pairingFor}
          onClose={() => {
            setPairingFor(null);
            stores.reload();
          }}
        />
      )}
    </section>
  );
}

/** "Add store": a name; the new store starts with no device, no sales and no stock of its own. */
function AddStoreDialog(props: { readonly onClose: () => void; readonly onAdded: () => void }): ReactNode {
  const { api } = useOwner();
  const action = useAction();
  const [name, setName] = useState('');
  const submit = (event: FormEvent): void => {
    event.preventDefault();
    void action.run(async () => {
      await api.createStore(name.trim());
      props.onAdded();
    });
  };
  return (
    <Dialog title="Add store" onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        <p>A new store shares your products and customers. Add its devices from its row once it exists.</p>
        <label>
          <span>Store name</span>
          <input value={name} onChange={(event) => setName(event.target.value)} required autoFocus />
        </label>
        <div className="dialog-actions">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={action.busy || name.trim() === ''}>
            Add store
          </button>
        </div>
      </form>
      {action.error && <Notice kind="error">{action.error}</Notice>}
    </Dialog>
  );
}

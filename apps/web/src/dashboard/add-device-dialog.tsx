import type { PairingCodeResponse } from '@tillsync/protocol';
import { useState, type ReactNode } from 'react';
import { Dialog } from '../shared/dialog.js';
import { Notice } from '../shared/notice.js';
import { clockTime, timeLeft } from '../shared/time.js';
import { useNow } from '../shared/use-now.js';
import { useAction, useOwner } from './owner-session.js';

/** The store a device is added to, as the dialog names it. */
export interface StoreChoice {
  readonly id: string;
  readonly name: string;
}

/**
 * "Add a device": a one-time pairing code, its expiry, and where to type it. Given a store, the code pairs
 * the device into that store (it then receives the tenant's rows and that store's); without one, into the
 * tenant's first store.
 */
export function AddDeviceDialog(props: {
  readonly store?: StoreChoice;
  readonly onClose: () => void;
}): ReactNode {
  const now = useNow();
  const { api } = useOwner();
  const { store } = props;
  const [code, setCode] = useState<PairingCodeResponse | null>(null);
  const action = useAction();
  const create = (): Promise<void> => action.run(async () => setCode(await api.createPairingCode(store?.id)));
  return (
    <Dialog title={store ? `Add a device to ${store.name}` : 'Add a device'} onClose={props.onClose}>
      {!code ? (
        <>
          <p>
            {store
              ? `A pairing code lets one device join ${store.name}: it receives the shared catalogue and ${store.name}'s own sales and stock. `
              : 'A pairing code lets one device join your shop. '}
            It works once and expires after 15 minutes.
          </p>
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
            {store && (
              <>
                <dt>Store</dt>
                <dd aria-label="Store">{store.name}</dd>
              </>
            )}
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

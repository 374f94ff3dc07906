import { useState, type FormEvent, type ReactNode } from 'react';
import { messageOf } from '../shared/http.js';
import { Notice } from '../shared/notice.js';
import { deviceApi } from './device-api.js';
import { useDevice } from './device-context.js';

/**
 * Pairs this device with the shop's server: the owner's dashboard shows a one-time code under "Add a
 * device". Shown for an unpaired device, and again when the owner removed it or its session ended.
 */
export function PairingScreen(props: {
  readonly reason?: string | null;
  readonly onPaired: () => void;
}): ReactNode {
  const { identity, reloadIdentity, dataChanged } = useDevice();
  // Until the person types one: the agent's server (tillsync device --server), once the agent has said it.
  const [typedServerUrl, setServerUrl] = useState<string | null>(null);
  const serverUrl = typedServerUrl ?? identity?.serverUrl ?? '';
  const [code, setCode] = useState('');
  const [name, setName] = useState(identity?.name ?? '');
  const [error, setError] = useState<string | null>(null);
  const [pairing, setPairing] = useState(false);

  const pair = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setError(null);
    setPairing(true);
    try {
      await deviceApi.pair({ serverUrl: serverUrl.trim(), code: code.trim(), name: name.trim() || 'Till' });
      reloadIdentity();
      dataChanged();
      props.onPaired();
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setPairing(false);
    }
  };

  return (
    <main className="pairing">
      <form className="card pairing-card" onSubmit={(event) => void pair(event)} aria-labelledby="pair-title">
        <h1 id="pair-title">Pair this device</h1>
        {props.reason && <Notice kind="error">{props.reason}</Notice>}
        <p className="muted">
          In the owner&apos;s dashboard, open Devices and choose &quot;Add a device&quot;. Type the code it
          shows (and the server address, if it is not filled in already). Syncing starts as soon as the device
          is paired.
        </p>
        <label>
          <span>Server URL</span>
          <input
            type="url"
            value={serverUrl}
            placeholder="The address shown in the dashboard"
            onChange={(event) => setServerUrl(event.target.value)}
            required
          />
        </label>
        <label>
          <span>Pairing code</span>
          <input
            value={code}
            autoComplete="off"
            spellCheck={false}
            className="code-input"
            onChange={(event) => setCode(event.target.value)}
            required
          />
        </label>
        <label>
          <span>Device name</span>
          <input
            value={name}
            placeholder="Optional: how the owner will see it"
            onChange={(event) => setName(event.target.value)}
          />
        </label>
        <button type="submit" className="primary large" disabled={pairing}>
          {pairing ? 'Pairing...' : 'Pair device'}
        </button>
        {error && <Notice kind="error">{error}</Notice>}
      </form>
    </main>
  );
}

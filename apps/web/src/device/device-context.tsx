import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { deviceApi } from './device-api.js';
import type { DeviceIdentity, DeviceStatus, SyncLogEntry } from './types.js';

/** What every screen of the device page shares: the live status, who the device is, and when data changed. */
export interface DeviceState {
  /** Null until the agent first answered. */
  readonly status: DeviceStatus | null;
  /** Whether the page reaches its agent (the status stream is open). */
  readonly agentReachable: boolean;
  readonly identity: DeviceIdentity | null;
  /** The newest cycle seen while the page was open. */
  readonly lastCycle: SyncLogEntry | null;
  /** Grows whenever the device's rows may have changed (a cycle ended, the page wrote): screens reload on it. */
  readonly dataVersion: number;
  /** Tells the screens to reload their rows. */
  readonly dataChanged: () => void;
  /** Reads who the device is again (after pairing). */
  readonly reloadIdentity: () => void;
}

const DeviceContext = createContext<DeviceState | null>(null);

/** The device state, for a screen inside {@link DeviceStateProvider}. */
export function useDevice(): DeviceState {
  const state = useContext(DeviceContext);
  if (!state) throw new Error('useDevice() needs a DeviceStateProvider above it');
  return state;
}

/**
 * Holds the agent's status stream (`GET /api/status/events`): a `status` event on every change and a
 * `cycle` event after every cycle. EventSource reconnects by itself when the agent comes back.
 */
export function DeviceStateProvider(props: { readonly children: ReactNode }): ReactNode {
  const [status, setStatus] = useState<DeviceStatus | null>(null);
  const [agentReachable, setAgentReachable] = useState(true);
  const [identity, setIdentity] = useState<DeviceIdentity | null>(null);
  const [lastCycle, setLastCycle] = useState<SyncLogEntry | null>(null);
  const [dataVersion, setDataVersion] = useState(0);
  const [identityVersion, setIdentityVersion] = useState(0);

  const dataChanged = useCallback(() => setDataVersion((version) => version + 1), []);
  const reloadIdentity = useCallback(() => setIdentityVersion((version) => version + 1), []);

  useEffect(() => {
    const events = new EventSource('/api/status/events');
    events.addEventListener('open', () => setAgentReachable(true));
    events.addEventListener('error', () => setAgentReachable(false));
    events.addEventListener('status', (event: MessageEvent<string>) => {
      setAgentReachable(true);
      setStatus(JSON.parse(event.data) as DeviceStatus);
    });
    events.addEventListener('cycle', (event: MessageEvent<string>) => {
      setLastCycle(JSON.parse(event.data) as SyncLogEntry);
      // A cycle may have pulled rows, or confirmed or refused pending ones: the lists show both. It may also
      // have brought the device's store (its name, or another store after a move): the identity is read again.
      setDataVersion((version) => version + 1);
      setIdentityVersion((version) => version + 1);
    });
    return () => events.close();
  }, []);

  const paired = status !== null && status.state !== 'unpaired';
  useEffect(() => {
    let current = true;
    deviceApi
      .identity()
      .then((answer) => {
        if (current) setIdentity(answer);
      })
      .catch(() => {
        // The status stream says whether the agent answers; the identity is read again with it.
      });
    return () => {
      current = false;
    };
  }, [paired, identityVersion, agentReachable]);

  return (
    <DeviceContext.Provider
      value={{ status, agentReachable, identity, lastCycle, dataVersion, dataChanged, reloadIdentity }}
    >
      {props.children}
    </DeviceContext.Provider>
  );
}

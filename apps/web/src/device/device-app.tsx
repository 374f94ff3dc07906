import { useCallback, useState, type ReactNode } from 'react';
import { Notice } from '../shared/notice.js';
import { Link, navigate, usePath } from '../shared/router.js';
import { CustomersScreen } from './customers-screen.js';
import { DeviceStateProvider, useDevice } from './device-context.js';
import { PairingScreen } from './pairing-screen.js';
import { needsPairing } from './pill-text.js';
import { ProductsScreen } from './products-screen.js';
import { SaleScreen } from './sale-screen.js';
import { SettingsScreen } from './settings-screen.js';
import { StatusPill } from './status-pill.js';
import { SyncLogDialog } from './sync-log-dialog.js';
import type { DeviceStatus } from './types.js';

const SCREENS = [
  { path: '/', label: 'Sale' },
  { path: '/products', label: 'Products' },
  { path: '/customers', label: 'Customers' },
  { path: '/settings', label: 'Settings' },
] as const;

/** The device's page, served by `tillsync device`. */
export function DeviceApp(): ReactNode {
  return (
    <DeviceStateProvider>
      <DevicePage />
    </DeviceStateProvider>
  );
}

function DevicePage(): ReactNode {
  const { status, agentReachable } = useDevice();
  const [pairingAgain, setPairingAgain] = useState(false);
  if (!status) {
    return (
      <main className="loading">
        {agentReachable ? (
          <p>Loading…</p>
        ) : (
          <Notice kind="error">The device agent does not answer. Is it running?</Notice>
        )}
      </main>
    );
  }
  if (status.state === 'unpaired') return <PairingScreen onPaired={() => navigate('/')} />;
  if (pairingAgain) {
    return (
      <PairingScreen
        reason={status.lastError}
        onPaired={() => {
          setPairingAgain(false);
          navigate('/');
        }}
      />
    );
  }
  return <PairedPage status={status} onPairAgain={() => setPairingAgain(true)} />;
}

function PairedPage(props: { readonly status: DeviceStatus; readonly onPairAgain: () => void }): ReactNode {
  const { status } = props;
  const { identity, agentReachable } = useDevice();
  const path = usePath().split('?')[0] ?? '/';
  const [logOpen, setLogOpen] = useState(false);
  const openLog = useCallback(() => setLogOpen(true), []);
  const closeLog = useCallback(() => setLogOpen(false), []);

  let screen: ReactNode;
  if (path === '/products') screen = <ProductsScreen />;
  else if (path === '/customers') screen = <CustomersScreen />;
  else if (path === '/settings') screen = <SettingsScreen status={status} onOpenLog={openLog} />;
  else screen = <SaleScreen />;

  return (
    <>
      <header className="app-header">
        <div className="brand">
          <span className="brand-name">Tillsync</span>
          <span className="brand-device">{identity?.name ?? ''}</span>
          {identity?.storeName ? (
            <span className="brand-store" data-testid="store-name">
              {identity.storeName}
            </span>
          ) : null}
        </div>
        <nav aria-label="Screens" className="app-nav">
          {SCREENS.map((entry) => (
            <Link
              key={entry.path}
              to={entry.path}
              current={entry.path === path || (entry.path === '/' && !SCREENS.some((s) => s.path === path))}
            >
              {entry.label}
            </Link>
          ))}
        </nav>
        <StatusPill status={status} onOpen={openLog} />
      </header>
      {!agentReachable && (
        <div className="banner banner-red" role="alert">
          This page lost its device agent; it reconnects by itself when the agent runs again.
        </div>
      )}
      {needsPairing(status) && (
        <div className="banner banner-red" role="alert">
          <span>
            {status.lastErrorCode === 'DEVICE_REVOKED'
              ? 'This device was removed by the owner and no longer syncs. Your sales stay on this device; pair it again with a new code to send them.'
              : 'Session expired: pair this device again to go on syncing. Your sales stay on this device.'}
          </span>
          <button type="button" onClick={props.onPairAgain}>
            Pair again
          </button>
        </div>
      )}
      <main className="app-main">{screen}</main>
      {logOpen && <SyncLogDialog onClose={closeLog} />}
    </>
  );
}

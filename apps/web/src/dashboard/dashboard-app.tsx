import { useCallback, useMemo, useState, type ReactNode } from 'react';
import { Link, navigate, usePath } from '../shared/router.js';
import { ConflictsScreen } from './conflicts-screen.js';
import { DevicesScreen } from './devices-screen.js';
import { JobPage } from './job-page.js';
import { JobTypesScreen } from './job-types-screen.js';
import { JobsScreen } from './jobs-screen.js';
import { LoginScreen } from './login-screen.js';
import { OwnerApi } from './owner-api.js';
import { SessionProvider, tokenStore, type OwnerSession } from './owner-session.js';
import { StoresScreen } from './stores-screen.js';

const SCREENS = [
  { path: '/devices', label: 'Devices' },
  { path: '/stores', label: 'Stores' },
  { path: '/jobs', label: 'Sync jobs' },
  { path: '/job-types', label: 'Job types' },
  { path: '/conflicts', label: 'Conflicts' },
] as const;

/** The owner's dashboard, served by `tillsync serve`. */
export function DashboardApp(): ReactNode {
  const [signedIn, setSignedIn] = useState(() => tokenStore.read());
  const [reason, setReason] = useState<string | null>(null);

  const signOut = useCallback((why?: string) => {
    const current = tokenStore.read();
    tokenStore.clear();
    setSignedIn(null);
    setReason(why ?? null);
    // The server forgets the session too; an ended one has nothing to forget.
    if (current && why === undefined) new OwnerApi(current.token).logout().catch(() => {});
  }, []);
  const session = useMemo<OwnerSession | null>(
    () => (signedIn ? { api: new OwnerApi(signedIn.token), email: signedIn.email, signOut } : null),
    [signedIn, signOut],
  );

  if (!session) {
    return (
      <LoginScreen
        reason={reason}
        onLogin={(token, email) => {
          tokenStore.write(token, email);
          setReason(null);
          setSignedIn({ token, email });
          if (window.location.pathname === '/') navigate('/devices');
        }}
      />
    );
  }
  return (
    <SessionProvider value={session}>
      <Dashboard email={session.email} onSignOut={() => signOut()} />
    </SessionProvider>
  );
}

function Dashboard(props: { readonly email: string; readonly onSignOut: () => void }): ReactNode {
  const fullPath = usePath();
  const [path = '/', search = ''] = fullPath.split('?');
  const section = '/' + (path.split('/')[1] ?? '');

  let screen: ReactNode;
  const jobId = /^\/jobs\/([^/]+)$/.exec(path)?.[1];
  if (jobId) screen = <JobPage id={decodeURIComponent(jobId)} />;
  else if (path === '/jobs') screen = <JobsScreen query={new URLSearchParams(search)} />;
  else if (path === '/job-types') screen = <JobTypesScreen />;
  else if (path === '/conflicts') screen = <ConflictsScreen />;
  else if (path === '/stores') screen = <StoresScreen />;
  else screen = <DevicesScreen />;

  return (
    <>
      <header className="app-header">
        <div className="brand">
          <span className="brand-name">Tillsync</span>
          <span className="brand-device">Owner</span>
        </div>
        <nav aria-label="Screens" className="app-nav">
          {SCREENS.map((entry) => (
            <Link
              key={entry.path}
              to={entry.path}
              current={
                entry.path === section ||
                (entry.path === '/devices' && !SCREENS.some((s) => s.path === section))
              }
            >
              {entry.label}
            </Link>
          ))}
        </nav>
        <div className="account">
          <span className="muted account-email">{props.email}</span>
          <button type="button" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main className="app-main">{screen}</main>
    </>
  );
}

import { useState, type FormEvent, type ReactNode } from 'react';
import { messageOf } from '../shared/http.js';
import { Notice } from '../shared/notice.js';
import { OwnerApi } from './owner-api.js';

/** The owner's login. */
export function LoginScreen(props: {
  readonly reason: string | null;
  readonly onLogin: (token: string, email: string) => void;
}): ReactNode {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const login = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await OwnerApi.login(email.trim(), password);
      props.onLogin(answer.token, email.trim());
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="pairing">
      <form
        className="card pairing-card"
        onSubmit={(event) => void login(event)}
        aria-labelledby="login-title"
      >
        <h1 id="login-title">Sign in to Tillsync</h1>
        <p className="muted">The owner&apos;s dashboard: devices, sync jobs and conflicts of your shop.</p>
        {props.reason && <Notice kind="info">{props.reason}</Notice>}
        <label>
          <span>Email</span>
          <input
            type="email"
            autoComplete="username"
            value={email}
            onChange={(event) => setEmail(event.target.value)}
            required
            autoFocus
          />
        </label>
        <label>
          <span>Password</span>
          <input
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(event) => setPassword(event.target.value)}
            required
          />
        </label>
        <button type="submit" className="primary large" disabled={busy}>
          {busy ? 'Signing in...' : 'Sign in'}
        </button>
        {error && <Notice kind="error">{error}</Notice>}
      </form>
    </main>
  );
}

import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';
import { HttpError, messageOf } from '../shared/http.js';
import type { OwnerApi } from './owner-api.js';

/** The owner's session: the API with their token, and how to end it. */
export interface OwnerSession {
  readonly api: OwnerApi;
  readonly email: string;
  /** Ends the session (signs out on the server too, unless it already ended there). */
  readonly signOut: (reason?: string) => void;
}

const SessionContext = createContext<OwnerSession | null>(null);

export const SessionProvider = SessionContext.Provider;

/** The owner's session, for a screen shown after login. */
export function useOwner(): OwnerSession {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useOwner() needs a signed-in owner');
  return session;
}

/** What {@link useLoad} holds. */
export interface Loaded<T> {
  readonly data: T | null;
  readonly error: string | null;
  readonly reload: () => void;
}

/**
 * Loads with the owner's API, again when `key` changes and every `refreshMs` if given (the devices panel's
 * "last seen" and a running job's status move by themselves); `refreshMs` may depend on what was loaded, so
 * a job stops being polled once it ended. A refused session signs the owner out.
 */
export function useLoad<T>(
  load: (api: OwnerApi) => Promise<T>,
  key: string,
  refreshMs?: number | ((data: T | null) => number | undefined),
): Loaded<T> {
  const { api, signOut } = useOwner();
  const [data, setData] = useState<T | null>(null);
  const everyMs = typeof refreshMs === 'function' ? refreshMs(data) : refreshMs;
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  // The latest `load`, without making every render's new closure a reason to load again: `key` says when.
  const loadRef = useRef(load);
  useEffect(() => {
    loadRef.current = load;
  });
  const reload = useCallback(() => setVersion((value) => value + 1), []);

  useEffect(() => {
    let current = true;
    const run = (): void => {
      loadRef
        .current(api)
        .then((answer) => {
          if (!current) return;
          setData(answer);
          setError(null);
        })
        .catch((failure: unknown) => {
          if (!current) return;
          if (failure instanceof HttpError && failure.status === 401) {
            signOut('Your session ended. Sign in again.');
            return;
          }
          setError(messageOf(failure));
        });
    };
    run();
    const timer = everyMs === undefined ? undefined : setInterval(run, everyMs);
    return () => {
      current = false;
      clearInterval(timer);
    };
  }, [api, signOut, key, version, everyMs]);

  return { data, error, reload };
}

/** Keeps the owner's token for this browser tab only: closing the tab signs out. */
export const tokenStore = {
  read(): { token: string; email: string } | null {
    const token = sessionStorage.getItem('tillsync.ownerToken');
    const email = sessionStorage.getItem('tillsync.ownerEmail');
    return token && email ? { token, email } : null;
  },
  write(token: string, email: string): void {
    sessionStorage.setItem('tillsync.ownerToken', token);
    sessionStorage.setItem('tillsync.ownerEmail', email);
  },
  clear(): void {
    sessionStorage.removeItem('tillsync.ownerToken');
    sessionStorage.removeItem('tillsync.ownerEmail');
  },
};

/** Wraps a screen's action: runs it, keeps its error in words, and signs out on a refused session. */
export function useAction(): {
  readonly busy: boolean;
  readonly error: string | null;
  readonly run: (action: () => Promise<void>) => Promise<void>;
  readonly clearError: () => void;
} {
  const { signOut } = useOwner();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(
    async (action: () => Promise<void>) => {
      setBusy(true);
      setError(null);
      try {
        await action();
      } catch (failure) {
        if (failure instanceof HttpError && failure.status === 401)
          signOut('Your session ended. Sign in again.');
        else setError(messageOf(failure));
      } finally {
        setBusy(false);
      }
    },
    [signOut],
  );
  const clearError = useCallback(() => setError(null), []);
  return { busy, error, run, clearError };
}

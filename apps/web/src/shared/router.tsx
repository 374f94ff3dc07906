import { useCallback, useEffect, useState, type MouseEvent, type ReactNode } from 'react';

/**
 * Path routing with the History API, small enough to read at a glance: both pages have a handful of
 * screens, and their servers answer every non-`/api` path with the page, so a reload stays on its screen.
 */

const NAVIGATE_EVENT = 'tillsync:navigate';

/** Goes to a path of this page without reloading it. */
export function navigate(path: string): void {
  if (path === window.location.pathname + window.location.search) return;
  window.history.pushState(null, '', path);
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

/** The path shown now (with its query), following links, back and forward. */
export function usePath(): string {
  const read = (): string => window.location.pathname + window.location.search;
  const [path, setPath] = useState(read);
  useEffect(() => {
    const update = (): void => setPath(read());
    window.addEventListener('popstate', update);
    window.addEventListener(NAVIGATE_EVENT, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(NAVIGATE_EVENT, update);
    };
  }, []);
  return path;
}

/** A link within the page; `current` marks the navigation entry of the screen shown. */
export function Link(props: {
  readonly to: string;
  readonly current?: boolean;
  readonly className?: string;
  readonly children: ReactNode;
}): ReactNode {
  const { to } = props;
  const follow = useCallback(
    (event: MouseEvent<HTMLAnchorElement>) => {
      // Let the browser open new tabs and windows as usual.
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      navigate(to);
    },
    [to],
  );
  return (
    <a
      href={to}
      onClick={follow}
      className={props.className}
      aria-current={props.current ? 'page' : undefined}
    >
      {props.children}
    </a>
  );
}

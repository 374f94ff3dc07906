import type { ReactNode } from 'react';

/** A message about the last action: `role="status"` for news, `role="alert"` for errors. */
export function Notice(props: {
  readonly kind: 'info' | 'success' | 'error';
  readonly children: ReactNode;
}): ReactNode {
  return (
    <p className={`notice notice-${props.kind}`} role={props.kind === 'error' ? 'alert' : 'status'}>
      {props.children}
    </p>
  );
}

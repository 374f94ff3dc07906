import { useEffect, useState } from 'react';

/** The time now, refreshed every `everyMs`, so "12s ago" keeps counting without asking any server. */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** How long ago, in words, as the devices panel says it: "just now", "14 minutes ago", "3 hours ago". */
export function longAge(ms: number): string {
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  if (seconds < 10) return 'just now';
  if (seconds < 60) return `${seconds} seconds ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} ${plural(minutes, 'minute')} ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} ${plural(hours, 'hour')} ago`;
  const days = Math.floor(hours / 24);
  return `${days} ${plural(days, 'day')} ago`;
}

/** How long from now, in words: "in 15 minutes", "in 40 seconds", or "expired". */
export function timeLeft(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds <= 0) return 'expired';
  if (seconds < 60) return `in ${seconds} ${plural(seconds, 'second')}`;
  const minutes = Math.ceil(seconds / 60);
  return `in ${minutes} ${plural(minutes, 'minute')}`;
}

/** A time of day in the reader's locale, with seconds: "14:03:12". */
export function clockTime(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** A date and time in the reader's locale: "22 Nov 2026, 14:03:12". */
export function dateTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, {
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** A duration: "340 ms", "2.4 s", "3 min 5 s". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** "every 30 seconds", "every 2 minutes". */
export function everyText(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds % 60 === 0 && seconds >= 60) {
    const minutes = seconds / 60;
    return minutes === 1 ? 'every minute' : `every ${minutes} minutes`;
  }
  return seconds === 1 ? 'every second' : `every ${seconds} seconds`;
}

function plural(count: number, word: string): string {
  return count === 1 ? word : `${word}s`;
}

/**
 * What arrives on the server's event stream (`GET /api/sync/events`, server-sent events): an event with its
 * name and data, or a sign of life (a comment such as `: keep-alive`, or a block without data such as the
 * opening `retry:`), which tells the reader the connection still works.
 */
export type ServerEvent =
  { readonly kind: 'event'; readonly event: string; readonly data: string } | { readonly kind: 'keep-alive' };

/** The event the server sends when another device's push committed: pull now. */
export const CHANGES_EVENT = 'changes';

/**
 * Reads a `text/event-stream` body into events (the parts of the format the server uses: `event:`,
 * `data:` and comments; `id:` and `retry:` are ignored). Stops reading the body when the caller stops
 * iterating, so the connection closes.
 */
export async function* readServerEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerEvent> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, '\n');
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        yield parseBlock(block);
        end = buffer.indexOf('\n\n');
      }
    }
  } finally {
    // Also reached when the consumer breaks out of its loop: cancelling the body closes the connection.
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

function parseBlock(block: string): ServerEvent {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  // The format dispatches no event for a block without data.
  return data.length === 0 ? { kind: 'keep-alive' } : { kind: 'event', event, data: data.join('\n') };
}

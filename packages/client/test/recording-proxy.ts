import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Change } from '@tillsync/protocol';
import { onCleanup } from './helpers.js';

/** A request the proxy passed on: its method, path, headers and body as the device sent them. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A real HTTP server between a device and the test server, recording every request it passes on. */
export interface RecordingProxy {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** The changes of every push sent so far, in order. */
  pushedChanges(): Change[];
  /** Forgets the requests recorded so far. */
  clear(): void;
}

/**
 * Starts a proxy in front of `target`. With `protocol`, it answers the health check with that protocol
 * version instead of the server's: a device then sends what it sends to a server of that version (the
 * server behind still judges the pushes by its own rules).
 */
export async function startRecordingProxy(
  target: string,
  options: { readonly protocol?: number } = {},
): Promise<RecordingProxy> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = request.url ?? '/';
      requests.push({ method: request.method ?? 'GET', path, headers: request.headers, body });
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (typeof value === 'string' && name !== 'host' && name !== 'connection') headers[name] = value;
      }
      void fetch(target + path, {
        method: request.method ?? 'GET',
        headers,
        ...(body === '' ? {} : { body }),
      }).then(
        async (answer) => {
          let text = await answer.text();
          if (options.protocol !== undefined && path.startsWith('/api/sync/health') && answer.ok) {
            text = JSON.stringify({ ...(JSON.parse(text) as object), protocol: options.protocol });
          }
          response.writeHead(answer.status, {
            'content-type': answer.headers.get('content-type') ?? 'application/json',
          });
          response.end(text);
        },
        (error: unknown) => {
          response.writeHead(502);
          response.end(String(error));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    pushedChanges: () =>
      requests
        .filter((request) => request.path === '/api/sync/push')
        .flatMap((request) => (JSON.parse(request.body) as { changes: Change[] }).changes),
    clear: () => {
      requests.length = 0;
    },
  };
}

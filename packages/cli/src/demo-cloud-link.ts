import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * The demo's devices reach the cloud through this link, so the demo can take the cloud offline for them
 * (and back) while the owner's dashboard, which talks to the server directly, stays up. Offline, every open
 * connection is cut (the live streams too) and each new one is closed as it comes: to a device that is a
 * cloud that does not answer, as when the network is down.
 */
export class DemoCloudLink {
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();
  #online = true;

  private constructor(target: () => string) {
    this.#server = http.createServer((request, response) => {
      const upstream = http.request(
        new URL(request.url ?? '/', target()),
        { method: request.method, headers: request.headers },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', () => response.destroy());
      response.on('close', () => upstream.destroy());
      request.pipe(upstream);
    });
    this.#server.on('connection', (socket: Socket) => {
      if (!this.#online) {
        socket.destroy();
        return;
      }
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** A link to the server `target()` names now, listening on 127.0.0.1:`port` (0: a free port). */
  static async open(target: () => string, port: number): Promise<DemoCloudLink> {
    const link = new DemoCloudLink(target);
    await new Promise<void>((resolve, reject) => {
      link.#server.once('error', reject);
      link.#server.listen(port, '127.0.0.1', () => resolve());
    });
    return link;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  online(): boolean {
    return this.#online;
  }

  /** Cuts every connection and refuses new ones, or lets them through again. */
  setOnline(online: boolean): Promise<void> {
    this.#online = online;
    if (!online) for (const socket of this.#sockets) socket.destroy();
    return Promise.resolve();
  }

  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

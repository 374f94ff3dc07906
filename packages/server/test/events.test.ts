import { describe, expect, it, onTestFinished } from 'vitest';
import { expectError, login, newId, pair, request, startTestServer, TestDevice } from './helpers.js';

/** A device's event stream, collecting the `changes` events it hears. */
class EventStream {
  readonly notices: Array<{ tenantId: string; deviceId: string | null }> = [];
  readonly #waiters: Array<() => void> = [];

  static async open(device: TestDevice): Promise<EventStream> {
    const controller = new AbortController();
    onTestFinished(() => controller.abort());
    const response = await fetch(`${device.baseUrl}/api/sync/events`, {
      headers: { authorization: `Bearer ${device.accessToken}` },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const stream = new EventStream();
    const body = response.body;
    if (!body) throw new Error('no event stream body');
    void stream.#read(body.pipeThrough(new TextDecoderStream()).getReader());
    return stream;
  }

  async #read(reader: ReadableStreamDefaultReader<string>): Promise<void> {
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(event)?.[1];
          if (/^event: changes$/m.test(event) && data) {
            this.notices.push(JSON.parse(data) as { tenantId: string; deviceId: string | null });
            this.#waiters.splice(0).forEach((wake) => wake());
          }
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // Aborted when the test ends.
    }
  }

  /** Waits until `count` notices arrived (at most 5 s). */
  async waitFor(count: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (this.notices.length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.notices.length} of ${count} notices arrived`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
}

describe('live change notices', () => {
  it("tells a tenant's other devices when a push commits, and no one else", async () => {
    const server = await startTestServer();
    const a = await server.pair('tillA');
    const b = await server.pair('tillB');
    await server.server.accounts.createTenant({
      name: 'Other',
      email: 'o@shop.test',
      password: 'other password!',
    });
    const otherOwner = await login(server.url, 'o@shop.test', 'other password!');
    const stranger = new TestDevice(
      server.url,
      await pair(server.url, otherOwner.token, 'x'),
      'x',
      server.clock.now,
    );

    const [streamA, streamB, streamStranger] = await Promise.all([
      EventStream.open(a),
      EventStream.open(b),
      EventStream.open(stranger),
    ]);
    // A push of rejected changes only changed nothing: no one is told.
    await a.push([a.upsert('categories', newId(), {})]);
    await a.push([a.upsert('categories', newId(), { name: 'Fruit' })]);
    await streamB.waitFor(1);
    await b.push([b.upsert('categories', newId(), { name: 'Veg' })]);
    await streamA.waitFor(1);
    // The stranger's tenant pushes too; A and B must not hear of it.
    await stranger.push([stranger.upsert('categories', newId(), { name: 'Theirs' })]);
    await b.push([b.upsert('categories', newId(), { name: 'More veg' })]);
    await streamA.waitFor(2);

    expect(streamB.notices).toEqual([{ tenantId: server.tenantId, deviceId: a.deviceId }]);
    expect(streamA.notices).toEqual([
      { tenantId: server.tenantId, deviceId: b.deviceId },
      { tenantId: server.tenantId, deviceId: b.deviceId },
    ]);
    expect(streamStranger.notices).toEqual([]);
  });

  it('needs a device token', async () => {
    const server = await startTestServer();
    expectError(await request(server.url, 'GET', '/api/sync/events'), 401, 'UNAUTHORIZED');
    expectError(
      await request(server.url, 'GET', '/api/sync/events', { token: server.ownerToken }),
      403,
      'FORBIDDEN',
    );
  });
});

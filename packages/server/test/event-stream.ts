import { expect, onTestFinished } from 'vitest';
import type { TestDevice } from './helpers.js';

/** A device's event stream, collecting the `changes` events it hears. */
export class EventStream {
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

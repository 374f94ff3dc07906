import type { Change, PushResponse } from '@tillsync/protocol';
import type { FetchFunction } from '../src/index.js';

// The faulty network of the randomized convergence tests, and the record of what the server took.

/** The seeds to run: `TILLSYNC_SEED` alone, or `TILLSYNC_SEEDS` of them from `TILLSYNC_SEED_START` (or `start`). */
export function seedsFromEnv(count: number, start: number): number[] {
  if (process.env.TILLSYNC_SEED) return [Number(process.env.TILLSYNC_SEED)];
  return Array.from(
    { length: Number(process.env.TILLSYNC_SEEDS ?? count) },
    (_, index) => Number(process.env.TILLSYNC_SEED_START ?? start) + index,
  );
}

/** The pushes the devices sent, by pushId, and the answers they got (a retried pushId gets the same one). */
export class PushRecord {
  readonly #changes = new Map<string, Change[]>();
  readonly #answers = new Map<string, PushResponse>();

  noteRequest(input: string, init: RequestInit): void {
    if (!input.endsWith('/api/sync/push') || typeof init.body !== 'string') return;
    const body = JSON.parse(init.body) as { pushId: string; changes: Change[] };
    this.#changes.set(body.pushId, body.changes);
  }

  async noteAnswer(input: string, init: RequestInit, response: Response): Promise<void> {
    if (!input.endsWith('/api/sync/push') || typeof init.body !== 'string' || !response.ok) return;
    const { pushId } = JSON.parse(init.body) as { pushId: string };
    this.#answers.set(pushId, (await response.clone().json()) as PushResponse);
  }

  /** The upserts the server took (applied, or judged column by column and answered stale). */
  taken(): Change[] {
    const taken: Change[] = [];
    for (const [pushId, changes] of this.#changes) {
      const answer = this.#answers.get(pushId);
      if (!answer) continue;
      changes.forEach((change, index) => {
        if (change.op === 'upsert' && answer.results[index]?.status !== 'rejected') taken.push(change);
      });
    }
    return taken;
  }

  /**
   * The rows of `table` that applied upserts made whole (with a plain value for the counter `counter`) more
   * than once: rows made again over a delete (a till's sale needed a product deleted elsewhere), whose
   * counter starts again from that till's count, as a deleted row keeps no counter on the server.
   */
  remade(table: string, counter: string): Set<string> {
    const made = new Map<string, Set<string>>();
    for (const [pushId, changes] of this.#changes) {
      const answer = this.#answers.get(pushId);
      if (!answer) continue;
      changes.forEach((change, index) => {
        if (change.table !== table || change.op !== 'upsert' || answer.results[index]?.status !== 'applied')
          return;
        if (typeof change.values?.[counter] !== 'number') return;
        made.set(change.id, (made.get(change.id) ?? new Set<string>()).add(change.updatedAt));
      });
    }
    return new Set([...made].filter(([, stamps]) => stamps.size > 1).map(([id]) => id));
  }

  /** Every change of one row the server answered, each with its status, in the order pushed. */
  history(table: string, id: string): string[] {
    const lines: string[] = [];
    for (const [pushId, changes] of this.#changes) {
      const answer = this.#answers.get(pushId);
      if (!answer) continue;
      changes.forEach((change, index) => {
        if (change.table !== table || change.id !== id) return;
        const values = change.op === 'upsert' ? JSON.stringify(change.values) : '';
        lines.push(
          `${change.op} ${change.updatedAt} ${values} base ${change.base ?? '-'}: ${answer.results[index]?.status ?? '?'}`,
        );
      });
    }
    return lines;
  }
}

/** A network that loses requests (before the server sees them) and answers (after it acted on them). */
export class FlakyNetwork {
  enabled = true;
  dropped = { requests: 0, answers: 0 };
  readonly #next: () => number;
  readonly #record: PushRecord;

  constructor(next: () => number, record: PushRecord) {
    this.#next = next;
    this.#record = record;
  }

  readonly fetch: FetchFunction = async (input, init) => {
    const roll = this.#next();
    if (this.enabled && roll < 0.08) {
      this.dropped.requests += 1;
      throw new TypeError('fetch failed (the test dropped the request)');
    }
    this.#record.noteRequest(input, init);
    const response = await fetch(input, init);
    await this.#record.noteAnswer(input, init, response);
    if (this.enabled && roll < 0.16) {
      await response.arrayBuffer();
      this.dropped.answers += 1;
      throw new TypeError('fetch failed (the test dropped the answer)');
    }
    return response;
  };
}

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

/** What the server stores of a row right after a push that carried it was answered: for a failure's trace. */
export type ServerRowProbe = (table: string, id: string) => string;

/** A row id in a write's description: a UUID. */
const ROW_ID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** One pulled page's change, as a row's trace shows it. */
interface PulledChange {
  readonly table: string;
  readonly id: string;
  readonly op: string;
  readonly updatedAt: string;
  readonly values?: Record<string, unknown>;
}

/**
 * The pushes the devices sent, by pushId, and the answers they got (a retried pushId gets the same one); and,
 * per row, what each device sent and pulled of it, in the order it happened, so a failure can tell its story.
 */
export class PushRecord {
  readonly #changes = new Map<string, Change[]>();
  readonly #answers = new Map<string, PushResponse>();
  readonly #trace = new Map<string, string[]>();
  #step = 0;
  /** Reads the server's stored row, after each push's answer; none: the trace has no server side. */
  probe: ServerRowProbe | null = null;

  noteRequest(input: string, init: RequestInit, device = '?'): void {
    if (!input.endsWith('/api/sync/push') || typeof init.body !== 'string') return;
    const body = JSON.parse(init.body) as { pushId: string; changes: Change[] };
    this.#changes.set(body.pushId, body.changes);
    for (const change of body.changes) {
      const values = change.op === 'upsert' || change.values ? ` ${JSON.stringify(change.values ?? {})}` : '';
      this.#note(
        change.table,
        change.id,
        `${device} sends ${body.pushId.slice(-6)} ${change.op} ${change.updatedAt}${values} base ${change.base ?? '-'}`,
      );
    }
  }

  async noteAnswer(
    input: string,
    init: RequestInit,
    response: Response,
    device = '?',
    lost = false,
  ): Promise<void> {
    if (!response.ok) return;
    const unseen = lost ? ' (answer lost on the way)' : '';
    if (input.includes('/api/sync/pull')) {
      const page = (await response.clone().json()) as { changes: PulledChange[]; hasMore: boolean };
      const since = new URL(input).searchParams.get('since') ?? '';
      for (const change of page.changes)
        this.#note(
          change.table,
          change.id,
          `${device} pulls (since ${since.slice(-12) || 'start'}) ${change.op} ${change.updatedAt} ${JSON.stringify(change.values ?? null)}${unseen}`,
        );
      return;
    }
    if (!input.endsWith('/api/sync/push') || typeof init.body !== 'string') return;
    const { pushId, changes } = JSON.parse(init.body) as { pushId: string; changes: Change[] };
    const answer = (await response.clone().json()) as PushResponse;
    this.#answers.set(pushId, answer);
    changes.forEach((change, index) => {
      const result = answer.results[index];
      const current =
        result && 'current' in result && result.current ? ` current ${JSON.stringify(result.current)}` : '';
      const error = result?.status === 'rejected' ? ` ${result.error.code}` : '';
      const stored = this.probe ? `; server: ${this.probe(change.table, change.id)}` : '';
      this.#note(
        change.table,
        change.id,
        `${device} answer ${pushId.slice(-6)}: ${result?.status ?? '?'}${error}${current}${stored}${unseen}`,
      );
    });
  }

  /** A device's own write, or a cycle's start or end, noted under every row id its text names. */
  noteLocal(device: string, text: string): void {
    for (const id of new Set(text.match(ROW_ID) ?? [])) this.#note('', id, `${device} ${text}`);
  }

  /** How many steps the record holds: a mark for {@link sentSince}. */
  get step(): number {
    return this.#step;
  }

  /** The ids of the rows sent in a push after step `mark`. */
  sentSince(mark: number): string[] {
    const ids: string[] = [];
    for (const [id, lines] of this.#trace)
      if (lines.some((line) => / sends /.test(line) && Number(line.split(' ')[0]) > mark)) ids.push(id);
    return ids;
  }

  /** Everything written, sent, answered and pulled of one row, in order. */
  trace(id: string): string[] {
    return this.#trace.get(id) ?? [];
  }

  #note(_table: string, id: string, line: string): void {
    const key = id;
    let lines = this.#trace.get(key);
    if (!lines) this.#trace.set(key, (lines = []));
    lines.push(`${++this.#step} ${line}`);
  }

  /**
   * The upserts the server took (applied, or judged column by column and answered stale). Not one that met
   * the row deleted and lacked a required column (answered stale with the delete as `current`): nothing of
   * it was judged, since such a write cannot bring the row back (PROTOCOL.md §5), even where a whole write
   * with a smaller stamp brings the row back after it.
   */
  taken(): Change[] {
    const taken: Change[] = [];
    for (const [pushId, changes] of this.#changes) {
      const answer = this.#answers.get(pushId);
      if (!answer) continue;
      changes.forEach((change, index) => {
        const result = answer.results[index];
        if (change.op !== 'upsert' || result === undefined || result.status === 'rejected') return;
        if (result.status === 'stale' && result.current.op === 'delete') return;
        taken.push(change);
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
  readonly #name: string;

  constructor(next: () => number, record: PushRecord, name = '?') {
    this.#next = next;
    this.#record = record;
    this.#name = name;
  }

  readonly fetch: FetchFunction = async (input, init) => {
    const roll = this.#next();
    if (this.enabled && roll < 0.08) {
      this.dropped.requests += 1;
      throw new TypeError('fetch failed (the test dropped the request)');
    }
    this.#record.noteRequest(input, init, this.#name);
    const response = await fetch(input, init);
    const lost = this.enabled && roll < 0.16;
    await this.#record.noteAnswer(input, init, response, this.#name, lost);
    if (this.enabled && roll < 0.16) {
      await response.arrayBuffer();
      this.dropped.answers += 1;

      throw new TypeError('fetch failed (the test dropped the answer)');
    }
    return response;
  };
}

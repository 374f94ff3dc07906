import { isCounterDelta, type Change } from '@tillsync/protocol';

/** What a load run measured: latencies per kind of request, counts, and failures by code. */
export class LoadStats {
  readonly #latencies = new Map<string, number[]>();
  readonly #errors = new Map<string, number>();
  cycles = 0;
  /** Pulled changes of a store-scoped table whose store is not the puller's (must stay 0). */
  outOfScope = 0;
  pushedRows = 0;
  pulledRows = 0;
  requests = 0;

  /** A request of `kind` answered after `ms`. */
  record(kind: string, ms: number): void {
    const list = this.#latencies.get(kind) ?? [];
    list.push(ms);
    this.#latencies.set(kind, list);
  }

  /** A failure: an HTTP code (`429 RATE_LIMITED`), a network code (`ECONNRESET`) or a push result. */
  fail(code: string): void {
    this.#errors.set(code, (this.#errors.get(code) ?? 0) + 1);
  }

  /** `p50 … p95 … p99 … max …` in ms for one kind of request, or null if none was made. */
  percentiles(kind: string): { p50: number; p95: number; p99: number; max: number; count: number } | null {
    const sorted = [...(this.#latencies.get(kind) ?? [])].sort((a, b) => a - b);
    if (sorted.length === 0) return null;
    const at = (quantile: number): number =>
      sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] ?? 0;
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.at(-1) ?? 0, count: sorted.length };
  }

  errors(): ReadonlyMap<string, number> {
    return this.#errors;
  }
}

/**
 * What the server acknowledged, per tenant: the new rows (by `table/id`), and for counter columns the sum of
 * the deltas it took (by `table/id/column`); and what pushes that never got an answer carried, which the
 * server may or may not hold.
 */
export class RowLedger {
  readonly acknowledged = new Map<string, Set<string>>();
  /** Rows of pushes that failed every retry: the server may or may not hold them. */
  readonly unresolved = new Map<string, Set<string>>();
  /** Counter deltas the server took, summed per counter. */
  readonly acknowledgedDeltas = new Map<string, Map<string, number>>();
  /** Counter deltas of pushes that failed every retry, summed per counter. */
  readonly unresolvedDeltas = new Map<string, Map<string, number>>();

  /**
   * A change of a push the server answered with `status`: a row with counter deltas counts them when the
   * server took them (an applied change, or a stale one, whose deltas are added all the same); a new row
   * counts when applied.
   */
  answered(tenantId: string, change: Change, status: 'applied' | 'stale' | 'rejected'): void {
    if (status === 'rejected') return;
    const deltas = counterDeltas(change);
    if (deltas.length > 0)
      for (const [key, delta] of deltas) addTo(this.acknowledgedDeltas, tenantId, key, delta);
    else if (status === 'applied') add(this.acknowledged, tenantId, rowKeyOf(change.table, change.id));
  }

  /** A change of a push that failed every retry. */
  unanswered(tenantId: string, change: Change): void {
    const deltas = counterDeltas(change);
    if (deltas.length > 0)
      for (const [key, delta] of deltas) addTo(this.unresolvedDeltas, tenantId, key, delta);
    else add(this.unresolved, tenantId, rowKeyOf(change.table, change.id));
  }

  count(of: Map<string, Set<string>>): number {
    let total = 0;
    for (const rows of of.values()) total += rows.size;
    return total;
  }
}

/** A row's key in the ledger. */
export function rowKeyOf(table: string, id: string): string {
  return `${table}/${id}`;
}

/** A counter's key in the ledger. */
export function counterKeyOf(table: string, id: string, column: string): string {
  return `${table}/${id}/${column}`;
}

function counterDeltas(change: Change): Array<[string, number]> {
  if (change.op !== 'upsert') return [];
  return Object.entries(change.values ?? {}).flatMap(([column, value]) =>
    isCounterDelta(value)
      ? [[counterKeyOf(change.table, change.id, column), value.delta] as [string, number]]
      : [],
  );
}

function add(into: Map<string, Set<string>>, tenantId: string, key: string): void {
  const keys = into.get(tenantId) ?? new Set<string>();
  keys.add(key);
  into.set(tenantId, keys);
}

function addTo(into: Map<string, Map<string, number>>, tenantId: string, key: string, delta: number): void {
  const sums = into.get(tenantId) ?? new Map<string, number>();
  sums.set(key, (sums.get(key) ?? 0) + delta);
  into.set(tenantId, sums);
}

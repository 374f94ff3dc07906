/** What a load run measured: latencies per kind of request, counts, and failures by code. */
export class LoadStats {
  readonly #latencies = new Map<string, number[]>();
  readonly #errors = new Map<string, number>();
  cycles = 0;
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

/** Which rows the server acknowledged, per tenant, and which pushes never got an answer. */
export class RowLedger {
  readonly acknowledged = new Map<string, Set<string>>();
  /** Rows of pushes that failed every retry: the server may or may not hold them. */
  readonly unresolved = new Map<string, Set<string>>();

  add(into: Map<string, Set<string>>, tenantId: string, rowId: string): void {
    const rows = into.get(tenantId) ?? new Set<string>();
    rows.add(rowId);
    into.set(tenantId, rows);
  }

  count(of: Map<string, Set<string>>): number {
    let total = 0;
    for (const rows of of.values()) total += rows.size;
    return total;
  }
}

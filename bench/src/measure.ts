import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** One line of BENCHMARKS.md: a figure beside the baseline measured in the same run. */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: { readonly name: string; readonly value: number };
  /** The aim from the issue, in words. */
  readonly aim?: string;
  /** Whether a larger value is better (rates) or smaller (latencies). */
  readonly higherIsBetter: boolean;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tillsync-bench-${prefix}-`));
}

/** Milliseconds taken by `work`. */
export async function timeMs(work: () => Promise<void> | void): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

export function ratePerSecond(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

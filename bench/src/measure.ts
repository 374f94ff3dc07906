import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

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

/** The machine's PostgreSQL (or `TILLSYNC_BENCH_PG_URL`), as the admin database to make bench databases in. */
const PG_ADMIN_URL = process.env.TILLSYNC_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A new database for one benchmark; `drop()` removes it. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tillsync_bench_${randomBytes(6).toString('hex')}`;
  const admin = async (text: string): Promise<void> => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) };
}

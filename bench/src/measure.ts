import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** A figure another program or a raw library reached in the same run, in the unit of the result's. */
export interface Reference {
  readonly name: string;
  readonly value: number;
}

/**
 * One line of BENCHMARKS.md, from one run: a figure beside the baseline measured in the same run. `npm run
 * bench` runs each suite several times and prints the median and spread of each, by name (so a name must
 * not change between runs).
 */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: Reference;
  /** The same work done by a peer product (PouchDB), printed side by side. */
  readonly peer?: Reference;
  /** The least time the work can take on this machine, from raw parts measured in the same run. */
  readonly limit?: Reference;
  /** The aim, in words. */
  readonly aim?: string;
  /** Whether a larger value is better (rates) or smaller (latencies). */
  readonly higherIsBetter: boolean;
}

/** A rate or duration as a share of the limit: 1 is as fast as the machine allows. */
export function shareOfLimit(value: number, limit: number, higherIsBetter: boolean): number {
  return higherIsBetter ? value / limit : limit / value;
}

/** How many times faster the first figure is than the second. */
export function speedUp(value: number, other: number, higherIsBetter: boolean): number {
  return higherIsBetter ? value / other : other / value;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return NaN;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? NaN)
    : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

/** A positive whole number from the environment, or `fallback`; anything else stops the run with a clear error. */
export function countFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const count = Number(text);
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`${name} must be a whole number above 0, not "${text}"`);
  return count;
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

/** The machine's Redis (or `TILLSYNC_BENCH_REDIS_URL`). */
export const REDIS_URL = process.env.TILLSYNC_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The machine's PostgreSQL (or `TILLSYNC_BENCH_PG_URL`), as the admin database to make bench databases in. */
export const PG_ADMIN_URL = process.env.TILLSYNC_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Runs one statement on the admin database (creating or dropping a database, a checkpoint). */
export async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** The URL of database `name` on the machine's PostgreSQL. */
export function postgresUrl(name: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A new database for one benchmark; `drop()` removes it. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tillsync_bench_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create database ${name}`);
  return { url: postgresUrl(name), drop: () => adminQuery(`drop database if exists ${name} with (force)`) };
}

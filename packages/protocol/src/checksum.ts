import crypto from 'node:crypto';

/**
 * Table checksums of PROTOCOL.md §2: the sum, modulo 2^64, of the first 8 bytes (big-endian) of
 * SHA-256(`<id>|<updatedAt>`) over a table's live rows. A sum can be kept up to date one row at a time:
 * add a row's term when it appears, subtract it when the row is replaced or deleted.
 *
 * This is the one place the protocol package uses a Node API: both ends run on Node, and the native hash
 * is several times faster than a JavaScript one on a first sync of a million rows.
 */

const MOD = 1n << 64n;

/**
 * One row's term of its table's sum. Node's one-shot `crypto.hash` (Node 20.12+) is about twice as fast as a
 * `createHash` object per row, which a first sync of a million rows feels; both hash the same bytes.
 */
export const checksumTerm: (id: string, updatedAt: string) => bigint =
  typeof crypto.hash === 'function'
    ? (id, updatedAt) => crypto.hash('sha256', `${id}|${updatedAt}`, 'buffer').readBigUInt64BE(0)
    : (id, updatedAt) => crypto.createHash('sha256').update(`${id}|${updatedAt}`).digest().readBigUInt64BE(0);

/** Adds (or with a negative term, subtracts) a term to a sum, modulo 2^64. */
export function addToChecksum(sum: bigint, term: bigint): bigint {
  return (((sum + term) % MOD) + MOD) % MOD;
}

/** A sum as 16 hex digits, the form on the wire. */
export function formatChecksum(sum: bigint): string {
  return sum.toString(16).padStart(16, '0');
}

export function parseChecksum(hex: string): bigint {
  return BigInt(`0x${hex}`);
}

/** A table's checksum as it travels on the last page of a pull. */
export interface TableChecksum {
  readonly count: number;
  readonly sum: string;
}

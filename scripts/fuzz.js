#!/usr/bin/env node
// `npm run fuzz -- --runs 100000`: the generated bad requests of the server's tests (bad-input-fuzz.ts), as
// many per property as asked, on SQLite and on PostgreSQL. The count bounds the run, not a fixed timeout.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';

const HELP = `Usage: npm run fuzz -- [--runs <n>]

Sends generated requests (random pushes, and random bodies, queries and headers on every route) to a real
server on SQLite and on PostgreSQL, and fails on any 5xx or any answer of the wrong shape.

Options:
  --runs <n>   generated requests per property and store (default 50000)
  -h, --help   show this help
`;

let values;
try {
  ({ values } = parseArgs({
    options: { runs: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  }));
} catch (error) {
  process.stderr.write(`fuzz: ${error.message} (see --help)\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const runs = values.runs ?? '50000';
if (!/^[1-9]\d*$/.test(runs)) {
  process.stderr.write(`fuzz: --runs takes a whole number above 0, not "${runs}" (see --help)\n`);
  process.exit(2);
}
process.stdout.write(`fuzz: ${runs} generated requests per property, on SQLite and PostgreSQL\n`);
const started = Date.now();
const vitest = spawnSync(
  'npx',
  [
    'vitest',
    'run',
    'packages/server/test/bad-input.test.ts',
    'packages/server/test/bad-input.pg.test.ts',
    '-t',
    'generated requests',
    // One store per core: vitest would otherwise keep a core free and run the two files one after the other.
    `--maxWorkers=${Math.min(2, os.availableParallelism())}`,
  ],
  { stdio: 'inherit', env: { ...process.env, TILLSYNC_FUZZ_RUNS: runs } },
);
process.stdout.write(`fuzz: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
process.exit(vitest.status ?? 1);

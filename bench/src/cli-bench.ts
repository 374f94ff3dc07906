import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { countFromEnv, median, tempDir, type BenchResult } from './measure.js';
import { CLI } from './serve-process.js';
/** Runs of each command; the figure is their median (`TILLSYNC_BENCH_CLI_RUNS`). */
const RUNS = countFromEnv('TILLSYNC_BENCH_CLI_RUNS', 10);

/** The whole-process time of `node ARGS`, median of RUNS runs, in ms (output discarded). */
function processMs(args: readonly string[]): number {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = process.hrtime.bigint();
    execFileSync(process.execPath, args, { stdio: 'ignore' });
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return Math.round(median(times));
}

/**
 * How long the quick commands take as a whole process, from start to exit, beside a Node.js process that
 * does nothing (`node -e 0`), measured in the same run: the difference is what the command loads and does.
 */
export function benchCommandLine(): Promise<BenchResult[]> {
  const dir = tempDir('cli');
  try {
    const db = path.join(dir, 'device.db');
    // A device file that is not paired (the first `status` sets it up): `status` opens it, reads it, closes it.
    fs.writeFileSync(db, '');
    execFileSync(process.execPath, [CLI, 'status', '--db', db], { stdio: 'ignore' });
    const baseline = {
      name: 'a Node.js process that does nothing, `node -e 0`',
      value: processMs(['-e', '0']),
    };
    return Promise.resolve([
      {
        name: `\`tillsync status --db FILE\`, whole process (median of ${RUNS})`,
        value: processMs([CLI, 'status', '--db', db]),
        unit: 'ms',
        baseline,
        aim: 'under 200 ms',
        higherIsBetter: false,
      },
      {
        name: `\`tillsync --help\`, whole process (median of ${RUNS})`,
        value: processMs([CLI, '--help']),
        unit: 'ms',
        baseline,
        higherIsBetter: false,
      },
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

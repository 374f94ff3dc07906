import { execFileSync, fork } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeFailure, runSeed, shrink } from './simulation.js';
import { makeTemplate, removeTemplate } from './world.js';

/**
 * `npm run soak`: runs many seeds of the simulation (or replays one) and exits 1 when any breaks an
 * invariant, printing each failing seed with its schedule, a smaller schedule that fails too, and the
 * command that replays it.
 */

const HELP = `Usage: npm run soak -- [options]

Runs seeds of the fault-injection simulation (devices, a server, a faulty network, crashes, restarts and
skewed clocks) and checks the sync invariants after each. Exits 1 when a seed fails.

Options:
  --seeds <n>     how many seeds to run (default 1000)
  --start <n>     the first seed (default 1); \`commit\` takes it from the commit checked out, so each commit
                  meets schedules no run met before (CI: --start commit --seeds 1000 --steps 20)
  --jobs <n>      processes to split the seeds over (default: one per core)
  --steps <n>     steps per seed (default 60)
  --seed <n>      replay this one seed and print what happened
  --devices <n>   with --seed: this many devices instead of the seed's own (2 to 4)
  --shape <s>     with --seed: \`real\` (default: random and time-ordered ids, old rows edited, referenced
                  parents deleted) or \`creation-order\` (the workload of seeds found before real shapes)
  --world <w>     \`shop\` (one store, the single-shop schema) or \`chain\` (two stores on the chain schema,
                  tills and sales moved between them) for every seed, instead of each seed's own draw
                  (about 3 seeds in 10 are a chain)
  --no-power-cuts crashes lose nothing committed (by default a crash may also be a power cut, which loses
                  what SQLite had not synced to disk); the schedule stays the same
  --no-shrink     report failing seeds as they are, without looking for a smaller schedule
  -h, --help      show this help
`;

const DEFAULT_STEPS = 60;

function fail(message: string): never {
  process.stderr.write(`soak: ${message} (see --help)\n`);
  process.exit(2);
}

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) fail(`--${name} takes a whole number, not "${text}"`);
  return Number(text);
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        seeds: { type: 'string' },
        start: { type: 'string' },
        jobs: { type: 'string' },
        worker: { type: 'boolean' },
        steps: { type: 'string' },
        seed: { type: 'string' },
        devices: { type: 'string' },
        shape: { type: 'string' },
        world: { type: 'string' },
        'no-shrink': { type: 'boolean' },
        'no-power-cuts': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    fail((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const steps = positiveInteger('steps', values.steps, DEFAULT_STEPS);
  const devices = values.devices === undefined ? undefined : positiveInteger('devices', values.devices, 0);
  if (devices !== undefined && (devices < 1 || devices > 4)) fail('--devices takes 1 to 4');
  if (devices !== undefined && values.seed === undefined) fail('--devices goes with --seed');
  const shape = values.shape ?? 'real';
  if (shape !== 'real' && shape !== 'creation-order') fail('--shape takes real or creation-order');
  if (values.shape !== undefined && values.seed === undefined) fail('--shape goes with --seed');
  const world = values.world;
  if (world !== undefined && world !== 'shop' && world !== 'chain') fail('--world takes shop or chain');

  const powerCuts = values['no-power-cuts'] !== true;
  const count = positiveInteger('seeds', values.seeds, 1000);
  const start = values.start === 'commit' ? commitSeed() : positiveInteger('start', values.start, 1);
  if (values.seed === undefined && !values.worker) {
    const jobs = Math.min(count, positiveInteger('jobs', values.jobs, os.availableParallelism()));
    if (jobs < 1) fail('--jobs takes 1 or more');
    return runInProcesses({
      start,
      count,
      steps,
      jobs,
      powerCuts,
      shrink: !values['no-shrink'],
      fromCommit: values.start === 'commit',
      world,
    });
  }

  const template = await makeTemplate();
  try {
    if (values.seed !== undefined) {
      const seed = positiveInteger('seed', values.seed, 0);
      const result = await runSeed(template, {
        seed,
        steps,
        powerCuts,
        shape,
        ...(devices !== undefined ? { devices } : {}),
        ...(world !== undefined ? { world } : {}),
      });
      process.stdout.write(`${result.trace.join('\n')}\n`);
      if (result.problems.length === 0) {
        process.stdout.write(
          `seed ${seed} passed: ${steps} steps, ${result.devices} devices, a ${result.world === 'chain' ? 'chain of two stores' : 'single shop'}\n`,
        );
        return 0;
      }
      process.stdout.write(`${describeFailure(result, 0)}\n`);
      return 1;
    }

    // A worker runs its share and tells the process that started it how each seed went.
    for (let index = 0; index < count; index++) {
      const result = await runSeed(template, {
        seed: start + index,
        steps,
        powerCuts,
        ...(world !== undefined ? { world } : {}),
      });
      if (result.problems.length > 0) {
        const smallest = values['no-shrink'] ? result : await shrink(template, result);
        process.stdout.write(`${describeFailure(smallest)}\n`);
      }
      process.send?.({ seed: result.seed, passed: result.problems.length === 0 } satisfies SeedDone);
    }
    return 0;
  } finally {
    removeTemplate(template);
  }
}

/** What to run over several processes. */
interface Batch {
  readonly start: number;
  readonly count: number;
  readonly steps: number;
  readonly jobs: number;
  readonly powerCuts: boolean;
  readonly shrink: boolean;
  readonly fromCommit: boolean;
  readonly world: 'shop' | 'chain' | undefined;
}

/**
 * Splits the seeds over `jobs` worker processes (this script again, with `--worker`), each a contiguous
 * share, and reports progress, seeds per second, and the seeds that failed (each worker prints its own
 * failures, shrunk, with the command that replays them).
 */
async function runInProcesses(batch: Batch): Promise<number> {
  const { start, count, steps, jobs, powerCuts, world } = batch;
  const worldFlag = world === undefined ? '' : ` --world ${world}`;
  process.stdout.write(
    `seeds ${start} to ${start + count - 1}, ${steps} steps each${powerCuts ? ', power cuts on' : ''}, in ${jobs} process${jobs === 1 ? '' : 'es'}` +
      `${batch.fromCommit ? ` (the first taken from commit ${commitId()})` : ''}\n` +
      `again: npm run soak -- --start ${start} --seeds ${count} --steps ${steps}${powerCuts ? '' : ' --no-power-cuts'}${worldFlag}\n`,
  );
  const failed: number[] = [];
  const started = Date.now();
  let done = 0;
  const progress = (): void => {
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? (done / seconds).toFixed(2) : '-';
    const line = `seeds ${done}/${count}: ${done - failed.length} passed, ${failed.length} failed (${rate} seeds/s)`;
    process.stderr.write(
      process.stderr.isTTY ? `\r${line}` : done === count || done % 100 === 0 ? `${line}\n` : '',
    );
  };
  const share = Math.ceil(count / jobs);
  const workers = Array.from({ length: jobs }, (_, job) => {
    const first = start + job * share;
    const seeds = Math.min(share, start + count - first);
    const args = ['--worker', '--start', String(first), '--seeds', String(seeds), '--steps', String(steps)];
    if (!powerCuts) args.push('--no-power-cuts');
    if (!batch.shrink) args.push('--no-shrink');
    if (world !== undefined) args.push('--world', world);
    const child = fork(fileURLToPath(import.meta.url), args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (message: SeedDone) => {
      done += 1;
      if (!message.passed) {
        failed.push(message.seed);
        if (process.stderr.isTTY) process.stderr.write('\n');
      }
      progress();
    });
    return new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  });
  const codes = await Promise.all(workers);
  if (process.stderr.isTTY) process.stderr.write('\n');
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(
    `${done - failed.length} passed, ${failed.length} failed in ${seconds.toFixed(0)} s (${(done / seconds).toFixed(2)} seeds/s)\n`,
  );
  if (failed.length > 0) process.stdout.write(`failing seeds: ${failed.sort((a, b) => a - b).join(', ')}\n`);
  if (done < count) process.stdout.write(`${count - done} seeds did not run: a worker process failed\n`);
  return failed.length > 0 || done < count || codes.some((code) => code !== 0) ? 1 : 0;
}

/** What a worker process tells of each seed. */
interface SeedDone {
  readonly seed: number;
  readonly passed: boolean;
}

/** The commit checked out (`TILLSYNC_COMMIT` where there is no git, as in some CI checkouts). */
function commitId(): string {
  const fromEnvironment = process.env.TILLSYNC_COMMIT;
  if (fromEnvironment) return fromEnvironment;
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    fail('--start commit needs a git checkout or TILLSYNC_COMMIT');
  }
}

/** The first seed for this commit: its id's first 28 bits, so every commit meets other schedules. */
function commitSeed(): number {
  const id = commitId();
  if (!/^[0-9a-f]{7,}$/i.test(id)) fail(`the commit id "${id}" is not hexadecimal`);
  return Number.parseInt(id.slice(0, 7), 16);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);

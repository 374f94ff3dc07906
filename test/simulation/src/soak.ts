import { parseArgs } from 'node:util';
import { describeFailure, runSeed, shrink, type SeedResult } from './simulation.js';
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
  --start <n>     the first seed (default 1)
  --steps <n>     steps per seed (default 60)
  --seed <n>      replay this one seed and print what happened
  --devices <n>   with --seed: this many devices instead of the seed's own (2 to 4)
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
        steps: { type: 'string' },
        seed: { type: 'string' },
        devices: { type: 'string' },
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

  const powerCuts = values['no-power-cuts'] !== true;
  const template = await makeTemplate();
  try {
    if (values.seed !== undefined) {
      const seed = positiveInteger('seed', values.seed, 0);
      const result = await runSeed(template, {
        seed,
        steps,
        powerCuts,
        ...(devices !== undefined ? { devices } : {}),
      });
      process.stdout.write(`${result.trace.join('\n')}\n`);
      if (result.problems.length === 0) {
        process.stdout.write(`seed ${seed} passed: ${steps} steps, ${result.devices} devices\n`);
        return 0;
      }
      process.stdout.write(`${describeFailure(result, 0)}\n`);
      return 1;
    }

    const count = positiveInteger('seeds', values.seeds, 1000);
    const start = positiveInteger('start', values.start, 1);
    const failures: SeedResult[] = [];
    const started = Date.now();
    let passed = 0;
    const progress = (done: number): void => {
      const seconds = (Date.now() - started) / 1000;
      const rate = seconds > 0 ? (done / seconds).toFixed(1) : '-';
      const line = `seeds ${done}/${count}: ${passed} passed, ${failures.length} failed (${rate}/s)`;
      process.stderr.write(
        process.stderr.isTTY ? `\r${line}` : done === count || done % 100 === 0 ? `${line}\n` : '',
      );
    };
    for (let index = 0; index < count; index++) {
      const result = await runSeed(template, { seed: start + index, steps, powerCuts });
      if (result.problems.length === 0) passed += 1;
      else {
        failures.push(result);
        process.stderr.write(process.stderr.isTTY ? '\n' : '');
        const smallest = values['no-shrink'] ? result : await shrink(template, result);
        process.stdout.write(`${describeFailure(smallest)}\n`);
      }
      progress(index + 1);
    }
    if (process.stderr.isTTY) process.stderr.write('\n');
    process.stdout.write(`${passed} passed, ${failures.length} failed\n`);
    if (failures.length > 0)
      process.stdout.write(`failing seeds: ${failures.map((failure) => failure.seed).join(', ')}\n`);
    return failures.length > 0 ? 1 : 0;
  } finally {
    removeTemplate(template);
  }
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

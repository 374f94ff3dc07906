import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFailure, runSeed, shrink, type SeedResult } from './src/simulation.js';
import { makeTemplate, removeTemplate, type Template } from './src/world.js';

/**
 * Runs `count` seeds of the simulation from `first` as one test, so that vitest's forks split the seeds of
 * several test files between the cores. `TILLSYNC_SIM_SEEDS` and `TILLSYNC_SIM_STEPS` change how many seeds
 * and steps; a failing seed is shrunk and reported with the command that replays it.
 */
export function simulationSuite(first: number, count: number): void {
  const seeds = Number(process.env.TILLSYNC_SIM_SEEDS ?? count);
  const steps = Number(process.env.TILLSYNC_SIM_STEPS ?? 20);
  let template: Template;

  beforeAll(async () => {
    template = await makeTemplate();
  });
  afterAll(() => {
    removeTemplate(template);
  });

  describe(`seeds ${first} to ${first + seeds - 1} of the simulation (${steps} steps each)`, () => {
    it('keep every invariant under dropped, duplicated and late requests, crashes, power cuts, restarts and skewed clocks', async () => {
      const failures: SeedResult[] = [];
      let faults = 0;
      for (let seed = first; seed < first + seeds; seed++) {
        const result = await runSeed(template, { seed, steps });
        faults += Object.entries(result.counts)
          .filter(([name]) => !['deliver', 'write', 'sync', 'pull-only'].includes(name))
          .reduce((sum, [, n]) => sum + n, 0);
        if (result.problems.length > 0) failures.push(result);
      }
      const [failure] = failures;
      if (failure) {
        const smallest = await shrink(template, failure);
        expect.fail(
          `${failures.length} of ${seeds} seeds failed (${failures.map((result) => result.seed).join(', ')}); the first, shrunk:\n${describeFailure(smallest)}`,
        );
      }
      // The run did meet faults: a simulation whose network never failed would prove nothing.
      expect(faults).toBeGreaterThan(seeds);
    }, 600_000);
  });
}

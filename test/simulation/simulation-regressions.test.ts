import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFailure, runSeed, type SeedOptions } from './src/simulation.js';
import { makeTemplate, removeTemplate, type Template } from './src/world.js';

/**
 * Schedules that once failed, replayed exactly on every run so that what they found stays fixed. Add a
 * failing seed's replay here (its seed, steps, devices, shape and world) when it is fixed. Seeds found
 * before the workload took real shapes keep the `creation-order` shape, so they replay the schedule that
 * found them;
 * seeds found before chains came in keep the single shop (`world: 'shop'`), whatever world they draw now.
 */
const ONCE_FAILED: readonly (SeedOptions & { readonly found: string })[] = [
  {
    seed: 53,
    steps: 10,
    devices: 2,
    world: 'shop',
    shape: 'creation-order',
    found:
      'a restart asked for during another restart opened a second server on the file: "database is locked"',
  },
  {
    seed: 2,
    steps: 17,
    devices: 4,
    world: 'shop',
    shape: 'creation-order',
    found:
      'with the embedded server at synchronous = NORMAL, a power cut dropped pushes it had already acknowledged',
  },
  {
    seed: 61_000_030,
    steps: 13,
    devices: 2,
    world: 'shop',
    found:
      "a power cut took the shop program's changes the bridge had brought into the device file (not yet synced) after their changelog entries were gone from the program's database: they never reached the fleet",
  },
  {
    seed: 61_000_004,
    steps: 30,
    devices: 2,
    world: 'shop',
    found:
      "the same power cut after a bring-in left the program's sale and its stock change out of the fleet for good",
  },
  {
    seed: 61_000_087,
    steps: 4,
    devices: 2,
    world: 'shop',
    found:
      "two power cuts in a row on the program's till: the simulated disk cut away again the log the first cut had kept, and with it a customer the program had made (a fault of the simulated disk)",
  },
  {
    seed: 61_000_173,
    steps: 50,
    devices: 2,
    world: 'shop',
    found:
      "a power cut took back a pull whose sale the bridge had already written into the program's database; the fleet then voided the sale, and the program kept it for good",
  },
  {
    seed: 7_300_242,
    steps: 20,
    devices: 4,
    world: 'chain',
    found:
      "a till the owner had moved to the other store, whose session then ended, was paired again into its new store and went on pulling from its old store's cursor: it never took the new store's older rows, kept the old store's, and its checksums differed",
  },
  {
    seed: 7_500_010,
    steps: 56,
    devices: 3,
    world: 'chain',
    found:
      "a till moved to the other store in the middle of its snapshot (pages of the new store applied, its end never reached) sold from the new store's stock, was moved back, and its resync took the unsent sale's stock change for a row the server did not have: sent as a starting value, refused, the delta lost",
  },
  {
    seed: 377_000_077,
    steps: 48,
    devices: 3,
    world: 'chain',
    found:
      "a till deleted a customer while its own edit of it was on the wire; the answer to that edit made the delete's base the edit's own stamp, so the server took the delete for an edit over another till's email the first had never received, and recorded no conflict",
  },
  {
    seed: 640_000_155,
    steps: 20,
    devices: 2,
    world: 'shop',
    found:
      "the shop program's till pushed its email of a client (applied, not sent back: it held the row), then deleted the client; the delete's base was its own email's stamp, later than the other till's edit of the client (its clock ran 75 s behind), which it had never received: no conflict recorded. Found once the simulation judged a winner by what its till had received, not by the base it sent",
  },
  {
    seed: 73_100_328,
    steps: 54,
    devices: 2,
    world: 'shop',
    found:
      "a till's pull in one statement read on the embedded server's one connection beside a write transaction between two of its statements, and could hand out what it had not committed. Its other failure, about one run in three (its ids come from the clock, so the order of two deletes changes): a till deleted two products sold on one of the shop program's receipts; the program voided that receipt, so the second delete stood, and the oracle with the program's stock in it had dropped the tills' deleted products and still expected its stock",
  },
];

let template: Template;
beforeAll(async () => {
  template = await makeTemplate();
});
afterAll(() => {
  removeTemplate(template);
});

describe('simulation schedules that once failed', () => {
  for (const { found, ...options } of ONCE_FAILED) {
    it(`seed ${options.seed} (${options.steps} steps, ${options.devices ?? 'drawn'} devices): ${found}`, async () => {
      const result = await runSeed(template, options);
      expect(result.problems, describeFailure(result)).toEqual([]);
    }, 120_000);
  }
});

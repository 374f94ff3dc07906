import { checkInvariants } from './invariants.js';
import { LEGACY_SEED_SALT, LegacyProgram } from './legacy-program.js';
import { SeededRandom } from './random.js';
import { Workload, type WorkloadShape } from './workload.js';
import {
  ACCESS_TOKEN_TTL_SEC,
  MAX_DEVICES,
  World,
  type NetworkFault,
  type NetworkPolicy,
  type SimDevice,
  type Template,
  type WireRequest,
  type WorldKind,
} from './world.js';
import { rowKey } from '@tillsync/server';
import { MOVE_JOB_TYPES } from './chain-jobs.js';

/**
 * One seed of the simulation: a schedule of steps drawn from the seed (writes on the devices, sync cycles,
 * server restarts, clock changes, late deliveries), each fault of the network drawn as the requests go out,
 * then quiescence (faults off, every device syncs until nothing moves) and the invariants. Steps run one
 * at a time and every decision comes from the seed's generator, so a seed replays exactly, and its first
 * `steps` steps are the same whatever the schedule's length: a prefix of a failing schedule is a smaller
 * schedule to try.
 */

/** What to run. */
export interface SeedOptions {
  readonly seed: number;
  /** The schedule's length. */
  readonly steps: number;
  /** How many devices; by default drawn from the seed (2 to {@link MAX_DEVICES}). */
  readonly devices?: number;
  /**
   * Whether a crash may also be a power cut (the files lose what SQLite had not synced). Drawn from a
   * generator of their own, so a seed's schedule is the same with power cuts on or off.
   * @defaultValue true
   */
  readonly powerCuts?: boolean;
  /**
   * The shape of the shop's data (see {@link WorkloadShape}); `creation-order` replays the schedules of seeds
   * found before real shapes came in.
   * @defaultValue 'real'
   */
  readonly shape?: WorkloadShape;
  /**
   * The shop: one store on the single-shop schema, or a chain of two stores on the chain schema (devices
   * moved between them, sales moved by sync jobs). By default drawn from the seed ({@link drawnWorld}).
   */
  readonly world?: WorldKind;
}

/** What a seed did and found. */
export interface SeedResult {
  readonly seed: number;
  readonly steps: number;
  readonly devices: number;
  readonly powerCuts: boolean;
  readonly shape: WorkloadShape;
  readonly world: WorldKind;
  /** The invariants it broke; empty when it passed. */
  readonly problems: readonly string[];
  /** What happened, step by step. */
  readonly trace: readonly string[];
  /** How many of each fault and event it went through. */
  readonly counts: Readonly<Record<string, number>>;
}

type StepKind =
  | 'write'
  | 'sync'
  | 'pull-only'
  | 'restart-server'
  | 'deliver-late'
  | 'set-clock'
  | 'time-jump'
  | 'restart-device'
  | 'days-pass'
  | 'move-device'
  | 'move-sale';

/** The steps of the creation-order shape, weighted as they always were (so old schedules replay). */
const CREATION_ORDER_STEP_WEIGHTS: Readonly<Partial<Record<StepKind, number>>> = {
  write: 52,
  sync: 30,
  'pull-only': 2,
  'restart-server': 2,
  'deliver-late': 5,
  'set-clock': 3,
  'time-jump': 2,
  'restart-device': 4,
};

/** Real shapes also let hours and days pass between writes, so old rows are edited long after they were made. */
const REAL_STEP_WEIGHTS: Readonly<Partial<Record<StepKind, number>>> = {
  ...CREATION_ORDER_STEP_WEIGHTS,
  'days-pass': 3,
};

/**
 * A chain also has the owner moving a till to the other store, and a sale (with its items) to the other
 * store by sync jobs (PROTOCOL.md §7).
 */
const CHAIN_STEP_WEIGHTS: Readonly<Partial<Record<StepKind, number>>> = {
  ...REAL_STEP_WEIGHTS,
  'move-device': 3,
  'move-sale': 3,
};

/** The share of seeds that simulate a chain (drawn from a generator of their own: see {@link drawnWorld}). */
const CHAIN_SHARE = 0.3;
/** Mixed into the seed for the draw of its world. */
const WORLD_SEED_SALT = 0x3c6ef372;

/** The world a seed runs when none is asked for: a chain for about {@link CHAIN_SHARE} of seeds. */
export function drawnWorld(seed: number): WorldKind {
  return new SeededRandom(seed ^ WORLD_SEED_SALT).chance(CHAIN_SHARE) ? 'chain' : 'shop';
}

const FAULT_WEIGHTS: Readonly<Record<NetworkFault, number>> = {
  deliver: 76,
  'drop-request': 4,
  'drop-answer': 5,
  duplicate: 3,
  delay: 3,
  'crash-before-send': 1.5,
  'crash-before-answer': 2.5,
  'expire-token': 1,
  'restart-server': 0.5,
  'write-meanwhile': 4,
};

/** How often a crash (of a device or the server) is a power cut too, when power cuts are on. */
const POWER_CUT_CHANCE = 0.5;
/** Mixed into the seed for the power cuts' own generator. */
const POWER_SEED_SALT = 0x5bd1e995;
/**
 * Whether and when the owner rolls out the schema's second version (an added column) is drawn from its own
 * generator too, so the schedules of seeds from before it replay as they did.
 */
const ROLLOUT_SEED_SALT = 0x27d4eb2f;

/** How many rounds of every device syncing quiescence may take before it counts as stuck. */
const QUIESCE_ROUNDS = 8;

/** The network's faults, drawn from the seed as requests go out. */
class FaultyNetwork implements NetworkPolicy {
  faultsOn = true;
  readonly counts: Record<string, number> = {};
  readonly #random: SeededRandom;
  readonly #world: World;
  readonly #write: (device: SimDevice) => string;
  /** Null when power cuts are off. */
  readonly #power: SeededRandom | null;

  constructor(
    random: SeededRandom,
    world: World,
    write: (device: SimDevice) => string,
    power: SeededRandom | null,
  ) {
    this.#random = random;
    this.#world = world;
    this.#write = write;
    this.#power = power;
  }

  powerCut(): boolean {
    if (!this.faultsOn || !this.#power?.chance(POWER_CUT_CHANCE)) return false;
    this.counts['power-cut'] = (this.counts['power-cut'] ?? 0) + 1;
    return true;
  }

  decide(_request: WireRequest): NetworkFault {
    if (!this.faultsOn) return 'deliver';
    const fault = this.#random.weighted(FAULT_WEIGHTS);
    this.counts[fault] = (this.counts[fault] ?? 0) + 1;
    return fault;
  }

  writeMeanwhile(deviceIndex: number): void {
    const device = this.#world.devices[deviceIndex] as SimDevice;
    this.#world.note(`device ${deviceIndex} writes meanwhile: ${this.#write(device)}`);
  }
}

/** A device's clock: mostly within the five minutes the server allows, sometimes well ahead or behind. */
function drawSkew(random: SeededRandom): number {
  if (random.chance(0.8)) return random.between(-240_000, 240_000);
  return random.chance(0.5) ? random.between(330_000, 600_000) : random.between(-900_000, -330_000);
}

/** Runs one seed and checks the invariants. */
export async function runSeed(template: Template, options: SeedOptions): Promise<SeedResult> {
  const random = new SeededRandom(options.seed);
  const drawnDevices = random.between(2, MAX_DEVICES);
  const deviceCount = Math.min(MAX_DEVICES, Math.max(1, options.devices ?? drawnDevices));
  const kind = options.world ?? drawnWorld(options.seed);
  const world = await World.open(template[kind], deviceCount, {
    pushBatchSize: random.between(2, 8),
    pullPageSize: random.between(2, 12),
    applyBatchSize: random.between(1, 6),
  });
  const shape = options.shape ?? 'real';
  const workload = new Workload(random, shape, kind === 'chain');
  const power = options.powerCuts === false ? null : new SeededRandom(options.seed ^ POWER_SEED_SALT);
  const rollout = new SeededRandom(options.seed ^ ROLLOUT_SEED_SALT);
  const upgradeAtStep = rollout.chance(0.5)
    ? rollout.between(Math.floor(options.steps / 4), Math.floor((3 * options.steps) / 4))
    : -1;
  // Whether a till runs a shop program with its own database, and what that program writes, come from a
  // generator of their own.
  // A chain's tills run no shop program of their own.
  const legacy =
    kind === 'shop'
      ? await LegacyProgram.adopt(world, new SeededRandom(options.seed ^ LEGACY_SEED_SALT))
      : null;
  const write = (device: SimDevice): string =>
    world.writeOn(device, () => (legacy?.device === device ? legacy.write() : workload.write(device)));
  const network = new FaultyNetwork(random, world, write, power);
  world.policy = network;
  // What a power cut took from a device never happened, as far as the counters' oracle knows.
  world.onDeviceCommitsLost = (deviceIndex, survived) => workload.stock.forget(deviceIndex, survived);
  const counts = network.counts;
  const count = (name: string): void => {
    counts[name] = (counts[name] ?? 0) + 1;
  };
  const checksumRepairs: string[] = [];
  const goodCycles = new Map<number, number>();
  const cycle = async (device: SimDevice, pullOnly: boolean): Promise<void> => {
    if (network.faultsOn && random.chance(0.08)) device.applyCrashCountdown = random.between(1, 12);
    const end = await device.runCycle(pullOnly);
    if ('crashed' in end) {
      count('device-crash');
      world.note(`device ${device.index} crashed mid-cycle`);
      return;
    }
    const { entry } = end;
    world.note(
      `device ${device.index} ${entry.mode}: ${entry.outcome} pushed ${entry.pushed} pulled ${entry.pulled} conflicts ${entry.conflicts} rejected ${entry.rejected.length}${entry.rejected.map((row) => ` [${row.table} ${row.id} ${row.code}]`).join('')}${entry.error ? ` (${entry.error})` : ''}`,
    );
    if (entry.errorCode === 'SESSION_EXPIRED') {
      // A refresh answer lost and not retried within the server's grace period ends the session by design;
      // the owner pairs the till again, and nothing it held may be lost by that.
      count('paired-again');
      world.note(`device ${device.index} is paired again`);
      const faultsOn = network.faultsOn;
      network.faultsOn = false;
      await device.pairAgain();
      network.faultsOn = faultsOn;
    }
    for (const repair of entry.repairs) {
      if (repair.reason === 'checksum')
        checksumRepairs.push(`device ${device.index} repaired ${repair.table} after a checksum differed`);
    }
    // Between cycles the agent's worker builds the search index a first sync left to build. Here after every
    // other good cycle of a device only, so the till's writes and the next cycle's catch-up meet an index
    // left unbuilt too.
    if (!entry.ok) return;
    const good = (goodCycles.get(device.index) ?? 0) + 1;
    goodCycles.set(device.index, good);
    if (good % 2 === 0 && device.client.searchIndexesUnbuilt().length > 0) {
      await device.client.buildSearchIndexes();
      world.note(`device ${device.index} built its search index`);
    }
  };

  let problems: string[] = [];
  try {
    for (const device of world.devices) device.skewMs = drawSkew(random);
    world.note(
      `${deviceCount} devices, clocks ${world.devices.map((device) => `${device.skewMs / 1000} s`).join(', ')}`,
    );
    for (let step = 0; step < options.steps; step++) {
      if (step === upgradeAtStep) {
        // Tills that have not synced since keep writing on version 1 until their next cycle.
        count('schema-upgrade');
        world.note('the owner rolls out schema version 2: products.barcode');
        await world.upgradeSchema();
      }
      world.time += random.between(1, 3000);
      const what = random.weighted(
        (kind === 'chain'
          ? CHAIN_STEP_WEIGHTS
          : shape === 'real'
            ? REAL_STEP_WEIGHTS
            : CREATION_ORDER_STEP_WEIGHTS) as Record<StepKind, number>,
      );
      const device = world.devices[random.below(deviceCount)] as SimDevice;
      count(what);
      switch (what) {
        case 'write':
          world.note(`device ${device.index} writes: ${write(device)}`);
          break;
        case 'sync':
        case 'pull-only':
          await cycle(device, what === 'pull-only');
          break;
        case 'restart-server':
          world.note('the server restarts');
          await world.restartServer(network.powerCut());
          break;
        case 'deliver-late':
          await world.deliverDelayed();
          break;
        case 'set-clock':
          device.skewMs = drawSkew(random);
          world.note(`device ${device.index}'s clock is now ${device.skewMs / 1000} s off`);
          break;
        case 'time-jump':
          world.time += ACCESS_TOKEN_TTL_SEC * 1000;
          world.note('time jumps past every access token');
          break;
        case 'restart-device':
          world.note(`device ${device.index} restarts between cycles`);
          await device.stop();
          break;
        case 'days-pass': {
          // The shop closes for the night, or a weekend: every clock moves on by hours to days.
          const hours = random.between(2, 60);
          world.time += hours * 3_600_000;
          world.note(`${hours} hours pass`);
          break;
        }
        case 'move-device':
          await moveToOtherStore(world, device, 'the owner moves');
          break;
        case 'move-sale':
          await moveSale(world, workload, random);
          break;
      }
    }

    // Quiescence: the network heals, clocks are set right, time passes every stamp a clock that ran ahead
    // made, and every device syncs until a whole round moves nothing.
    world.note('quiescence');
    network.faultsOn = false;
    while (world.delayed.length > 0) await world.deliverDelayed();
    for (const device of world.devices) device.skewMs = 0;
    let quiet = false;
    let lastErrors: string[] = [];
    for (let round = 0; round < QUIESCE_ROUNDS && !quiet; round++) {
      quiet = true;
      lastErrors = [];
      // After a first round (which retries lost refresh answers in time), time passes every stamp that a
      // clock running ahead made, so that the server takes them.
      if (round === 1) world.time += 15 * 60_000;
      for (const device of world.devices) {
        world.time += 1000;
        await cycle(device, false);
        const entry = device.client.lastCycle;
        if (entry?.ok && strandedChanges(device) > 0) {
          // Changes of its old store's rows that a moved till kept, which that store's server refuses while
          // the till belongs to another: the owner moves it back, and they go (PROTOCOL.md §7).
          count('moved-back');
          await moveToOtherStore(
            world,
            device,
            `${strandedChanges(device)} changes of its old store wait: the owner moves`,
          );
          quiet = false;
          continue;
        }
        const pending = device.client.status.pendingChanges;
        if (!entry || !entry.ok || entry.pushed > 0 || entry.pulled > 0 || pending > 0) quiet = false;
        if (entry && (!entry.ok || entry.rejected.length > 0))
          lastErrors.push(
            `device ${device.index}: ${entry.error ?? ''} ${entry.rejected.map((row) => `${row.table} ${row.id} ${row.code}: ${row.message}`).join('; ')}`,
          );
      }
    }
    if (!quiet)
      problems.push(
        `did not quiesce in ${QUIESCE_ROUNDS} rounds of syncs: ${lastErrors.join(' | ') || 'changes kept moving'}`,
      );
    const stock = legacy ? legacy.stockWith(workload.stock) : workload.stock;
    problems = [
      ...problems,
      ...(await checkInvariants(world, stock, checksumRepairs)),
      ...(legacy ? await legacy.check(world) : []),
    ];
  } catch (error) {
    problems.push(
      `the simulation itself failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  } finally {
    legacy?.close();
    await world.close().catch(() => {});
  }
  return {
    seed: options.seed,
    steps: options.steps,
    devices: deviceCount,
    powerCuts: options.powerCuts !== false,
    shape,
    world: kind,
    problems,
    trace: world.trace,
    counts,
  };
}

/** The device's changes that its store's server refuses as another store's (`OUT_OF_SCOPE`), kept unsent. */
function strandedChanges(device: SimDevice): number {
  return (
    device.client.database
      .prepare("SELECT count(*) AS n FROM _sync_pending WHERE error_code = 'OUT_OF_SCOPE'")
      .get() as { n: number }
  ).n;
}

/** The owner moves a till of a chain to the other store (with two stores, the one it is not in). */
async function moveToOtherStore(world: World, device: SimDevice, why: string): Promise<void> {
  const storeId = world.stores.find((store) => store !== device.storeId);
  if (world.kind !== 'chain' || storeId === undefined) return;
  world.note(`${why} device ${device.index} from store ${device.storeId ?? '-'} to store ${storeId}`);
  await world.moveDevice(device, storeId);
}

/**
 * The owner moves a sale the server holds, rung up in the wrong store, to the other store with its items:
 * one sync job per row, each run to its end before the next, so the old store's devices receive each row
 * as an eviction, and the new store's as a row.
 */
async function moveSale(world: World, workload: Workload, random: SeededRandom): Promise<void> {
  const sale = random.pick([...workload.saleItems.keys()]);
  if (world.kind !== 'chain' || sale === undefined) return;
  const rows: [keyof typeof MOVE_JOB_TYPES, string][] = [
    ['sales', sale],
    ...(workload.saleItems.get(sale) ?? []).map((item): [keyof typeof MOVE_JOB_TYPES, string] => [
      'sale_items',
      item,
    ]),
  ];
  // Only a sale the server holds with its items: an item that came later, naming a sale of another store,
  // would be refused for good (as a reference to a row that does not exist).
  // A device's crash a moment ago may have cut the server's power: read the server that follows.
  const server = await world.serverAfterRestarts();
  const stored = await server.storage.sync
    .forTenant(world.tenantId)
    .readRows(rows.map(([table, id]) => ({ table, id })));
  const from = stored.get(rowKey('sales', sale))?.values?.['store_id'];
  const to = world.stores.find((store) => store !== from);
  const live = [...stored.values()].filter((row) => row.values !== null).length;
  if (typeof from !== 'string' || to === undefined || live < rows.length) {
    world.note(`no sale to move: sale ${sale} is not on the server with its items`);
    return;
  }
  for (const [table, id] of rows) {
    const status = await world.runJob({
      type: MOVE_JOB_TYPES[table],
      source: { id },
      context: { storeId: to },
    });
    world.note(`the owner moves ${table} ${id} from store ${from} to store ${to} by a sync job: ${status}`);
  }
}

/**
 * Looks for a smaller schedule that fails too: the shortest failing prefix (by bisection; failure need not be
 * monotonic in the length, so this finds a short one, not always the shortest), then fewer devices.
 */
export async function shrink(
  template: Template,
  failing: SeedResult,
  onTry: (result: SeedResult) => void = () => {},
): Promise<SeedResult> {
  let smallest = failing;
  const attempt = async (steps: number, devices: number): Promise<boolean> => {
    const result = await runSeed(template, {
      seed: failing.seed,
      steps,
      devices,
      powerCuts: failing.powerCuts,
      shape: failing.shape,
      world: failing.world,
    });
    onTry(result);
    if (result.problems.length === 0) return false;
    smallest = result;
    return true;
  };
  const bisect = async (devices: number): Promise<void> => {
    let low = 0;
    let high = smallest.steps;
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      if (await attempt(middle, devices)) high = middle;
      else low = middle + 1;
    }
  };
  await bisect(smallest.devices);
  for (let devices = 2; devices < smallest.devices; devices++) {
    if (await attempt(smallest.steps, devices)) {
      await bisect(devices);
      break;
    }
  }
  return smallest;
}

/** The command that replays a seed exactly. */
export function replayCommand(
  result: Pick<SeedResult, 'seed' | 'steps' | 'devices' | 'powerCuts' | 'shape' | 'world'>,
): string {
  return `npm run soak -- --seed ${result.seed} --steps ${result.steps} --devices ${result.devices}${result.powerCuts ? '' : ' --no-power-cuts'}${result.shape === 'real' ? '' : ` --shape ${result.shape}`}${result.world === drawnWorld(result.seed) ? '' : ` --world ${result.world}`}`;
}

/** A failing seed as it is reported: itself, its schedule's length, the command to replay it, what broke. */
export function describeFailure(result: SeedResult, traceLines = 40): string {
  const lines = [
    `seed ${result.seed} failed: ${result.steps} steps, ${result.devices} devices, ${result.world === 'chain' ? 'a chain of two stores' : 'a single shop'}`,
    `replay: ${replayCommand(result)}`,
    ...result.problems.slice(0, 10).map((problem) => `  - ${problem}`),
  ];
  if (result.problems.length > 10) lines.push(`  … and ${result.problems.length - 10} more`);
  if (traceLines > 0) {
    lines.push(`last ${Math.min(traceLines, result.trace.length)} of ${result.trace.length} events:`);
    lines.push(...result.trace.slice(-traceLines).map((line) => `    ${line}`));
  }
  return lines.join('\n');
}
